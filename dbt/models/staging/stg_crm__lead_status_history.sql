with source as (
    select * from {{ source('crm', 'lead_status_history') }}
),

renamed as (
    select
        id as status_change_id,
        lead_id,
        from_status::text as from_status,
        to_status::text as to_status,
        trigger_type::text as trigger_type,
        changed_by as changed_by_user_id,
        notes,
        changed_at
    from source
)

select * from renamed
