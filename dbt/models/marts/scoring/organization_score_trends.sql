{#- Score trends per organization and day or week (organization's timezone), over each live
    lead's last score in the period: the population of lead_score_trends, with the median and p90
    taken over all of the organization's leads at once. A leads-weighted mean of
    lead_score_trends' per source and owner medians is not a median (scores 10, 20 and 60 in one
    group and 90 in another give (3*20 + 90)/4 = 37.5; the median is 40), so organization-wide
    percentiles come from here. Incremental per (organization, period), as lead_score_trends. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        indexes=[
            {'columns': ['trend_key'], 'unique': true},
        ],
        pre_hook="{{ leadflow_replace_keys(score_trends_affected_keys('organization'), 'trend_key') }}",
        post_hook="{{ leadflow_advance_watermark() }}",
    )
}}
-- depends_on: {{ ref('int_lead_grains_logged') }}, {{ ref('stg_crm__lead_score_history') }}
with lead_periods as (
    select
        organization_id,
        period_type,
        period_start,
        score
    {%- if is_incremental() %}
    from ({{ score_trends_incremental_periods(by_grain=false) }}) as bucketed
    {%- else %}
    from {{ ref('int_lead_scores_bucketed') }}
    {%- endif %}
),

aggregated as (
    select
        {{ organization_score_trend_key('organization_id', 'period_type', 'period_start') }}
            as trend_key,
        organization_id,
        period_type,
        period_start,
        count(*) as leads_scored,
        round(avg(score), 2) as avg_score,
        round((percentile_cont(0.5) within group (order by score))::numeric, 2) as median_score,
        round((percentile_cont(0.9) within group (order by score))::numeric, 2) as p90_score
    from lead_periods
    group by organization_id, period_type, period_start
),

organizations as (
    select * from {{ ref('stg_crm__organizations') }}
)

select
    aggregated.*,
    organizations.organization_name
from aggregated
left join organizations on aggregated.organization_id = organizations.organization_id
