{#- the asset check belongs to source_roi -#}
{{ config(meta={'dagster': {'ref': {'name': 'source_roi'}}}) }}
-- Every live lead is counted in exactly one source_roi row; soft-deleted leads in none.
{#- a whole-table reconciliation: with the full test set only (macros/test_scope.sql) #}
{%- if leadflow_full_tests() %}
with mart as (
    select coalesce(sum(leads), 0) as total_leads
    from {{ ref('source_roi') }}
),

raw as (
    select count(*) as total_leads
    from {{ source('crm', 'leads') }}
    where deleted_at is null
)

select
    mart.total_leads as mart_total_leads,
    raw.total_leads as raw_live_leads
from mart
cross join raw
where mart.total_leads <> raw.total_leads
{%- else %}
select 1 as skipped
where false
{%- endif %}
