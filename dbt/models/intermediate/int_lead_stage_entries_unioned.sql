{#- Every time a live lead entered a status, one row each: the lead's creation (its entry into
    `new` at created_at, whether or not a history row records it) and every status history row.
    entry_priority orders entries that share a timestamp: the creation first, then the history row
    that opened the lead's history (from_status null), then the others (by history row id), so a
    lead imported straight into `dnc` reads new -> dnc even when both rows carry the same time.
    No window functions and every CTE used once: the view stays inlinable, so lead_stage_history's
    incremental filter on lead_id reaches the indexes on leads and lead_status_history. -#}
with creations as (
    select
        lead_id,
        cast(null as uuid) as status_change_id,
        cast('new' as text) as stage,
        created_at as entered_at,
        0 as entry_priority
    from {{ ref('stg_crm__leads') }}
),

status_changes as (
    select
        lead_id,
        status_change_id,
        to_status as stage,
        changed_at as entered_at,
        case when from_status is null then 1 else 2 end as entry_priority
    from {{ ref('stg_crm__lead_status_history') }}
),

entries as (
    select * from creations
    union all
    select * from status_changes
),

live_leads as (
    select
        lead_id,
        organization_id,
        updated_at
    from {{ ref('stg_crm__leads') }}
    where not is_deleted
)

select
    entries.lead_id,
    live_leads.organization_id,
    entries.status_change_id,
    entries.stage,
    {{ funnel_stage_rank('entries.stage') }} as stage_rank,
    entries.entered_at,
    entries.entry_priority,
    live_leads.updated_at as lead_updated_at
from entries
inner join live_leads on entries.lead_id = live_leads.lead_id
