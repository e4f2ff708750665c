with source as (
    select * from {{ source('crm', 'lead_recommendations') }}
),

renamed as (
    select
        lead_id,
        organization_id,
        user_id,
        model_version,
        ranked_by,
        propensity,
        rule_score,
        agent_rank,
        action,
        channel,
        best_hour,
        computed_at
    from source
)

select * from renamed
