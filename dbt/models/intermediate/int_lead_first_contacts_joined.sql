{#- One row per assignment of a live lead to an existing user, with the lead's first contact at
    or after the assignment. A contact is an outbound call, SMS, e-mail or meeting on the lead, by
    anyone. Set-based: assignments and contacts of a lead are put on one timeline and, walking it
    backwards, a running minimum of the contact times gives each assignment its next contact. -#}
with leads as (
    select
        lead_id,
        organization_id
    from {{ ref('stg_crm__leads') }}
    where not is_deleted
),

users as (
    select user_id
    from {{ ref('stg_crm__users') }}
),

assignments as (
    select
        assignments.assignment_id,
        assignments.lead_id,
        leads.organization_id,
        assignments.to_user_id as user_id,
        assignments.strategy,
        assignments.assigned_at
    from {{ ref('stg_crm__lead_assignments') }} as assignments
    inner join leads on assignments.lead_id = leads.lead_id
    inner join users on assignments.to_user_id = users.user_id
),

contacts as (
    select
        lead_id,
        occurred_at
    from {{ ref('stg_crm__lead_activities') }}
    where lead_id is not null
        and direction = 'outbound'
        and activity_type in ('call', 'sms', 'email', 'meeting')
),

lead_events as (
    select
        lead_id,
        assigned_at as event_at,
        assignment_id,
        null::timestamptz as contact_at
    from assignments
    union all
    select
        lead_id,
        occurred_at as event_at,
        null::uuid as assignment_id,
        occurred_at as contact_at
    from contacts
    where lead_id in (select lead_id from assignments)
),

next_contacts as (
    {#- Newest first, and a contact before an assignment of the same instant: the frame up to the
        current row then holds every contact at or after it. #}
    select
        assignment_id,
        min(contact_at) over (
            partition by lead_id
            order by event_at desc, contact_at is null
            rows between unbounded preceding and current row
        ) as first_contact_at
    from lead_events
),

final as (
    select
        assignments.assignment_id,
        assignments.lead_id,
        assignments.organization_id,
        assignments.user_id,
        assignments.strategy,
        assignments.assigned_at,
        next_contacts.first_contact_at,
        {{ first_contact_figures('next_contacts.first_contact_at', 'assignments.assigned_at') }}
    from assignments
    inner join next_contacts on assignments.assignment_id = next_contacts.assignment_id
)

select * from final
