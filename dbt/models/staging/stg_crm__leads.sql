with source as (
    select * from {{ source('crm', 'leads') }}
),

renamed as (
    select
        id as lead_id,
        organization_id,
        user_id as owner_user_id,
        first_name,
        last_name,
        phone_number,
        phone_type,
        email,
        status::text as status,
        lead_score,
        tags,
        coalesce(nullif(source, ''), 'unknown') as source,
        last_contact_date as last_contacted_at,
        created_at,
        updated_at,
        deleted_at,
        deleted_at is not null as is_deleted
    from source
)

select * from renamed
