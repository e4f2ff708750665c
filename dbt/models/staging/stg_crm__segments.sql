with source as (
    select * from {{ source('crm', 'segments') }}
),

renamed as (
    select
        id as segment_id,
        organization_id,
        user_id as owner_user_id,
        name as segment_name,
        description as segment_description,
        filter as segment_filter,
        lead_count as current_lead_count,
        last_counted_at,
        created_at,
        updated_at
    from source
)

select * from renamed
