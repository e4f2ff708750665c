with source as (
    select * from {{ source('crm', 'lead_activities') }}
),

renamed as (
    select
        id as activity_id,
        source_id as mongo_id,
        event_id,
        organization_id,
        lead_id,
        lead_phone,
        user_id,
        activity_type::text as activity_type,
        direction::text as direction,
        outcome::text as outcome,
        occurred_at,
        duration_seconds,
        subject,
        matched_at,
        loaded_at
    from source
)

select * from renamed
