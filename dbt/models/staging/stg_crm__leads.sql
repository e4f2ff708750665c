{#- `source` is the canonical source (source_aliases, migration 015: the organization's alias
    before a global one); a source no alias names keeps its key; `source_raw` is the value as
    stored. -#}
with source as (
    select * from {{ source('crm', 'leads') }}
),

aliases as (
    select * from {{ ref('stg_crm__source_aliases') }}
),

renamed as (
    select
        source.id as lead_id,
        source.organization_id,
        source.user_id as owner_user_id,
        source.first_name,
        source.last_name,
        source.phone_number,
        source.phone_type,
        source.email,
        source.status::text as status,
        source.lead_score,
        source.tags,
        coalesce(
            matched_alias.canonical_source, {{ source_key('source.source') }}, 'unknown'
        ) as source,
        nullif(source.source, '') as source_raw,
        source.last_contact_date as last_contacted_at,
        source.created_at,
        source.updated_at,
        source.deleted_at,
        source.deleted_at is not null as is_deleted
    from source
    {{ join_source_alias('aliases', 'source.organization_id', source_key('source.source')) }}
)

select * from renamed
