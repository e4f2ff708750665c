{#- Source ROI by organization, owner, source and month. Each side is aggregated on its own first
    and the two are then full-outer-joined on (organization, user, source, month), so a month with
    spend and no leads (or leads and no spend) keeps its row and no cost is counted twice (the
    reference query joined costs to leads row by row and multiplied spend by the lead count).
    Leads: live leads by current owner, source and month of created_at in the organization's
    timezone; recruited = those ever recruited. Costs: lead_source_costs by user, source and period.
    Unassigned leads (owner null) never match spend, which always names a user.
    Sources are canonical (staging applies source_aliases to leads and costs alike), so spend and
    leads of one source meet whatever each was called. cost_usd is null where no spend was
    recorded ("no cost data", not free); a recorded cost of 0 stays 0.
    Money per lead / per recruit is rounded to cents, conversion_rate to 4 decimals.
    Incremental per key (macros/affected_keys.sql): every logged grain of a changed lead, the
    keys of cost rows changed since, every key of a changed organization or renamed owner. A
    deleted cost row, or a cost row moved to another user, source or month, needs a
    --full-refresh. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        indexes=[
            {'columns': ['roi_key'], 'unique': true},
            {'columns': ['organization_id', 'month']},
        ],
        pre_hook="{{ leadflow_replace_keys(source_roi_affected_keys(), 'roi_key') }}",
        post_hook="{{ leadflow_advance_watermark() }}",
    )
}}
-- depends_on: {{ ref('int_lead_grains_logged') }}
with leads as (
    select * from {{ ref('int_lead_stages_reached') }}
    {%- if is_incremental() %}
    where (organization_id, cohort_month) in (
            select
                affected.organization_id,
                affected.month
            from {{ this.identifier }}__affected as affected
        )
    {%- endif %}
),

costs as (
    select * from {{ ref('stg_crm__lead_source_costs') }}
    {%- if is_incremental() %}
    where (organization_id, cost_month) in (
            select
                affected.organization_id,
                affected.month
            from {{ this.identifier }}__affected as affected
        )
    {%- endif %}
),

users as (
    select * from {{ ref('stg_crm__users') }}
),

organizations as (
    select * from {{ ref('stg_crm__organizations') }}
),

lead_totals as (
    select
        organization_id,
        owner_user_id,
        source,
        cohort_month as month,
        count(*) as leads,
        count(reached_recruited_at) as recruited
    from leads
    group by organization_id, owner_user_id, source, cohort_month
),

cost_totals as (
    select
        organization_id,
        user_id,
        source,
        cost_month as month,
        sum(cost_usd) as cost_usd
    from costs
    group by organization_id, user_id, source, cost_month
),

joined as (
    select
        coalesce(lead_totals.organization_id, cost_totals.organization_id) as organization_id,
        coalesce(lead_totals.owner_user_id, cost_totals.user_id) as owner_user_id,
        coalesce(lead_totals.source, cost_totals.source) as source,
        coalesce(lead_totals.month, cost_totals.month) as month,
        cast(coalesce(lead_totals.leads, 0) as integer) as leads,
        cast(coalesce(lead_totals.recruited, 0) as integer) as recruited,
        cost_totals.cost_usd
    from lead_totals
    full outer join cost_totals
        on lead_totals.organization_id = cost_totals.organization_id
            and lead_totals.owner_user_id = cost_totals.user_id
            and lead_totals.source = cost_totals.source
            and lead_totals.month = cost_totals.month
)

select
    {{ source_roi_key(
        'joined.organization_id', 'joined.owner_user_id', 'joined.source', 'joined.month'
    ) }} as roi_key,
    joined.organization_id,
    joined.owner_user_id,
    case
        when joined.owner_user_id is null then 'Unassigned'
        else coalesce(nullif(users.user_name, ''), users.user_email)
    end as owner_name,
    joined.source,
    joined.month,
    joined.leads,
    joined.recruited,
    joined.cost_usd,
    round({{ safe_divide('joined.cost_usd', 'joined.leads') }}, 2) as cost_per_lead,
    round({{ safe_divide('joined.recruited', 'joined.leads') }}, 4) as conversion_rate,
    round({{ safe_divide('joined.cost_usd', 'joined.recruited') }}, 2) as cost_per_recruit,
    organizations.organization_name,
    joined.cost_usd is not null as has_cost_data
from joined
left join users on joined.owner_user_id = users.user_id
left join organizations on joined.organization_id = organizations.organization_id
{%- if is_incremental() %}
where {{ source_roi_key(
    'joined.organization_id', 'joined.owner_user_id', 'joined.source', 'joined.month'
) }} in (select affected.roi_key from {{ this.identifier }}__affected as affected)
{%- endif %}
