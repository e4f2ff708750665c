{#- agent_coaching's figures per user and week (Monday, in the user's organization's timezone),
    unrounded: one row per user-week with an assignment, an activity or a conversion of a live
    lead. agent_coaching rounds them and adds the organization averages.

    Incremental per user-week (coaching_user_weeks_affected_keys): a day's changes touch the
    current week and the history of the few leads deleted or restored, a small share of the
    user-weeks, where an organization-week holds every user's figures and nearly all of them
    are touched. In an incremental build each affected user-week is read through the indexes
    on (to_user_id, assigned_at) and (user_id, occurred_at) (migrations 020, 021), conversions through
    the partial index on recruited status rows, and an assignment's first contact by an index
    probe per assignment instead of the set-based int_lead_first_contacts_joined over every
    lead. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        indexes=[
            {'columns': ['coaching_key'], 'unique': true},
            {'columns': ['organization_id', 'week_start']},
        ],
        pre_hook="{{ leadflow_replace_keys(coaching_user_weeks_affected_keys(), 'affected_key',
            'coaching_key') }}",
        post_hook="{{ leadflow_advance_watermark() }}",
    )
}}
-- depends_on: {{ ref('int_lead_grains_logged') }}, {{ ref('stg_crm__lead_assignments') }}
-- depends_on: {{ ref('stg_crm__lead_status_history') }}, {{ ref('stg_crm__lead_activities') }}
with users as (
    select
        users.user_id,
        users.organization_id,
        organizations.organization_timezone
    from {{ ref('stg_crm__users') }} as users
    inner join {{ ref('stg_crm__organizations') }} as organizations
        on users.organization_id = organizations.organization_id
),

