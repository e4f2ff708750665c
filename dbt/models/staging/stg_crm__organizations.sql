{#- A time zone PostgreSQL does not know (written before migration 011 checked it on write) is
    read as UTC: one organization's bad value must not fail every organization's marts. -#}
with source as (
    select * from {{ source('crm', 'organizations') }}
),

known_zones as (
    select name from pg_catalog.pg_timezone_names
),

renamed as (
    select
        id as organization_id,
        name as organization_name,
        slug as organization_slug,
        case
            when timezone in (select name from known_zones) then timezone else 'UTC'
        end as organization_timezone,
        created_at,
        updated_at
    from source
)

select * from renamed
