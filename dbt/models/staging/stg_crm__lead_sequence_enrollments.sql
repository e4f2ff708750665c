with source as (
    select * from {{ source('crm', 'lead_sequence_enrollments') }}
),

renamed as (
    select
        id as enrollment_id,
        lead_id,
        sequence_id,
        current_step,
        status::text as enrollment_status,
        enrolled_at,
        next_step_scheduled_at,
        completed_at,
        updated_at
    from source
)

select * from renamed