{#- the leads table itself, inlined: an incremental build probes its primary key for the
    affected user-weeks' rows instead of reading every lead #}

live_leads as not materialized (
    select
        id as lead_id,
        user_id as owner_user_id
    from {{ source('crm', 'leads') }}
    where deleted_at is null
),

{% if is_incremental() %}
affected as materialized (
    select
        affected.user_id,
        affected.week_start,
        affected.week_start::timestamp at time zone users.organization_timezone as range_start,
        (affected.week_start + 7)::timestamp at time zone users.organization_timezone
            as range_end
    from int_coaching_user_weeks__affected as affected
    inner join users on affected.user_id = users.user_id
),

{#- only the columns the indexes hold (migration 021): index-only scans, no heap page per row #}

range_assignments as materialized (
    select in_range.*
    from affected
    cross join lateral (
        select
            assignments.lead_id,
            assignments.to_user_id,
            assignments.assigned_at
        from {{ ref('stg_crm__lead_assignments') }} as assignments
        where assignments.to_user_id = affected.user_id
            and assignments.assigned_at >= affected.range_start
            and assignments.assigned_at < affected.range_end
        offset 0 -- noqa: AM09
    ) as in_range
),

range_activities as materialized (
    select in_range.*
    from affected
    cross join lateral (
        select
            activities.lead_id,
            activities.user_id,
            activities.occurred_at
        from {{ ref('stg_crm__lead_activities') }} as activities
        where activities.user_id = affected.user_id
            and activities.occurred_at >= affected.range_start
            and activities.occurred_at < affected.range_end
        offset 0 -- noqa: AM09
    ) as in_range
),

{#- conversions count for the lead's current owner: the recruited status rows of the affected
    weeks (partial index), kept where that owner's week is affected #}

week_ranges as materialized (
    select distinct
        range_start,
        range_end
    from affected
),

range_conversions as materialized (
    select distinct in_range.*
    from week_ranges
    cross join lateral (
        select history.*
        from {{ ref('stg_crm__lead_status_history') }} as history
        where history.changed_at >= week_ranges.range_start
            and history.changed_at < week_ranges.range_end
            and history.to_status = 'recruited'
        offset 0 -- noqa: AM09
    ) as in_range
),

first_contacts as (
    {#- int_lead_first_contacts_joined for the affected user-weeks' assignments: the first
        outbound contact at or after the assignment (idx_lead_activities_lead_contacts) #}
    select
        assignments.to_user_id as user_id,
        assignments.assigned_at,
        {{ first_contact_figures('next_contact.first_contact_at', 'assignments.assigned_at') }}
    from range_assignments as assignments
    inner join live_leads on assignments.lead_id = live_leads.lead_id
    left join lateral (
        select min(contacts.occurred_at) as first_contact_at
        from {{ ref('stg_crm__lead_activities') }} as contacts
        where contacts.lead_id = assignments.lead_id
            and contacts.occurred_at >= assignments.assigned_at
            and contacts.direction = 'outbound'
            and contacts.activity_type in ('call', 'sms', 'email', 'meeting')
    ) as next_contact on true
),
{%- endif %}

assignment_weeks as (
    select
        assignments.user_id,
        date_trunc(
            'week', {{ local_time('assignments.assigned_at', 'users.organization_timezone') }}
        )::date as week_start,
        count(*) as leads_assigned,
        count(*) filter (where assignments.is_contacted_within_24h) as contacted_within_24h,
        percentile_cont(0.5) within group (order by assignments.hours_to_first_contact)
            as median_hours_to_first_contact
            {%- if is_incremental() %}
    from first_contacts as assignments
        {%- else %}
    from {{ ref('int_lead_first_contacts_joined') }} as assignments
        {%- endif %}
    inner join users on assignments.user_id = users.user_id
    group by 1, 2
),

activity_weeks as (
    select
        activities.user_id,
        date_trunc(
            'week', {{ local_time('activities.occurred_at', 'users.organization_timezone') }}
        )::date as week_start,
        count(*) as activities,
        count(distinct activities.lead_id) as leads_worked
        {%- if is_incremental() %}
    from range_activities as activities
        {%- else %}
    from {{ ref('stg_crm__lead_activities') }} as activities
        {%- endif %}
    inner join live_leads on activities.lead_id = live_leads.lead_id
    inner join users on activities.user_id = users.user_id
    group by 1, 2
),

conversion_weeks as (
    select
        live_leads.owner_user_id as user_id,
        date_trunc(
            'week', {{ local_time('history.changed_at', 'users.organization_timezone') }}
        )::date as week_start,
        count(*) as conversions
        {%- if is_incremental() %}
    from range_conversions as history
        {%- else %}
    from {{ ref('stg_crm__lead_status_history') }} as history
        {%- endif %}
    inner join live_leads on history.lead_id = live_leads.lead_id
    inner join users on live_leads.owner_user_id = users.user_id
    {%- if is_incremental() %}
    inner join affected
        on live_leads.owner_user_id = affected.user_id
            and history.changed_at >= affected.range_start
            and history.changed_at < affected.range_end
    {%- endif %}
    where history.to_status = 'recruited'
        and history.from_status is distinct from 'recruited'
    group by 1, 2
),

user_weeks as (
    select
        user_id,
        week_start,
        coalesce(assignment_weeks.leads_assigned, 0) as leads_assigned,
        coalesce(assignment_weeks.contacted_within_24h, 0) as contacted_within_24h,
        assignment_weeks.median_hours_to_first_contact,
        coalesce(activity_weeks.activities, 0) as activities,
        coalesce(activity_weeks.leads_worked, 0) as leads_worked,
        coalesce(conversion_weeks.conversions, 0) as conversions
    from assignment_weeks
    full join activity_weeks using (user_id, week_start)
    full join conversion_weeks using (user_id, week_start)
)

select
    {{ coaching_user_week_key('user_weeks.user_id', 'user_weeks.week_start') }} as coaching_key,
    users.organization_id,
    user_weeks.user_id,
    user_weeks.week_start,
    user_weeks.leads_assigned,
    user_weeks.contacted_within_24h,
    user_weeks.median_hours_to_first_contact::numeric as median_hours_to_first_contact,
    user_weeks.activities,
    user_weeks.leads_worked,
    user_weeks.conversions
from user_weeks
inner join users on user_weeks.user_id = users.user_id
