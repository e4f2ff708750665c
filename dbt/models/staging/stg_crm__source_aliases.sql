with source as (
    select * from {{ source('crm', 'source_aliases') }}
),

renamed as (
    select
        id as source_alias_id,
        organization_id,
        alias,
        alias_key,
        match_type,
        canonical_source,
        organization_id is null as is_global,
        created_at,
        updated_at
    from source
)

select * from renamed
