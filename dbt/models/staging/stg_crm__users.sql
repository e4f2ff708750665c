with source as (
    select * from {{ source('crm', 'users') }}
),

renamed as (
    select
        id as user_id,
        organization_id,
        email as user_email,
        first_name,
        last_name,
        trim(coalesce(first_name, '') || ' ' || coalesce(last_name, '')) as user_name,
        role as user_role,
        is_active,
        created_at,
        updated_at
    from source
)

select * from renamed
