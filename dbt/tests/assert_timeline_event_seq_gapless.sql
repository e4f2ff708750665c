{#- the asset check belongs to lead_timeline -#}
{{ config(meta={'dagster': {'ref': {'name': 'lead_timeline'}}}) }}
{#- Every lead's timeline is numbered 1..n without gaps or repeats. -#}
{#- a whole-table reconciliation: with the full test set only (macros/test_scope.sql) #}
{%- if leadflow_full_tests() %}
select
    lead_id,
    count(*) as events,
    min(event_seq) as first_seq,
    max(event_seq) as last_seq
from {{ ref('lead_timeline') }}
group by lead_id
having min(event_seq) <> 1 or max(event_seq) <> count(*) or count(distinct event_seq) <> count(*)
{%- else %}
select 1 as skipped
where false
{%- endif %}
