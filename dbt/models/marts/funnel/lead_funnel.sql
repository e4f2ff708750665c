{#- The lead funnel by organization, cohort month (created_at in the organization's timezone),
    source and current owner. Stages follow var funnel_stages (new -> contacted -> qualified ->
    nurturing -> hot -> recruited); a lead reached a stage if it was ever in it or in a later one,
    so every count is at most the one before it. cold and dnc are exits, counted apart.
    conv_<a>_to_<b> = reached_b / reached_a, cum_conv_to_<b> = reached_b / leads_entered (null
    when the denominator is 0); median_days_to_<b> = median over the leads that reached b of the
    days from created_at to that moment. Rates are rounded to 4 decimals, days to 4 (~9 s).
    Incremental per key (macros/affected_keys.sql): the cohorts every logged grain of a changed
    lead falls in, and every cohort of a changed organization or renamed owner. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        indexes=[
            {'columns': ['funnel_key'], 'unique': true},
            {'columns': ['organization_id', 'cohort_month']},
        ],
        pre_hook="{{ leadflow_replace_keys(lead_funnel_affected_keys(), 'funnel_key') }}",
        post_hook="{{ leadflow_advance_watermark() }}",
    )
}}
-- depends_on: {{ ref('int_lead_grains_logged') }}
{%- set stages = var('funnel_stages') %}

with leads as (
    select * from {{ ref('int_lead_stages_reached') }}
    {%- if is_incremental() %}
    where (organization_id, cohort_month) in (
            select
                affected.organization_id,
                affected.cohort_month
            from {{ this.identifier }}__affected as affected
        )
    {%- endif %}
),

organizations as (
    select * from {{ ref('stg_crm__organizations') }}
),

users as (
    select * from {{ ref('stg_crm__users') }}
),

per_lead as (
    select
        organization_id,
        cohort_month,
        source,
        owner_user_id,
        {%- for stage in stages[1:] %}
        reached_{{ stage }}_at,
        cast(
            extract(epoch from reached_{{ stage }}_at - created_at) / 86400 as double precision
        ) as days_to_{{ stage }},
        {%- endfor %}
        first_cold_at,
        first_dnc_at
    from leads
),

cohorts as (
    select
        organization_id,
        cohort_month,
        source,
        owner_user_id,
        cast(count(*) as integer) as leads_entered,
        cast(count(*) as integer) as reached_{{ stages[0] }},
        {%- for stage in stages[1:] %}
        cast(count(reached_{{ stage }}_at) as integer) as reached_{{ stage }},
        {%- endfor %}
        {%- for stage in stages[1:] %}
        percentile_cont(0.5) within group (order by days_to_{{ stage }})
            as median_days_to_{{ stage }},
        {%- endfor %}
        cast(count(first_cold_at) as integer) as exited_cold,
        cast(count(first_dnc_at) as integer) as exited_dnc
    from per_lead
    group by organization_id, cohort_month, source, owner_user_id
)

select
    {{ lead_funnel_key(
        'cohorts.organization_id', 'cohorts.cohort_month', 'cohorts.source', 'cohorts.owner_user_id'
    ) }} as funnel_key,
    cohorts.organization_id,
    organizations.organization_name,
    cohorts.cohort_month,
    cohorts.source,
    cohorts.owner_user_id,
    case
        when cohorts.owner_user_id is null then 'Unassigned'
        else coalesce(nullif(users.user_name, ''), users.user_email)
    end as owner_name,
    cohorts.leads_entered,
    {%- for stage in stages %}
    cohorts.reached_{{ stage }},
    {%- endfor %}
    cohorts.exited_cold,
    cohorts.exited_dnc,
    {%- for stage in stages %}{% if not loop.first %}
    round(
        {{ safe_divide('cohorts.reached_' ~ stage, 'cohorts.reached_' ~ loop.previtem) }}, 4
    ) as conv_{{ loop.previtem }}_to_{{ stage }},
    {%- endif %}{% endfor %}
    {%- for stage in stages[1:] %}
    round({{ safe_divide('cohorts.reached_' ~ stage, 'cohorts.leads_entered') }}, 4)
        as cum_conv_to_{{ stage }},
    {%- endfor %}
    {#- sqlfluff mis-indents a loop that ends a select list (sqlfluff issue 5371) #}
    -- noqa: disable=LT02
    {%- for stage in stages[1:] %}
    round(cast(cohorts.median_days_to_{{ stage }} as numeric), 4)
        as median_days_to_{{ stage }}{{ ',' if not loop.last }}
    {%- endfor %}
from cohorts -- noqa: enable=LT02
inner join organizations on cohorts.organization_id = organizations.organization_id
left join users on cohorts.owner_user_id = users.user_id
{%- if is_incremental() %}
where {{ lead_funnel_key(
    'cohorts.organization_id', 'cohorts.cohort_month', 'cohorts.source', 'cohorts.owner_user_id'
) }} in (select affected.funnel_key from {{ this.identifier }}__affected as affected)
{%- endif %}
