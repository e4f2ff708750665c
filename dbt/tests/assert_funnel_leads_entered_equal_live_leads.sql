{#- the asset check belongs to lead_funnel -#}
{{ config(meta={'dagster': {'ref': {'name': 'lead_funnel'}}}) }}
-- Every live lead enters lead_funnel in exactly one cohort; soft-deleted leads in none.
{#- a whole-table reconciliation: with the full test set only (macros/test_scope.sql) #}
{%- if leadflow_full_tests() %}
with mart as (
    select coalesce(sum(leads_entered), 0) as total_leads
    from {{ ref('lead_funnel') }}
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
