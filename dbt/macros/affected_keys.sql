{#- The keys each incremental model rebuilds (see incremental.sql): what the rows changed since
    the model's watermark touch, old grains included (int_lead_grains_logged). Called by the
    models' pre-hooks, at run time. -#}

{#- Leads whose row or status history changed after `since`, or whose grain was logged since:
    the funnel's changed leads (int_lead_stages_reached, lead_funnel, source_roi). -#}
{% macro leadflow_funnel_changed_leads(since) -%}
    {{ leadflow_changed_leads(since, ['leads', 'status']) }}
    union
    select lead_id from {{ ref('int_lead_grains_logged') }} where logged_at > {{ since }}
{%- endmacro %}

{% macro int_lead_stages_reached_affected_keys() -%}
    {{ leadflow_funnel_changed_leads(leadflow_changed_since()) }}
{%- endmacro %}

{#- Every logged grain (organization, cohort month, source, owner) of a changed lead; every key
    of a changed organization (name, timezone, aliases) or of a renamed owner. -#}
{% macro lead_funnel_affected_keys() -%}
    {%- set since = leadflow_changed_since() -%}
    with changed_leads as (
        {{ leadflow_funnel_changed_leads(since) }}
    ),

    grains as (
        select distinct organization_id, cohort_month, source, owner_user_id
        from {{ ref('int_lead_grains_logged') }}
        where lead_id = any(array(select lead_id from changed_leads))
        union
        select organization_id, cohort_month, source, owner_user_id
        from {{ this }}
        where organization_id in ({{ leadflow_changed_organizations(since) }})
            or owner_user_id in ({{ leadflow_changed_users(since) }})
    )

    select
        {{ lead_funnel_key('organization_id', 'cohort_month', 'source', 'owner_user_id') }}
            as funnel_key,
        *
    from grains
{%- endmacro %}

{#- lead_funnel's key of a grain. -#}
{% macro lead_funnel_key(organization_id, cohort_month, source, owner_user_id) -%}
    md5(
        cast({{ organization_id }} as text)
        || '|' || to_char({{ cohort_month }}, 'YYYY-MM-DD')
        || '|' || {{ source }}
        || '|' || coalesce(cast({{ owner_user_id }} as text), 'unassigned')
    )
{%- endmacro %}

{#- source_roi's keys: the lead side as lead_funnel's, and the cost rows changed since. -#}
{% macro source_roi_affected_keys() -%}
    {%- set since = leadflow_changed_since() -%}
    with changed_leads as (
        {{ leadflow_funnel_changed_leads(since) }}
    ),

    grains as (
        select distinct organization_id, owner_user_id, source, cohort_month as month
        from {{ ref('int_lead_grains_logged') }}
        where lead_id = any(array(select lead_id from changed_leads))
        union
        select costs.organization_id, costs.user_id, costs.source, costs.cost_month
        from {{ ref('stg_crm__lead_source_costs') }} as costs
        where costs.updated_at > {{ since }}
        union
        select organization_id, owner_user_id, source, month
        from {{ this }}
        where organization_id in ({{ leadflow_changed_organizations(since) }})
            or owner_user_id in ({{ leadflow_changed_users(since) }})
    )

    select
        {{ source_roi_key('organization_id', 'owner_user_id', 'source', 'month') }} as roi_key,
        *
    from grains
{%- endmacro %}

{% macro source_roi_key(organization_id, owner_user_id, source, month) -%}
    md5(
        cast({{ organization_id }} as text)
        || '|' || coalesce(cast({{ owner_user_id }} as text), 'unassigned')
        || '|' || {{ source }}
        || '|' || to_char({{ month }}, 'YYYY-MM-DD')
    )
{%- endmacro %}

{#- The score trend keys (grain 'lead': organization, source, owner, period; 'organization':
    organization, period) a change touches. A lead's scores from its earliest score stamped
    after the watermark on: the period of that score and every later one of the lead (the next
    period's score_delta reads it); every score of a lead whose grain was logged since (moved,
    reassigned, soft-deleted) or whose organization changed (timezone, name, aliases), under
    every grain it had. Grain 'lead' adds the keys of renamed owners (a renamed top mover is
    renamed in place by lead_score_trends_rename_movers). -#}
{% macro score_trends_affected_keys(grain) -%}
    {%- set since = leadflow_changed_since() -%}
    with changed_organizations as (
        {{ leadflow_changed_organizations(since) }}
    ),

    lead_starts as (
        select lead_id, '-infinity'::timestamptz as from_at
        from {{ ref('int_lead_grains_logged') }}
        where logged_at > {{ since }}
        union all
        select id, '-infinity'::timestamptz
        from {{ source('crm', 'leads') }}
        where organization_id in (select organization_id from changed_organizations)
        union all
        select lead_id, calculated_at
        from {{ source('crm', 'lead_score_history') }}
        where calculated_at > {{ since }}
        union all
        {#- a score is stamped with its run's as_of, which may be older than the watermark;
            writing it changes the lead's lead_score (updated_at by trigger): from the lead's
            last score on #}
        select leads.id, last_score.calculated_at
        from {{ source('crm', 'leads') }} as leads
        cross join lateral (
            select max(scores.calculated_at) as calculated_at
            from {{ source('crm', 'lead_score_history') }} as scores
            where scores.lead_id = leads.id
        ) as last_score
        where leads.updated_at > {{ since }} and last_score.calculated_at is not null
    ),

    changed_leads as (
        select lead_id, min(from_at) as from_at
        from lead_starts
        group by lead_id
    ),

    grains as (
        select distinct lead_id, organization_id, source, owner_user_id
        from {{ ref('int_lead_grains_logged') }}
        where lead_id = any(array(select lead_id from changed_leads))
    ),

    periods as (
        select distinct
            grains.organization_id,
            grains.source,
            grains.owner_user_id,
            period_types.period_type,
            case period_types.period_type
                when 'day' then {{ local_time('scores.calculated_at') }}::date
                else date_trunc('week', {{ local_time('scores.calculated_at') }})::date
            end as period_start
        from changed_leads
        inner join grains on changed_leads.lead_id = grains.lead_id
        inner join {{ ref('stg_crm__organizations') }} as organizations
            on grains.organization_id = organizations.organization_id
        inner join {{ source('crm', 'lead_score_history') }} as scores
            on changed_leads.lead_id = scores.lead_id
            and scores.calculated_at >= changed_leads.from_at
        cross join (values ('day'), ('week')) as period_types (period_type)
    ),

    keys as (
        {%- if grain == 'lead' %}
        select organization_id, source, owner_user_id, period_type, period_start
        from periods
        union
        select organization_id, source, owner_user_id, period_type, period_start
        from {{ this }}
        where organization_id in (select organization_id from changed_organizations)
            or owner_user_id in ({{ leadflow_changed_users(since) }})
        {%- else %}
        select organization_id, period_type, period_start
        from periods
        union
        select organization_id, period_type, period_start
        from {{ this }}
        where organization_id in (select organization_id from changed_organizations)
        {%- endif %}
    )

    select
        {%- if grain == 'lead' %}
        {{ lead_score_trend_key('organization_id', 'source', 'owner_user_id', 'period_type',
            'period_start') }} as trend_key,
        {%- else %}
        {{ organization_score_trend_key('organization_id', 'period_type', 'period_start') }}
            as trend_key,
        {%- endif %}
        *
    from keys
{%- endmacro %}

{% macro lead_score_trend_key(organization_id, source, owner_user_id, period_type, period_start) -%}
    md5(concat_ws(
        '|',
        {{ organization_id }},
        {{ source }},
        coalesce({{ owner_user_id }}::text, 'unassigned'),
        {{ period_type }},
        {{ period_start }}
    ))
{%- endmacro %}

{% macro organization_score_trend_key(organization_id, period_type, period_start) -%}
    md5(concat_ws('|', {{ organization_id }}, {{ period_type }}, {{ period_start }}))
{%- endmacro %}

{#- int_lead_scores_bucketed: the leads with a score stamped after the watermark, a grain logged
    since (moved, reassigned, canonical source changed, soft-deleted) or a changed organization
    (timezone, name, aliases). -#}
{% macro int_lead_scores_bucketed_affected_keys() -%}
    {%- set since = leadflow_changed_since() -%}
    select lead_id from {{ source('crm', 'lead_score_history') }}
    where calculated_at > {{ since }}
    union
    {#- a score stamped with an as_of older than the watermark: its lead row changed #}
    select id from {{ source('crm', 'leads') }}
    where updated_at > {{ since }}
    union
    select lead_id from {{ ref('int_lead_grains_logged') }}
    where logged_at > {{ since }}
    union
    select id as lead_id from {{ source('crm', 'leads') }}
    where organization_id in ({{ leadflow_changed_organizations(since) }})
{%- endmacro %}

{#- The rows of int_lead_scores_bucketed (rebuilt for the changed leads earlier in the build) in
    the affected periods of an incremental score trend mart (its `<mart>__affected`), by the
    index on (organization_id, period_type, period_start, source, owner_user_id). With
    `by_grain`, only the rows of an affected key (source and owner too), read by the whole index
    key: a period holding every lead's score (the day of a full scoring run or of a large
    import) is not read whole for the few grains a day touches. The owner is null for the
    unassigned: their grains are probed apart (= does not match null). -#}
{% macro score_trends_incremental_periods(by_grain) -%}
    {%- set affected = this.identifier ~ '__affected' -%}
    {%- if by_grain %}
    {%- for owned in [true, false] %}
    select bucketed.*
    from {{ ref('int_lead_scores_bucketed') }} as bucketed
    inner join (
        select distinct organization_id, period_type, period_start, source, owner_user_id
        from {{ affected }}
        where owner_user_id is {{ 'not ' if owned }}null
    ) as affected
        on bucketed.organization_id = affected.organization_id
        and bucketed.period_type = affected.period_type
        and bucketed.period_start = affected.period_start
        and bucketed.source = affected.source
        {%- if owned %}
        and bucketed.owner_user_id = affected.owner_user_id
        {%- else %}
        and bucketed.owner_user_id is null
        {%- endif %}
    {%- if owned %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- else %}
    select bucketed.*
    from {{ ref('int_lead_scores_bucketed') }} as bucketed
    where (bucketed.organization_id, bucketed.period_type, bucketed.period_start) in (
            select affected.organization_id, affected.period_type, affected.period_start
            from {{ affected }} as affected
        )
    {%- endif %}
{%- endmacro %}

{#- Post-hook of lead_score_trends: the names of top movers whose lead row changed since the
    watermark, in place (a rename touches no score, so no key is rebuilt for it). -#}
{% macro lead_score_trends_rename_movers() -%}
    {%- if is_incremental() -%}
    {%- for mover in ['riser', 'faller'] %}
    update {{ this }} as trends
    set top_{{ mover }}_lead_name = renamed.lead_name
    from (
        select id, nullif(trim(concat_ws(' ', first_name, last_name)), '') as lead_name
        from {{ source('crm', 'leads') }}
        where updated_at > {{ leadflow_changed_since() }}
    ) as renamed
    where trends.top_{{ mover }}_lead_id = renamed.id
        and trends.top_{{ mover }}_lead_name is distinct from renamed.lead_name;
    {%- endfor %}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- lead_timeline: the leads with an input row changed after the watermark, found with one index
    range scan per source; mirrors source_changed_at (int_lead_events_unioned). The watermark,
    or the newest source_changed_at in the table if earlier (a row written later with an older
    stamp is still read while it is newer than every event built); a table built before the
    marts kept a 'dbt:lead_timeline' watermark starts from that less var lead_timeline_lookback
    (default 1 hour). -#}
{% macro lead_timeline_affected_keys() -%}
    {%- set before_watermarks -%}
        (
            select max(source_changed_at) - interval '{{ var("lead_timeline_lookback", "1 hour") }}'
            from {{ this }}
        )
    {%- endset -%}
    {%- set since -%}
        least(
            {{ leadflow_changed_since(fallback=before_watermarks) }},
            (select max(source_changed_at) from {{ this }})
        )
    {%- endset -%}
    with changed_users as (
        select user_id
        from {{ ref('stg_crm__users') }}
        where updated_at > {{ since }}
    )

    {{ leadflow_changed_leads(since, ['leads', 'status', 'scores', 'assignments', 'activities',
        'notes']) }}
    union
    select lead_id
    from {{ ref('stg_crm__lead_assignments') }}
    where from_user_id in (select user_id from changed_users)
        or to_user_id in (select user_id from changed_users)
{%- endmacro %}

{#- lead_stage_history: the leads whose row or status history changed at or after the watermark
    or the newest source_changed_at in the table, whichever is earlier; a table built before the marts kept a 'dbt:lead_stage_history' watermark starts from its
    newest source_changed_at less var lead_stage_history_lookback (default 1 hour). -#}
{% macro lead_stage_history_affected_keys() -%}
    {%- set before_watermarks -%}
        (
            select max(source_changed_at) - interval '{{ var("lead_stage_history_lookback", "1 hour") }}'
            from {{ this }}
        )
    {%- endset -%}
    {%- set since -%}
        least(
            {{ leadflow_changed_since(fallback=before_watermarks) }},
            (select max(source_changed_at) from {{ this }})
        )
    {%- endset -%}
    select id as lead_id from {{ source('crm', 'leads') }} where updated_at >= {{ since }}
    union
    select lead_id
    from {{ source('crm', 'lead_status_history') }}
    where changed_at >= {{ since }}
{%- endmacro %}

{#- The user-weeks (weeks in the user's organization's timezone) of agent_coaching's figures a
    change after `since` touches: (user_id, organization_id, week_start) of every assignment,
    activity (late ones by loaded_at/matched_at too) and conversion (status row to 'recruited')
    stamped after `since`; for an outbound contact, also of the lead's assignments at or before it with no earlier contact
    since (their first contact moves); for a lead whose grain was logged since, of its
    conversions under every owner it had (they count for the current owner), and when it was
    soft-deleted or restored (liveness is the only grain the assignments and activities count
    by), of all its assignments and activities. -#}
{% macro coaching_user_weeks_changed(since) -%}
    {#- Each input by its own index: a time range, or the moved leads as an array (lead_id
        indexes). An OR of the two, or an IN over a CTE, lets the planner scan whole tables
        with a subplan per row (minutes at 1M leads). #}
    with moved_leads as materialized (
        select distinct lead_id
        from {{ ref('int_lead_grains_logged') }}
        where logged_at > {{ since }}
    ),

    {#- a reassignment moves no assignment or activity, a deletion all of them: only the leads
        that were ever soft-deleted (a restored one has an older deleted grain) #}
    deleted_leads as materialized (
        select distinct grains.lead_id
        from {{ ref('int_lead_grains_logged') }} as grains
        where grains.lead_id = any(array(select lead_id from moved_leads))
            and grains.is_deleted
    ),

    new_activities as materialized (
        select activities.*
        from {{ source('crm', 'lead_activities') }} as activities
        where activities.lead_id is not null and activities.loaded_at > {{ since }}
        union
        select activities.*
        from {{ source('crm', 'lead_activities') }} as activities
        where activities.lead_id is not null and activities.matched_at > {{ since }}
    ),

    events as (
        select assignments.to_user_id as user_id, assignments.assigned_at as event_at
        from {{ source('crm', 'lead_assignments') }} as assignments
        where assignments.assigned_at > {{ since }}
        union all
        select assignments.to_user_id, assignments.assigned_at
        from {{ source('crm', 'lead_assignments') }} as assignments
        where assignments.lead_id = any(array(select lead_id from deleted_leads))
        union all
        select new_activities.user_id, new_activities.occurred_at
        from new_activities
        union all
        select activities.user_id, activities.occurred_at
        from {{ source('crm', 'lead_activities') }} as activities
        where activities.lead_id = any(array(select lead_id from deleted_leads))
        union all
        {#- an assignment whose first contact a new contact may be #}
        select assignments.to_user_id, assignments.assigned_at
        from new_activities as activities
        inner join {{ source('crm', 'lead_assignments') }} as assignments
            on activities.lead_id = assignments.lead_id
            and assignments.assigned_at <= activities.occurred_at
        where activities.direction = 'outbound'
            and activities.activity_type in ('call', 'sms', 'email', 'meeting')
            {#- unless an earlier contact after the assignment stays its first #}
            and not exists (
                select 1
                from {{ source('crm', 'lead_activities') }} as earlier
                where earlier.lead_id = assignments.lead_id
                    and earlier.occurred_at >= assignments.assigned_at
                    and earlier.occurred_at < activities.occurred_at
                    and earlier.direction = 'outbound'
                    and earlier.activity_type in ('call', 'sms', 'email', 'meeting')
            )
        union all
        {#- conversions (status rows to 'recruited', the only status rows counted) count for
            the lead's owner: every owner it had #}
        select grains.owner_user_id, history.changed_at
        from {{ source('crm', 'lead_status_history') }} as history
        inner join {{ ref('int_lead_grains_logged') }} as grains
            on history.lead_id = grains.lead_id
        where history.changed_at > {{ since }} and history.to_status = 'recruited'
        union all
        select grains.owner_user_id, history.changed_at
        from {{ source('crm', 'lead_status_history') }} as history
        inner join {{ ref('int_lead_grains_logged') }} as grains
            on history.lead_id = grains.lead_id
        where history.lead_id = any(array(select lead_id from moved_leads))
            and history.to_status = 'recruited'
    )

    select distinct
        events.user_id,
        users.organization_id,
        date_trunc('week', {{ local_time('events.event_at') }})::date as week_start
    from events
    inner join {{ source('crm', 'users') }} as users on events.user_id = users.id
    inner join {{ ref('stg_crm__organizations') }} as organizations
        on users.organization_id = organizations.organization_id
{%- endmacro %}

{#- int_coaching_user_weeks' user-weeks to rebuild: those a change touched
    (coaching_user_weeks_changed), and every row of a changed user or organization. -#}
{% macro coaching_user_weeks_affected_keys() -%}
    {%- set since = leadflow_changed_since() -%}
    with user_weeks as (
        {{ coaching_user_weeks_changed(since) }}
        union
        select user_id, organization_id, week_start
        from {{ this }}
        where user_id in ({{ leadflow_changed_users(since) }})
            or organization_id in ({{ leadflow_changed_organizations(since) }})
    )

    select
        {{ coaching_user_week_key('user_id', 'week_start') }} as affected_key,
        user_id,
        organization_id,
        week_start
    from user_weeks
{%- endmacro %}

{#- agent_coaching's organization-weeks to rebuild: the weeks of the user-weeks a change touched
    (their organization averages move too), and every week of a renamed user's or a changed
    organization's rows. -#}
{% macro agent_coaching_affected_keys() -%}
    {%- set since = leadflow_changed_since() -%}
    with weeks as (
        select organization_id, week_start
        from ({{ coaching_user_weeks_changed(since) }}) as changed
        union
        select organization_id, week_start
        from {{ this }}
        where user_id in ({{ leadflow_changed_users(since) }})
            or organization_id in ({{ leadflow_changed_organizations(since) }})
    )

    select
        {{ agent_coaching_week_key('organization_id', 'week_start') }} as affected_key,
        organization_id,
        week_start
    from weeks
{%- endmacro %}

{#- a user-week's key: agent_coaching's coaching_key -#}
{% macro coaching_user_week_key(user_id, week_start) -%}
    md5({{ user_id }}::text || '|' || {{ week_start }}::text)
{%- endmacro %}

{% macro agent_coaching_week_key(organization_id, week_start) -%}
    {{ organization_id }}::text || '|' || {{ week_start }}::text
{%- endmacro %}

{#- recommendation_mix: the organizations with recommendations computed, or a model trained,
    after the watermark, or changed (name). An organization's rows are rebuilt whole (its
    shares of leads add up over all of them). -#}
{% macro recommendation_mix_affected_keys() -%}
    {%- set since = leadflow_changed_since() -%}
    select organization_id::text as affected_key, organization_id
    from {{ source('crm', 'lead_recommendations') }}
    where computed_at > {{ since }}
    union
    select organization_id::text, organization_id
    from {{ source('crm', 'lead_conversion_models') }}
    where trained_at > {{ since }}
    union
    select organization_id::text, organization_id
    from ({{ leadflow_changed_organizations(since) }}) as changed
{%- endmacro %}

{#- segment_sizes: the segments with a count taken after the watermark, a changed segment row
    (name) or a changed organization (timezone, name): each rebuilt whole (previous count,
    is_latest). -#}
{% macro segment_sizes_affected_keys() -%}
    {%- set since = leadflow_changed_since() -%}
    select segment_id::text as affected_key, segment_id
    from {{ source('crm', 'segment_count_history') }}
    where counted_at > {{ since }}
    union
    select id::text, id
    from {{ source('crm', 'segments') }}
    where updated_at > {{ since }}
        or organization_id in ({{ leadflow_changed_organizations(since) }})
{%- endmacro %}
