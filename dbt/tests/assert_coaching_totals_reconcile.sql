{#- the asset check belongs to agent_coaching -#}
{{ config(meta={'dagster': {'ref': {'name': 'agent_coaching'}}}) }}
{#- agent_coaching loses and doubles nothing: its totals equal the counts of the inputs (live
    leads, existing users) it is built from. -#}
{#- a whole-table reconciliation: with the full test set only (macros/test_scope.sql) #}
{%- if leadflow_full_tests() %}
with coaching as (
    select
        coalesce(sum(leads_assigned), 0) as leads_assigned,
        coalesce(sum(contacted_within_24h), 0) as contacted_within_24h,
        coalesce(sum(activities), 0) as activities,
        coalesce(sum(conversions), 0) as conversions
    from {{ ref('agent_coaching') }}
),

live_leads as (
    select
        lead_id,
        owner_user_id
    from {{ ref('stg_crm__leads') }}
    where not is_deleted
),

users as (
    select user_id from {{ ref('stg_crm__users') }}
),

inputs as (
    select
        (select count(*) from {{ ref('int_lead_first_contacts_joined') }}) as leads_assigned,
        (
            select count(*)
            from {{ ref('int_lead_first_contacts_joined') }}
            where is_contacted_within_24h
        ) as contacted_within_24h,
        (
            select count(*)
            from {{ ref('stg_crm__lead_activities') }} as activities
            inner join live_leads on activities.lead_id = live_leads.lead_id
            inner join users on activities.user_id = users.user_id
        ) as activities,
        (
            select count(*)
            from {{ ref('stg_crm__lead_status_history') }} as history
            inner join live_leads on history.lead_id = live_leads.lead_id
            inner join users on live_leads.owner_user_id = users.user_id
            where history.to_status = 'recruited'
                and history.from_status is distinct from 'recruited'
        ) as conversions
)

select
    coaching.leads_assigned,
    inputs.leads_assigned as input_leads_assigned,
    coaching.contacted_within_24h,
    inputs.contacted_within_24h as input_contacted_within_24h,
    coaching.activities,
    inputs.activities as input_activities,
    coaching.conversions,
    inputs.conversions as input_conversions
from coaching
cross join inputs
where coaching.leads_assigned <> inputs.leads_assigned
    or coaching.contacted_within_24h <> inputs.contacted_within_24h
    or coaching.activities <> inputs.activities
    or coaching.conversions <> inputs.conversions
{%- else %}
select 1 as skipped
where false
{%- endif %}
