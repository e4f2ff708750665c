{#- One row per stage visit of a live lead: consecutive entries into the same status collapse into
    one visit; a lead that leaves a stage and comes back gets a new visit.

    Incremental (delete+insert on lead_id): a run recomputes every visit of the leads whose lead row
    or status history changed since the mart's watermark (its change floor, macros/incremental.sql:
    exact under late commits).
    The pre-hook (lead_stage_history_affected_keys) deletes the visits of those leads, soft-deleted
    ones among them (a soft delete bumps leads.updated_at); a hard-deleted lead needs a
    --full-refresh. A backdated history row
    is still picked up when the writer touches the lead row too (leads.updated_at is set by
    trigger on every update); a deleted history row needs a --full-refresh. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        indexes=[
            {'columns': ['lead_id']},
            {'columns': ['stage_visit_key'], 'unique': true},
        ],
        pre_hook="{{ leadflow_replace_keys(lead_stage_history_affected_keys(), 'lead_id') }}",
        post_hook="{{ leadflow_advance_watermark() }}",
    )
}}
-- depends_on: {{ ref('stg_crm__leads') }}, {{ ref('stg_crm__lead_status_history') }}

with entries as (
    {%- if is_incremental() %}
    -- Per changed lead, so its entries come from the lead_id indexes of leads and
    -- lead_status_history; `offset 0` keeps the planner from flattening the lateral subquery
    -- back into a join that scans every entry.
    select lead_entries.*
    from lead_stage_history__affected as changed_leads
    cross join
        lateral (
            select entries_of_lead.*
            from {{ ref('int_lead_stage_entries_unioned') }} as entries_of_lead
            where entries_of_lead.lead_id = changed_leads.lead_id
            offset 0 -- noqa: AM09
        ) as lead_entries
    {%- else %}
    select * from {{ ref('int_lead_stage_entries_unioned') }}
    {%- endif %}
),

sequenced as (
    select
        *,
        lag(stage) over lead_entries as previous_stage,
        greatest(lead_updated_at, max(entered_at) over (partition by lead_id)) as source_changed_at
    from entries
    window lead_entries as (
        partition by lead_id
        order by entered_at, entry_priority, status_change_id
    )
),

visits as (
    select
        lead_id,
        organization_id,
        stage,
        row_number() over lead_visits as visit_number,
        entered_at,
        lead(entered_at) over lead_visits as exited_at,
        lead(stage) over lead_visits as next_stage,
        source_changed_at
    from sequenced
    where previous_stage is distinct from stage
    window lead_visits as (
        partition by lead_id
        order by entered_at, entry_priority, status_change_id
    )
)

select
    md5(visits.lead_id::text || visits.visit_number::text) as stage_visit_key,
    visits.lead_id,
    visits.organization_id,
    visits.stage,
    visits.visit_number::integer as visit_number,
    visits.entered_at,
    visits.exited_at,
    visits.next_stage,
    (extract(epoch from visits.exited_at - visits.entered_at) / 86400)::numeric(12, 4)
        as days_in_stage,
    visits.exited_at is null as is_current,
    visits.source_changed_at,
    organizations.organization_name
from visits
left join {{ ref('stg_crm__organizations') }} as organizations
    on visits.organization_id = organizations.organization_id
