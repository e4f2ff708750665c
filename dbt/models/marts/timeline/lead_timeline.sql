{#- One row per event per live lead, numbered in time order. Incremental per lead: a run rebuilds
    the whole timeline of every lead with an input row changed after the table's watermark
    (max(source_changed_at), less a lookback for late commits), so event_seq stays gapless; the
    pre-hook drops the rows of soft- or hard-deleted leads. A deleted history row changes no
    timestamp: a --full-refresh picks that up. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='lead_id',
        indexes=[
            {'columns': ['lead_id', 'event_seq']},
            {'columns': ['source_changed_at']},
        ],
        pre_hook="
            {% if is_incremental() %}
            delete from {{ this }} as timeline
            where not exists (
                select 1
                from {{ ref('stg_crm__leads') }} as leads
                where leads.lead_id = timeline.lead_id and not leads.is_deleted
            )
            {% endif %}
        ",
    )
}}
{#- Referenced only inside is_incremental() blocks, which parsing does not see: #}
-- depends_on: {{ ref('stg_crm__leads') }}, {{ ref('stg_crm__users') }}
-- depends_on: {{ ref('stg_crm__lead_status_history') }}, {{ ref('stg_crm__lead_score_history') }}
-- depends_on: {{ ref('stg_crm__lead_assignments') }}, {{ ref('stg_crm__lead_activities') }}

with events as (
    select * from {{ ref('int_lead_events_unioned') }}
),

{% if is_incremental() %}
watermark as (
    select
        coalesce(max(source_changed_at), '-infinity'::timestamptz)
        - interval '{{ var("lead_timeline_lookback", "1 hour") }}' as changed_after
    from {{ this }}
),

{# The leads with an input row changed after the watermark, found with plain scans of the
    sources (the event union is only evaluated for these leads). Mirrors source_changed_at. -#}
changed_users as (
    select user_id
    from {{ ref('stg_crm__users') }}
    where updated_at > (select changed_after from watermark)
),

changed_leads as (
    select lead_id
    from {{ ref('stg_crm__leads') }}
    where updated_at > (select changed_after from watermark)
    union
    select lead_id
    from {{ ref('stg_crm__lead_status_history') }}
    where changed_at > (select changed_after from watermark)
    union
    select lead_id
    from {{ ref('stg_crm__lead_score_history') }}
    where calculated_at > (select changed_after from watermark)
    union
    select lead_id
    from {{ ref('stg_crm__lead_assignments') }}
    where assigned_at > (select changed_after from watermark)
        or from_user_id in (select user_id from changed_users)
        or to_user_id in (select user_id from changed_users)
    union
    select lead_id
    from {{ ref('stg_crm__lead_activities') }}
    where lead_id is not null
        and greatest(loaded_at, matched_at) > (select changed_after from watermark)
),
{% endif %}

scoped as (
    select events.*
    from events
    {% if is_incremental() %}
    {#- = any(array(...)) is a plain filter on lead_id that PostgreSQL pushes into every branch
        of the union (an IN-subquery would be a join evaluated after the whole union). #}
    where events.lead_id = any(array(select changed_leads.lead_id from changed_leads))
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
