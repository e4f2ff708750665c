with source as (
    select * from {{ source('crm', 'segment_count_history') }}
),

renamed as (
    select
        segment_id,
        organization_id,
        counted_at,
        lead_count
    from source
)

select * from renamed
