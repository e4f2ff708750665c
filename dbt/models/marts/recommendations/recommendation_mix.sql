-- The recommendation mix per organization: how many leads get each action on each channel,
-- ranked by the model or by the rule score, beside the organization's latest model and its
-- holdout quality (AUC and Brier against the rule lead_score). Incremental per organization
-- (recommendation_mix_affected_keys): an organization's rows are rebuilt whole when its
-- recommendations or models changed; an organization whose recommendations were all deleted
-- keeps its rows until a --full-refresh.
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        indexes=[
            {'columns': ['recommendation_mix_key'], 'unique': true},
            {'columns': ['organization_id']},
        ],
        pre_hook="{{ leadflow_replace_keys(recommendation_mix_affected_keys(), 'affected_key',
            'organization_id::text') }}",
        post_hook="{{ leadflow_advance_watermark() }}",
    )
}}

with recommendations as (
    select * from {{ ref('stg_crm__lead_recommendations') }}
    {%- if is_incremental() %}
    where organization_id in (
            select affected.organization_id from recommendation_mix__affected as affected
        )
    {%- endif %}
),

latest_model as (
    select distinct on (organization_id) *
    from {{ ref('stg_crm__lead_conversion_models') }}
    order by organization_id asc, model_version desc
),

mix as (
    select
        organization_id,
        ranked_by,
        action,
        coalesce(channel, 'none') as channel,
        count(*) as leads,
        avg(propensity) as avg_propensity,
        count(*) filter (where agent_rank <= 10) as in_top_ten,
        max(computed_at) as computed_at
    from recommendations
    group by organization_id, ranked_by, action, coalesce(channel, 'none')
)

select
    md5(m.organization_id::text || '|' || m.ranked_by || '|' || m.action || '|' || m.channel)
        as recommendation_mix_key,
    m.organization_id,
    m.ranked_by,
    m.action,
    m.channel,
    m.leads,
    round(m.leads::numeric / sum(m.leads) over (partition by m.organization_id), 4)
        as share_of_leads,
    round(m.avg_propensity::numeric, 4) as avg_propensity,
    m.in_top_ten,
    lm.model_version,
    lm.model_status,
    lm.auc as model_auc,
    lm.baseline_auc as rule_auc,
    lm.brier as model_brier,
    lm.baseline_brier as rule_brier,
    lm.calibration_error,
    m.computed_at,
    organizations.organization_name
from mix as m
left join latest_model as lm on m.organization_id = lm.organization_id
left join {{ ref('stg_crm__organizations') }} as organizations
    on m.organization_id = organizations.organization_id
