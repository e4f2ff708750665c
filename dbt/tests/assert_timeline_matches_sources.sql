{#- the asset check belongs to lead_timeline -#}
{{ config(meta={'dagster': {'ref': {'name': 'lead_timeline'}}}) }}
{#- The incremental timeline holds exactly the events a full rebuild would: per event type, the
    same count as the union of the sources (catches leads an incremental run missed or kept). -#}
{#- a whole-table reconciliation: with the full test set only (macros/test_scope.sql) #}
{%- if leadflow_full_tests() %}
with expected as (
    select
        event_type,
        count(*) as events
    from {{ ref('int_lead_events_unioned') }}
    group by event_type
),

actual as (
    select
        event_type,
        count(*) as events
    from {{ ref('lead_timeline') }}
    group by event_type
)

select
    event_type,
    expected.events as expected_events,
    actual.events as actual_events
from expected
full join actual using (event_type)
where expected.events is distinct from actual.events
{%- else %}
select 1 as skipped
where false
{%- endif %}
