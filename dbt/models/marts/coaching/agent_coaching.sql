{#- Weekly coaching figures per user (weeks start on Monday in the user's organization's
    timezone), each beside the organization's average over the users with a row that week.
    One row per user and week with an assignment, an activity or a conversion; live leads only.
    The figures come unrounded from int_coaching_user_weeks (incremental per user-week).
    Incremental per (organization, week) (agent_coaching_affected_keys): every user-week of the
    affected organization-weeks is read again from there, so the organization averages stay
    whole; that reads the small per-user table, not the inputs. -#}
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
-- depends_on: {{ ref('int_lead_grains_logged') }}
with users as (
    select
        users.user_id,
        users.user_name,
        organizations.organization_name
    from {{ ref('stg_crm__users') }} as users
    inner join {{ ref('stg_crm__organizations') }} as organizations
        on users.organization_id = organizations.organization_id
),

user_weeks as (
    select user_weeks.*
    from {{ ref('int_coaching_user_weeks') }} as user_weeks
    {%- if is_incremental() %}
    where {{ agent_coaching_week_key('user_weeks.organization_id', 'user_weeks.week_start') }}
        in (select affected.affected_key from agent_coaching__affected as affected)
    {%- endif %}
),

metrics as (
    select
        user_weeks.coaching_key,
        user_weeks.organization_id,
        user_weeks.user_id,
        users.user_name,
        user_weeks.week_start,
        user_weeks.leads_assigned,
        user_weeks.contacted_within_24h,
        {{ safe_divide('user_weeks.contacted_within_24h', 'user_weeks.leads_assigned') }}
            as contacted_within_24h_share,
        user_weeks.median_hours_to_first_contact,
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
