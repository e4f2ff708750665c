{#- the asset check belongs to lead_score_trends -#}
{{ config(meta={'dagster': {'ref': {'name': 'lead_score_trends'}}}) }}
{#- Per period type, lead_score_trends counts every live lead's scored period exactly once. -#}
{#- a whole-table reconciliation: with the full test set only (macros/test_scope.sql) #}
{%- if leadflow_full_tests() %}
with trends as (
    select
        period_type,
        sum(leads_scored) as leads_scored
    from {{ ref('lead_score_trends') }}
    group by period_type
),

lead_periods as (
    select
        period_type,
        count(*) as leads_scored
    from {{ ref('int_lead_scores_bucketed') }}
    group by period_type
)

select
    period_type,
    trends.leads_scored as in_trends,
    lead_periods.leads_scored as in_lead_periods
from trends
full join lead_periods using (period_type)
where trends.leads_scored is distinct from lead_periods.leads_scored
{%- else %}
select 1 as skipped
where false
{%- endif %}
