{#- One row per live lead, period type ('day', 'week') and period in which the lead got a score,
    periods in its organization's timezone (weeks start on Monday). Carries the lead's last score
    of the period with that score's factors, and its last score before the period: the last score
    of the lead's previous scored period, so a lag over the periods replaces any range lookup.

    A table, incremental per lead (delete+insert on lead_id, int_lead_scores_bucketed_affected_keys):
    a lead with a score stamped after the watermark, a logged grain (moved, reassigned, renamed
    source, soft-deleted) or a changed organization gets all its rows again. The score trend marts
    then aggregate the rows of their affected periods from here by index, instead of ranking the
    periods' scores again: an organization's periods (organization_score_trends) or only the
    touched grains of them (lead_score_trends), both by the index on (organization_id,
    period_type, period_start, source, owner_user_id). -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        indexes=[
            {'columns': ['lead_id', 'period_type', 'period_start'], 'unique': true},
            {'columns': ['organization_id', 'period_type', 'period_start', 'source', 'owner_user_id']},
        ],
        pre_hook="{{ leadflow_replace_keys(int_lead_scores_bucketed_affected_keys(), 'lead_id') }}",
        post_hook=[
            "{{ leadflow_ensure_index(['organization_id', 'period_type', 'period_start',"
            " 'source', 'owner_user_id'],"
            " replaces=['organization_id', 'period_type', 'period_start']) }}",
            "{{ leadflow_advance_watermark() }}",
        ],
    )
}}
-- depends_on: {{ ref('int_lead_grains_logged') }}

with leads as (
    select
        lead_id,
        organization_id,
        source,
        owner_user_id
    from {{ ref('stg_crm__leads') }}
    where not is_deleted
    {%- if is_incremental() %}
    and lead_id = any(
        array(select affected.lead_id from int_lead_scores_bucketed__affected as affected)
    )
    {%- endif %}
),

organizations as (
    select
        organization_id,
        organization_timezone
    from {{ ref('stg_crm__organizations') }}
),

scores as (
    select
        scores.score_id,
        scores.lead_id,
        leads.organization_id,
        leads.source,
        leads.owner_user_id,
        scores.score,
        scores.qualification_score,
        scores.engagement_score,
        scores.intent_score,
        scores.demographic_score,
        scores.calculated_at,
        {{ local_time('scores.calculated_at', 'organizations.organization_timezone') }}
            as calculated_at_local
    from {{ ref('stg_crm__lead_score_history') }} as scores
    inner join leads on scores.lead_id = leads.lead_id
    inner join organizations on leads.organization_id = organizations.organization_id
    {%- if is_incremental() %}
    where scores.lead_id = any(
            array(select affected.lead_id from int_lead_scores_bucketed__affected as affected)
        )
    {%- endif %}
),

bucketed as (
    select
        scores.*,
        periods.period_type,
        case periods.period_type
            when 'day' then scores.calculated_at_local::date
            else date_trunc('week', scores.calculated_at_local)::date
        end as period_start
    from scores
    cross join (values ('day'), ('week')) as periods (period_type)
),

ranked as (
    select
        *,
        row_number() over (
            partition by lead_id, period_type, period_start
            order by calculated_at desc, score_id desc
        ) as rank_in_period
    from bucketed
),

last_in_period as (
    select
        lead_id,
        organization_id,
        source,
        owner_user_id,
        period_type,
        period_start,
        score_id,
        score,
        qualification_score,
        engagement_score,
        intent_score,
        demographic_score,
        calculated_at,
        lag(score) over (
            partition by lead_id, period_type
            order by period_start
        ) as previous_score
    from ranked
    where rank_in_period = 1
),

final as (
    select
        *,
        score - previous_score as score_delta
    from last_in_period
)

select * from final
