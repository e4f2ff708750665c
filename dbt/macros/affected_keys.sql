{#- The keys each incremental model rebuilds (see incremental.sql): what the rows changed since
    the model's watermark touch, old grains included (int_lead_grains_logged). Called by the
    models' pre-hooks, at run time. -#}

{#- Leads whose row or status history changed, or whose grain was logged since. -#}
{% macro int_lead_stages_reached_affected_keys() -%}
    {{ leadflow_changed_leads(leadflow_changed_since(), ['leads', 'status']) }}
    union
    select lead_id from {{ ref('int_lead_grains_logged') }}
    where logged_at > {{ leadflow_changed_since() }}
{%- endmacro %}

{#- Every logged grain (organization, cohort month, source, owner) of a changed lead; every key
    of a changed organization (name, timezone, aliases) or of a renamed owner. -#}
{% macro lead_funnel_affected_keys() -%}
    {%- set since = leadflow_changed_since() -%}
    with changed_leads as (
        {{ leadflow_changed_leads(since, ['leads', 'status']) }}
        union
        select lead_id from {{ ref('int_lead_grains_logged') }} where logged_at > {{ since }}
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
        {{ leadflow_changed_leads(since, ['leads', 'status']) }}
        union
        select lead_id from {{ ref('int_lead_grains_logged') }} where logged_at > {{ since }}
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
    every grain it had. Grain 'lead' adds the keys of renamed owners and of renamed top movers. -#}
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
            or top_riser_lead_id in (
                select id from {{ source('crm', 'leads') }} where updated_at > {{ since }}
            )
            or top_faller_lead_id in (
                select id from {{ source('crm', 'leads') }} where updated_at > {{ since }}
            )
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

{#- The rows of int_lead_scores_bucketed in the affected periods of an incremental score trend
    mart (its `<mart>__affected`): per affected organization and period the scores calculated in
    it (the calculated_at index), the live leads' last score of the period and their last score
    before it (the lead's last score of its previous scored period: what the lag gives). With
    `by_grain`, only the leads whose current source and owner are an affected key's. -#}
{% macro score_trends_incremental_periods(by_grain) -%}
    {%- set affected = this.identifier ~ '__affected' -%}
    with affected_periods as (
        select distinct
            affected.organization_id,
            affected.period_type,
            affected.period_start,
            (affected.period_start::timestamp at time zone organizations.organization_timezone)
                as range_start,
            ((affected.period_start + case affected.period_type when 'day' then 1 else 7 end)
                ::timestamp at time zone organizations.organization_timezone) as range_end
        from {{ affected }} as affected
        inner join {{ ref('stg_crm__organizations') }} as organizations
            on affected.organization_id = organizations.organization_id
    ),

    period_scores as (
        select
            scores.score_id,
            scores.lead_id,
            leads.organization_id,
            leads.source,
            leads.owner_user_id,
            scores.score,
            scores.qualification_score,
            scores.engagement_score,
            scores.intent_score,
            scores.demographic_score,
            scores.calculated_at,
            affected_periods.period_type,
            affected_periods.period_start,
            affected_periods.range_start,
            row_number() over (
                partition by scores.lead_id, affected_periods.period_type,
                affected_periods.period_start
                order by scores.calculated_at desc, scores.score_id desc
            ) as rank_in_period
        from affected_periods
        inner join {{ ref('stg_crm__lead_score_history') }} as scores
            on scores.calculated_at >= affected_periods.range_start
            and scores.calculated_at < affected_periods.range_end
        {%- if by_grain %}
        inner join {{ ref('stg_crm__leads') }} as leads
        {%- else %}
        inner join (
            select id as lead_id, organization_id, deleted_at is not null as is_deleted,
                null::text as source, null::uuid as owner_user_id
            from {{ source('crm', 'leads') }}
        ) as leads
        {%- endif %}
            on scores.lead_id = leads.lead_id
            and leads.organization_id = affected_periods.organization_id
            and not leads.is_deleted
        {%- if by_grain %}
        where {{ lead_score_trend_key('leads.organization_id', 'leads.source',
            'leads.owner_user_id', 'affected_periods.period_type',
            'affected_periods.period_start') }}
            in (select affected.trend_key from {{ affected }} as affected)
        {%- endif %}
    )

    select
        period_scores.*,
        previous.score as previous_score,
        period_scores.score - previous.score as score_delta
    from period_scores
    left join lateral (
        select earlier.score
        from {{ ref('stg_crm__lead_score_history') }} as earlier
        where earlier.lead_id = period_scores.lead_id
            and earlier.calculated_at < period_scores.range_start
        order by earlier.calculated_at desc, earlier.score_id desc
        limit 1
    ) as previous on true
    where period_scores.rank_in_period = 1
{%- endmacro %}

{#- lead_timeline: the leads with an input row changed after the watermark (max of the table's
    source_changed_at less var lead_timeline_lookback), found with one index range scan per
    source; mirrors source_changed_at (int_lead_events_unioned). -#}
{% macro lead_timeline_affected_keys() -%}
    {%- set since -%}
        (
            select
                coalesce(max(source_changed_at), '-infinity'::timestamptz)
                - interval '{{ var("lead_timeline_lookback", "1 hour") }}'
            from {{ this }}
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
    (max of the table's source_changed_at less var lead_stage_history_lookback). -#}
{% macro lead_stage_history_affected_keys() -%}
    {%- set since -%}
        (
            select
                coalesce(max(source_changed_at), '-infinity'::timestamptz)
                - interval '{{ var("lead_stage_history_lookback", "1 hour") }}'
            from {{ this }}
        )
    {%- endset -%}
    select id as lead_id from {{ source('crm', 'leads') }} where updated_at >= {{ since }}
    union
    select lead_id
    from {{ source('crm', 'lead_status_history') }}
    where changed_at >= {{ since }}
{%- endmacro %}
