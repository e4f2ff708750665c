{#- One row per live lead: its cohort (organization, month of created_at in the organization's
    timezone, source, current owner) and the first time it was in each funnel stage OR A LATER ONE
    (var funnel_stages), so a lead that went new -> qualified has passed `contacted` at the same
    moment. cold and dnc are exits, not stages: their first entry is kept separately.
    A table, not a view: lead_funnel and source_roi both read it, and aggregating every lead's
    entries is the expensive part of either. Incremental per lead: the leads whose row or status
    history changed after the watermark, or whose grain was logged since (int_lead_grains_logged:
    a timezone or alias change), are deleted and the live ones among them rebuilt. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        indexes=[
            {'columns': ['lead_id'], 'unique': true},
            {'columns': ['organization_id', 'cohort_month']},
        ],
        pre_hook="{{ leadflow_replace_keys(int_lead_stages_reached_affected_keys(), 'lead_id') }}",
        post_hook="{{ leadflow_advance_watermark() }}",
    )
}}
-- depends_on: {{ ref('int_lead_grains_logged') }}
{%- set stages = var('funnel_stages') %}

with leads as (
    select * from {{ ref('stg_crm__leads') }}
    where not is_deleted
        {%- if is_incremental() %}
        and lead_id = any(array(select lead_id from {{ this.identifier }}__affected))
        {%- endif %}
),

organizations as (
    select * from {{ ref('stg_crm__organizations') }}
),

entries as (
    select * from {{ ref('int_lead_stage_entries_unioned') }}
    {%- if is_incremental() %}
    where lead_id = any(array(select lead_id from {{ this.identifier }}__affected))
    {%- endif %}
),

reached as (
    select
        lead_id,
        {%- for stage in stages %}{% if not loop.first %}
        min(entered_at) filter (where stage_rank >= {{ loop.index }}) as reached_{{ stage }}_at,
        {%- endif %}{% endfor %}
        min(entered_at) filter (where stage = 'cold') as first_cold_at,
        min(entered_at) filter (where stage = 'dnc') as first_dnc_at
    from entries
    group by lead_id
)

select
    leads.lead_id,
    leads.organization_id,
    leads.owner_user_id,
    leads.source,
    leads.created_at,
    cast(
        date_trunc(
            'month', {{ local_time('leads.created_at', 'organizations.organization_timezone') }}
        )
        as date
    ) as cohort_month,
    {%- for stage in stages[1:] %}
    reached.reached_{{ stage }}_at,
    {%- endfor %}
    reached.first_cold_at,
    reached.first_dnc_at
from leads
inner join organizations on leads.organization_id = organizations.organization_id
inner join reached on leads.lead_id = reached.lead_id
