{#- the asset check belongs to source_roi -#}
{{ config(meta={'dagster': {'ref': {'name': 'source_roi'}}}) }}
-- source_roi aggregates spend before joining it to leads, so its total spend equals the raw
-- lead_source_costs total exactly: no fan-out over leads or months, no spend dropped.
{#- a whole-table reconciliation: with the full test set only (macros/test_scope.sql) #}
{%- if leadflow_full_tests() %}
with mart as (
    select coalesce(sum(cost_usd), 0) as total_cost_usd
    from {{ ref('source_roi') }}
),

raw as (
    select coalesce(sum(cost_usd), 0) as total_cost_usd
    from {{ source('crm', 'lead_source_costs') }}
)

select
    mart.total_cost_usd as mart_total_cost_usd,
    raw.total_cost_usd as raw_total_cost_usd
from mart
cross join raw
where mart.total_cost_usd <> raw.total_cost_usd
{%- else %}
select 1 as skipped
where false
{%- endif %}
