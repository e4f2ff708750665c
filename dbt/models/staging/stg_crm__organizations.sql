with source as (
    select * from {{ source('crm', 'organizations') }}
),

renamed as (
    select
        id as organization_id,
        name as organization_name,
        slug as organization_slug,
        timezone as organization_timezone,
        created_at,
        updated_at
    from source
)

select * from renamed
