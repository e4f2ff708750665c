with source as (
    select * from {{ source('crm', 'lead_conversion_models') }}
),

renamed as (
    select
        id as model_id,
        organization_id,
        version as model_version,
        status as model_status,
        trained_at,
        horizon_days,
        (metrics ->> 'auc')::numeric as auc,
        (baseline ->> 'auc')::numeric as baseline_auc,
        (metrics ->> 'brier')::numeric as brier,
        (baseline ->> 'brier')::numeric as baseline_brier,
        (metrics ->> 'calibration_error')::numeric as calibration_error,
        (metrics ->> 'holdout_leads')::integer as holdout_leads
    from source
)

select * from renamed
