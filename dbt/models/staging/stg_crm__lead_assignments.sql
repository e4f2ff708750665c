with source as (
    select * from {{ source('crm', 'lead_assignments') }}
),

renamed as (
    select
        id as assignment_id,
        lead_id,
        from_user_id,
        to_user_id,
        strategy::text as strategy,
        reason,
        assigned_by as assigned_by_user_id,
        assigned_at
    from source
)

select * from renamed
