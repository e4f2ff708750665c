{#- Score trends per organization, source, owner and day or week (organization's timezone), over
    each lead's last score in the period. Source and owner are the lead's current ones, so a
    reassignment moves the lead's whole history. Incremental per key
    (score_trends_affected_keys in macros/affected_keys.sql): the periods a new score falls in or
    precedes, every period of a moved, reassigned or deleted lead under each grain it had, and
    the keys of renamed owners and changed organizations; a renamed top mover is renamed in place
    (post-hook lead_score_trends_rename_movers). -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        indexes=[
            {'columns': ['trend_key'], 'unique': true},
            {'columns': ['organization_id', 'period_type', 'period_start']},
            {'columns': ['top_riser_lead_id']},
            {'columns': ['top_faller_lead_id']},
        ],
        pre_hook="{{ leadflow_replace_keys(score_trends_affected_keys('lead'), 'trend_key') }}",
        post_hook=[
            "{{ lead_score_trends_rename_movers() }}",
            "{{ leadflow_advance_watermark() }}",
        ],
    )
}}
-- depends_on: {{ ref('int_lead_grains_logged') }}, {{ ref('stg_crm__lead_score_history') }}
with lead_periods as (
    select
        {{ lead_score_trend_key('organization_id', 'source', 'owner_user_id', 'period_type',
            'period_start') }} as trend_key,
        *
    {%- if is_incremental() %}
    from ({{ score_trends_incremental_periods(by_grain=true) }}) as bucketed
    {%- else %}
    from {{ ref('int_lead_scores_bucketed') }}
    {%- endif %}
),

aggregated as (
    {#- Top movers within the group's own aggregation (ordered array_agg), not by joining a
        ranking of every lead period back: one pass, whatever the planner estimates. #}
    select
        trend_key,
        organization_id,
        source,
        owner_user_id,
        period_type,
        period_start,
        count(*) as leads_scored,
        round(avg(score), 2) as avg_score,
        round((percentile_cont(0.5) within group (order by score))::numeric, 2) as median_score,
        round((percentile_cont(0.9) within group (order by score))::numeric, 2) as p90_score,
        round(avg(qualification_score), 2) as avg_qualification,
        round(avg(engagement_score), 2) as avg_engagement,
        round(avg(intent_score), 2) as avg_intent,
        round(avg(demographic_score), 2) as avg_demographic,
        (
            array_agg(lead_id order by score_delta desc, lead_id asc)
            filter (where score_delta > 0)
        )[1
        ] as top_riser_lead_id,
        max(score_delta) filter (where score_delta > 0) as top_riser_delta,
        (
            array_agg(lead_id order by score_delta asc, lead_id asc)
            filter (where score_delta < 0)
        )[1
        ] as top_faller_lead_id,
        min(score_delta) filter (where score_delta < 0) as top_faller_delta
    from lead_periods
    group by trend_key, organization_id, source, owner_user_id, period_type, period_start
),

organizations as (
    select * from {{ ref('stg_crm__organizations') }}
),

users as (
    select * from {{ ref('stg_crm__users') }}
),

{#- not materialized: the two joins probe the leads' primary key for the movers only #}

lead_names as not materialized (
    select
        id as lead_id,
        nullif(trim(concat_ws(' ', first_name, last_name)), '') as lead_name
    from {{ source('crm', 'leads') }}
),

final as (
    select
        aggregated.trend_key,
        aggregated.organization_id,
        aggregated.source,
        aggregated.owner_user_id,
        aggregated.period_type,
        aggregated.period_start,
        aggregated.leads_scored,
        aggregated.avg_score,
        aggregated.median_score,
        aggregated.p90_score,
        aggregated.avg_qualification,
        aggregated.avg_engagement,
        aggregated.avg_intent,
        aggregated.avg_demographic,
        aggregated.top_riser_lead_id,
        aggregated.top_riser_delta,
        aggregated.top_faller_lead_id,
        aggregated.top_faller_delta,
        organizations.organization_name,
        case
            when aggregated.owner_user_id is null then 'Unassigned'
            else coalesce(nullif(users.user_name, ''), users.user_email)
        end as owner_name,
        riser_names.lead_name as top_riser_lead_name,
        faller_names.lead_name as top_faller_lead_name
    from aggregated
    left join organizations on aggregated.organization_id = organizations.organization_id
    left join users on aggregated.owner_user_id = users.user_id
    left join lead_names as riser_names on aggregated.top_riser_lead_id = riser_names.lead_id
    left join lead_names as faller_names on aggregated.top_faller_lead_id = faller_names.lead_id
)

select * from final
