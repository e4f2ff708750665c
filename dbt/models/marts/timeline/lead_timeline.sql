{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        indexes=[
            {'columns': ['lead_id', 'event_seq'], 'unique': true},
            {'columns': ['source_changed_at']},
        ],
        pre_hook="{{ leadflow_replace_keys(lead_timeline_affected_keys(), 'lead_id') }}",
        post_hook="{{ leadflow_advance_watermark() }}",
    )
}}
{#- Referenced only inside is_incremental() blocks and hooks, which parsing does not see: #}
-- depends_on: {{ ref('stg_crm__leads') }}, {{ ref('stg_crm__users') }}
-- depends_on: {{ ref('stg_crm__lead_status_history') }}, {{ ref('stg_crm__lead_score_history') }}
-- depends_on: {{ ref('stg_crm__lead_assignments') }}, {{ ref('stg_crm__lead_activities') }}

with events as (
    select * from {{ ref('int_lead_events_unioned') }}
),

scoped as (
    select events.*
    from events
    {% if is_incremental() %}
    {#- = any(array(...)) is a plain filter on lead_id that PostgreSQL pushes into every branch
        of the union (an IN-subquery would be a join evaluated after the whole union). #}
    where events.lead_id = any(
            array(select affected.lead_id from lead_timeline__affected as affected)
        )
    {% endif %}
),

final as (
    select
        scoped.event_key,
        scoped.lead_id,
        scoped.organization_id,
        scoped.occurred_at,
        row_number() over (
            partition by scoped.lead_id
            order by scoped.occurred_at, scoped.event_type, scoped.event_key
        ) as event_seq,
        scoped.event_type,
        scoped.event_subtype,
        scoped.actor_user_id,
        scoped.summary,
        scoped.source_changed_at,
        organizations.organization_name,
        coalesce(nullif(actors.user_name, ''), actors.user_email) as actor_name
    from scoped
    left join {{ ref('stg_crm__organizations') }} as organizations
        on scoped.organization_id = organizations.organization_id
    left join {{ ref('stg_crm__users') }} as actors on scoped.actor_user_id = actors.user_id
)

select * from final
