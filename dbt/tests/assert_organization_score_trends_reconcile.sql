{#- the asset check belongs to organization_score_trends -#}
{{ config(meta={'dagster': {'ref': {'name': 'organization_score_trends'}}}) }}
{#- Per organization, period type and period, organization_score_trends counts the leads that
    lead_score_trends spreads over its sources and owners: the same population, once each. -#}
{#- a whole-table reconciliation: with the full test set only (macros/test_scope.sql) #}
{%- if leadflow_full_tests() %}
with by_organization as (
    select
        organization_id,
        period_type,
        period_start,
        leads_scored
    from {{ ref('organization_score_trends') }}
),

by_group as (
    select
        organization_id,
        period_type,
        period_start,
        sum(leads_scored) as leads_scored
    from {{ ref('lead_score_trends') }}
    group by organization_id, period_type, period_start
)

select
    organization_id,
    period_type,
    period_start,
    by_organization.leads_scored as in_organization_trends,
    by_group.leads_scored as in_lead_score_trends
from by_organization
full join by_group using (organization_id, period_type, period_start)
where by_organization.leads_scored is distinct from by_group.leads_scored
{%- else %}
select 1 as skipped
where false
{%- endif %}
