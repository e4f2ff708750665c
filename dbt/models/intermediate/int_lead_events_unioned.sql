{#- Every event of every live lead, one row each: status changes, score changes, assignments and
    matched activities and kept notes, with a one-line summary. Summaries name users but carry
    no lead data (a note event names its source, not its text).
    source_changed_at is the latest change time among the rows the event is built from (the event
    row, its lead and the users it names): lead_timeline's incremental watermark. -#}
with users as (
    select
        user_id,
        coalesce(nullif(user_name, ''), 'an unnamed user') as display_name,
        updated_at
    from {{ ref('stg_crm__users') }}
),

status_events as (
    select
        'status:' || history.status_change_id as event_key,
        history.lead_id,
        leads.organization_id,
        history.changed_at as occurred_at,
        'status_change' as event_type,
        history.to_status as event_subtype,
        history.changed_by_user_id as actor_user_id,
        'Status ' || coalesce(history.from_status || ' → ', '') || history.to_status
        || ' (' || history.trigger_type || ')' as summary,
        greatest(history.changed_at, leads.updated_at) as source_changed_at
    from {{ ref('stg_crm__lead_status_history') }} as history
    inner join {{ ref('stg_crm__leads') }} as leads
        on history.lead_id = leads.lead_id and not leads.is_deleted
),

scores as (
    select
        score_id,
        lead_id,
        score,
        calculated_at,
        lag(score) over (partition by lead_id order by calculated_at, score_id) as previous_score
    from {{ ref('stg_crm__lead_score_history') }}
),

score_events as (
    select
        'score:' || scores.score_id as event_key,
        scores.lead_id,
        leads.organization_id,
        scores.calculated_at as occurred_at,
        'score_change' as event_type,
        null::text as event_subtype,
        null::uuid as actor_user_id,
        case
            when scores.previous_score is null then 'Score ' || scores.score || ' (first score)'
            else 'Score ' || scores.previous_score || ' → ' || scores.score
                || ' (' || case when scores.score >= scores.previous_score then '+' else '' end
                || (scores.score - scores.previous_score) || ')'
        end as summary,
        greatest(scores.calculated_at, leads.updated_at) as source_changed_at
    from scores
    inner join {{ ref('stg_crm__leads') }} as leads
        on scores.lead_id = leads.lead_id and not leads.is_deleted
),

assignment_events as (
    select
        'assignment:' || assignments.assignment_id as event_key,
        assignments.lead_id,
        leads.organization_id,
        assignments.assigned_at as occurred_at,
        'assignment' as event_type,
        assignments.strategy as event_subtype,
        assignments.assigned_by_user_id as actor_user_id,
        case
            when assignments.from_user_id is null then 'Assigned to '
            else 'Reassigned from ' || coalesce(from_users.display_name, 'a removed user') || ' to '
        end
        || coalesce(to_users.display_name, 'a removed user')
        || ' (' || assignments.strategy || ')' as summary,
        greatest(
            assignments.assigned_at, leads.updated_at, from_users.updated_at, to_users.updated_at
        ) as source_changed_at
    from {{ ref('stg_crm__lead_assignments') }} as assignments
    inner join {{ ref('stg_crm__leads') }} as leads
        on assignments.lead_id = leads.lead_id and not leads.is_deleted
    left join users as from_users on assignments.from_user_id = from_users.user_id
    left join users as to_users on assignments.to_user_id = to_users.user_id
),

activities as (
    select
        *,
        case activity_type
            when 'sms' then 'SMS'
            when 'email' then 'e-mail'
            else activity_type
        end as type_label
    from {{ ref('stg_crm__lead_activities') }}
    where lead_id is not null
),

activity_events as (
    select
        'activity:' || activities.activity_id as event_key,
        activities.lead_id,
        leads.organization_id,
        activities.occurred_at,
        'activity' as event_type,
        activities.activity_type as event_subtype,
        activities.user_id as actor_user_id,
        concat_ws(
            ', ',
            case
                when activities.direction is null
                    then upper(left(activities.type_label, 1)) || substr(activities.type_label, 2)
                else initcap(activities.direction) || ' ' || activities.type_label
            end,
            replace(activities.outcome, '_', ' '),
            case
                when activities.duration_seconds >= 3600
                    then activities.duration_seconds / 3600 || 'h '
                        || activities.duration_seconds % 3600 / 60 || 'm'
                when activities.duration_seconds >= 60
                    then activities.duration_seconds / 60 || 'm '
                        || activities.duration_seconds % 60 || 's'
                when activities.duration_seconds is not null
                    then activities.duration_seconds || 's'
            end
        ) as summary,
        greatest(activities.loaded_at, activities.matched_at, leads.updated_at)
            as source_changed_at
    from activities
    inner join {{ ref('stg_crm__leads') }} as leads
        on activities.lead_id = leads.lead_id and not leads.is_deleted
),

note_events as (
    select
        'note:' || notes.lead_note_id as event_key,
        notes.lead_id,
        leads.organization_id,
        notes.created_at as occurred_at,
        'note' as event_type,
        null::text as event_subtype,
        null::uuid as actor_user_id,
        -- where the note came from, not its text (lead data: stg_crm__lead_notes has it)
        'Note kept from ' || notes.note_source as summary,
        greatest(notes.created_at, leads.updated_at) as source_changed_at
    from {{ ref('stg_crm__lead_notes') }} as notes
    inner join {{ ref('stg_crm__leads') }} as leads
        on notes.lead_id = leads.lead_id and not leads.is_deleted
),

unioned as (
    select * from status_events
    union all
    select * from score_events
    union all
    select * from assignment_events
    union all
    select * from activity_events
    union all
    select * from note_events
)

select * from unioned
