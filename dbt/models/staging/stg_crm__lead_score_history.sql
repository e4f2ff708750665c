with source as (
    select * from {{ source('crm', 'lead_score_history') }}
),

renamed as (
    select
        id as score_id,
        lead_id,
        score,
        factors,
        (factors ->> 'qualification')::numeric as qualification_score,
        (factors ->> 'engagement')::numeric as engagement_score,
        (factors ->> 'intent')::numeric as intent_score,
        (factors ->> 'demographic')::numeric as demographic_score,
        calculated_at
    from source
)

select * from renamed
