{#- Score trends per organization, source, owner and day or week (organization's timezone), over
    each lead's last score in the period. Source and owner are the lead's current ones, so a
    reassignment moves the lead's whole history. Incremental per key
    (score_trends_affected_keys in macros/affected_keys.sql): the periods a new score falls in or
    precedes, every period of a moved, reassigned or deleted lead under each grain it had, and
    the keys of renamed owners, top movers and changed organizations. -#}
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
        post_hook="{{ leadflow_advance_watermark() }}",
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
        round(avg(demographic_score), 2) as avg_demographic
    from lead_periods
    group by trend_key, organization_id, source, owner_user_id, period_type, period_start
),

risers as (
    select
        trend_key,
        lead_id,
        score_delta,
        row_number() over (
            partition by trend_key order by score_delta desc, lead_id asc
        ) as mover_rank
    from lead_periods
    where score_delta > 0
),

fallers as (
    select
        trend_key,
        lead_id,
        score_delta,
        row_number() over (
            partition by trend_key order by score_delta, lead_id
        ) as mover_rank
    from lead_periods
    where score_delta < 0
),

organizations as (
    select * from {{ ref('stg_crm__organizations') }}
),

users as (
    select * from {{ ref('stg_crm__users') }}
),

lead_names as (
    select
        lead_id,
        nullif(trim(concat_ws(' ', first_name, last_name)), '') as lead_name
    from {{ ref('stg_crm__leads') }}
),

final as (
    select
        aggregated.*,
        risers.lead_id as top_riser_lead_id,
        risers.score_delta as top_riser_delta,
        fallers.lead_id as top_faller_lead_id,
        fallers.score_delta as top_faller_delta,
        organizations.organization_name,
        case
            when aggregated.owner_user_id is null then 'Unassigned'
            else coalesce(nullif(users.user_name, ''), users.user_email)
        end as owner_name,
        riser_names.lead_name as top_riser_lead_name,
        faller_names.lead_name as top_faller_lead_name
    from aggregated
    left join risers on aggregated.trend_key = risers.trend_key and risers.mover_rank = 1
    left join fallers on aggregated.trend_key = fallers.trend_key and fallers.mover_rank = 1
    left join organizations on aggregated.organization_id = organizations.organization_id
    left join users on aggregated.owner_user_id = users.user_id
    left join lead_names as riser_names on risers.lead_id = riser_names.lead_id
    left join lead_names as faller_names on fallers.lead_id = faller_names.lead_id
)

select * from final
