{#- `source` is the canonical source, as for leads (stg_crm__leads), so spend and leads of one
    source meet in the ROI mart whatever each was called; `source_raw` is the source as the cost
    file wrote it (lead_source_costs.source, as stored, for rows imported before migration 015). -#}
with source as (
    select * from {{ source('crm', 'lead_source_costs') }}
),

aliases as (
    select * from {{ ref('stg_crm__source_aliases') }}
),

renamed as (
    select
        source.id as source_cost_id,
        source.organization_id,
        source.user_id,
        coalesce(
            matched_alias.canonical_source, {{ source_key('source.source') }}, 'unknown'
        ) as source,
        coalesce(nullif(source.source_raw, ''), nullif(source.source, '')) as source_raw,
        source.period,
        to_date(source.period, 'YYYY-MM') as cost_month,
        source.cost_usd,
        source.created_at,
        source.updated_at
    from source
    {{ join_source_alias('aliases', 'source.organization_id', source_key('source.source')) }}
)

select * from renamed
