{#- Weekly coaching figures per user (weeks start on Monday in the user's organization's
    timezone), each beside the organization's average over the users with a row that week.
    One row per user and week with an assignment, an activity or a conversion; live leads only. -#}
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

live_leads as (
    select
        lead_id,
        owner_user_id
    from {{ ref('stg_crm__leads') }}
    where not is_deleted
),

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
    from {{ ref('int_lead_first_contacts_joined') }} as assignments
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
    from {{ ref('stg_crm__lead_activities') }} as activities
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
    from {{ ref('stg_crm__lead_status_history') }} as history
    inner join live_leads on history.lead_id = live_leads.lead_id
    inner join users on live_leads.owner_user_id = users.user_id
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
