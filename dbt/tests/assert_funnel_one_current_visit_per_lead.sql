{#- the asset check belongs to lead_stage_history -#}
{{ config(meta={'dagster': {'ref': {'name': 'lead_stage_history'}}}) }}
-- Every live lead has exactly one current visit in lead_stage_history, and it is the lead's
-- current status; deleted leads have none.
{#- a whole-table reconciliation: with the full test set only (macros/test_scope.sql) #}
{%- if leadflow_full_tests() %}
with current_visits as (
    select
        lead_id,
        count(*) as current_visits,
        max(stage) as current_stage
    from {{ ref('lead_stage_history') }}
    where is_current
    group by lead_id
),

live_leads as (
    select
        lead_id,
        status
    from {{ ref('stg_crm__leads') }}
    where not is_deleted
)

select
    coalesce(live_leads.lead_id, current_visits.lead_id) as lead_id,
    live_leads.status,
    current_visits.current_stage,
    current_visits.current_visits
from live_leads
full outer join current_visits on live_leads.lead_id = current_visits.lead_id
where live_leads.lead_id is null
    or current_visits.lead_id is null
    or current_visits.current_visits <> 1
    or current_visits.current_stage <> live_leads.status
{%- else %}
select 1 as skipped
where false
{%- endif %}
