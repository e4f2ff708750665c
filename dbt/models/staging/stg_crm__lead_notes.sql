with source as (
    select * from {{ source('crm', 'lead_notes') }}
),

renamed as (
    select
        id as lead_note_id,
        lead_id,
        organization_id,
        body as note_text,
        source as note_source,
        batch_id as import_batch_id,
        created_at
    from source
)

select * from renamed
