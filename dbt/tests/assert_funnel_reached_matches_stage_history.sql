{#- the asset check belongs to lead_funnel -#}
{{ config(meta={'dagster': {'ref': {'name': 'lead_funnel'}}}) }}
-- lead_funnel and the (incrementally maintained) lead_stage_history tell the same story: for each
-- organization and stage, the leads that reached it in the funnel are the leads with a visit to
-- it or a later stage in the stage history.
{%- set stages = var('funnel_stages') %}

{#- a whole-table reconciliation: with the full test set only (macros/test_scope.sql) #}
{%- if leadflow_full_tests() %}
with funnel as (
    {%- for stage in stages %}
    select
        organization_id,
        '{{ stage }}' as stage,
        sum(reached_{{ stage }}) as funnel_leads
    from {{ ref('lead_funnel') }}
    group by organization_id
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

visits as (
    select
        organization_id,
        lead_id,
        max({{ funnel_stage_rank('stage') }}) as furthest_rank
    from {{ ref('lead_stage_history') }}
    group by organization_id, lead_id
),

history as (
    {%- for stage in stages %}
    select
        organization_id,
        '{{ stage }}' as stage,
        count(*) filter (where furthest_rank >= {{ loop.index }}) as history_leads
    from visits
    group by organization_id
    {{ 'union all' if not loop.last }}
    {%- endfor %}
)

select
    coalesce(funnel.organization_id, history.organization_id) as organization_id,
    coalesce(funnel.stage, history.stage) as stage,
    funnel.funnel_leads,
    history.history_leads
from funnel
full outer join history
    on funnel.organization_id = history.organization_id and funnel.stage = history.stage
where funnel.funnel_leads is distinct from history.history_leads
{%- else %}
select 1 as skipped
where false
{%- endif %}
