{#- Weekly coaching figures per user (weeks start on Monday in the user's organization's
    timezone), each beside the organization's average over the users with a row that week.
    One row per user and week with an assignment, an activity or a conversion; live leads only.
    Incremental per (organization, week) (agent_coaching_affected_keys): every user-week of the
    affected organization-weeks is rebuilt, so the organization averages stay whole. In an
    incremental build the inputs are read per affected week (the time indexes) and an
    assignment's first contact by an index probe per assignment instead of the set-based
    int_lead_first_contacts_joined over every lead. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        indexes=[
            {'columns': ['coaching_key'], 'unique': true},
            {'columns': ['organization_id', 'week_start']},
        ],
        pre_hook="{{ leadflow_replace_keys(agent_coaching_affected_keys(), 'affected_key',
            agent_coaching_week_key('organization_id', 'week_start')) }}",
        post_hook="{{ leadflow_advance_watermark() }}",
    )
}}
-- depends_on: {{ ref('int_lead_grains_logged') }}, {{ ref('stg_crm__lead_assignments') }}
-- depends_on: {{ ref('stg_crm__lead_status_history') }}, {{ ref('stg_crm__lead_activities') }}
with users as (
    select
        users.user_id,
        users.user_name,
        users.organization_id,
        organizations.organization_name,
        organizations.organization_timezone
    from {{ ref('stg_crm__users') }} as users
    inner join {{ ref('stg_crm__organizations') }} as organizations
        on users.organization_id = organizations.organization_id
),

{#- the leads table itself (no source alias needed here), inlined: an incremental build probes
    its primary key for the affected weeks' rows instead of reading every lead #}

live_leads as not materialized (
    select
        id as lead_id,
        user_id as owner_user_id
    from {{ source('crm', 'leads') }}
    where deleted_at is null
),

{% if is_incremental() %}
affected_weeks as materialized (
    select
        affected.organization_id,
        affected.week_start,
        affected.week_start::timestamp at time zone organizations.organization_timezone
            as range_start,
        (affected.week_start + 7)::timestamp at time zone organizations.organization_timezone
            as range_end
    from agent_coaching__affected as affected
    inner join {{ ref('stg_crm__organizations') }} as organizations
        on affected.organization_id = organizations.organization_id
),

{#- the affected weeks as time ranges, one per week and timezone: the rows of each come from
    the time indexes (assigned_at, changed_at); weeks of different timezones overlap, hence the
    distinct rows #}

week_ranges as materialized (
    select distinct
        range_start,
        range_end
    from affected_weeks
),

range_assignments as materialized (
    select distinct in_range.*
    from week_ranges
    cross join lateral (
        select assignments.*
        from {{ ref('stg_crm__lead_assignments') }} as assignments
        where assignments.assigned_at >= week_ranges.range_start
            and assignments.assigned_at < week_ranges.range_end
        offset 0 -- noqa: AM09
    ) as in_range
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

{#- activities per affected organization-week (idx_lead_activities_org_occurred_at): an
    activity's organization is its user's (a user works in one organization) #}

range_activities as materialized (
    select in_range.*
    from affected_weeks
    cross join lateral (
        select activities.*
        from {{ ref('stg_crm__lead_activities') }} as activities
        where activities.organization_id = affected_weeks.organization_id
            and activities.occurred_at >= affected_weeks.range_start
            and activities.occurred_at < affected_weeks.range_end
        offset 0 -- noqa: AM09
    ) as in_range
),

first_contacts as (
    {#- int_lead_first_contacts_joined for the affected weeks' assignments: the first outbound
        contact at or after the assignment (idx_lead_activities_lead_id) #}
    select
        assignments.assignment_id,
        assignments.to_user_id as user_id,
        assignments.assigned_at,
        extract(epoch from next_contact.first_contact_at - assignments.assigned_at) / 3600.0
            as hours_to_first_contact,
        coalesce(
            next_contact.first_contact_at <= assignments.assigned_at + interval '24 hours', false
        ) as is_contacted_within_24h
    from range_assignments as assignments
    inner join users on assignments.to_user_id = users.user_id
    inner join affected_weeks
        on users.organization_id = affected_weeks.organization_id
            and assignments.assigned_at >= affected_weeks.range_start
            and assignments.assigned_at < affected_weeks.range_end
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
    inner join affected_weeks
        on users.organization_id = affected_weeks.organization_id
            and history.changed_at >= affected_weeks.range_start
            and history.changed_at < affected_weeks.range_end
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
),

metrics as (
    select
        md5(user_weeks.user_id || '|' || user_weeks.week_start) as coaching_key,
        users.organization_id,
        user_weeks.user_id,
        users.user_name,
        user_weeks.week_start,
        user_weeks.leads_assigned,
        user_weeks.contacted_within_24h,
        {{ safe_divide('user_weeks.contacted_within_24h', 'user_weeks.leads_assigned') }}
            as contacted_within_24h_share,
        user_weeks.median_hours_to_first_contact::numeric as median_hours_to_first_contact,
        user_weeks.activities,
        user_weeks.leads_worked,
        {{ safe_divide('user_weeks.activities', 'user_weeks.leads_worked') }}
            as activities_per_lead,
        user_weeks.conversions,
        users.organization_name
    from user_weeks
    inner join users on user_weeks.user_id = users.user_id
),

final as (
    {#- Averages over the unrounded figures; rounding only for display. #}
    select
        coaching_key,
        organization_id,
        user_id,
        user_name,
        week_start,
        leads_assigned,
        contacted_within_24h,
        round(contacted_within_24h_share, 4) as contacted_within_24h_share,
        round(median_hours_to_first_contact, 2) as median_hours_to_first_contact,
        activities,
        leads_worked,
        round(activities_per_lead, 2) as activities_per_lead,
        conversions,
        round(avg(leads_assigned) over org_week, 2) as org_avg_leads_assigned,
        round(avg(contacted_within_24h_share) over org_week, 4)
            as org_avg_contacted_within_24h_share,
        round(avg(median_hours_to_first_contact) over org_week, 2)
            as org_avg_median_hours_to_first_contact,
        round(avg(activities_per_lead) over org_week, 2) as org_avg_activities_per_lead,
        round(avg(conversions) over org_week, 2) as org_avg_conversions,
        organization_name
    from metrics
    window org_week as (partition by organization_id, week_start)
)

select * from final
