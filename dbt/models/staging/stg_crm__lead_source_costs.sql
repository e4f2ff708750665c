with source as (
    select * from {{ source('crm', 'lead_source_costs') }}
),

renamed as (
    select
        id as source_cost_id,
        organization_id,
        user_id,
        coalesce(nullif(source, ''), 'unknown') as source,
        period,
        to_date(period, 'YYYY-MM') as cost_month,
        cost_usd,
        created_at,
        updated_at
    from source
)

select * from renamed
