{#- Every grain a lead has had in the marts, one row each time it changed: organization, current
    owner, canonical source, cohort month (created_at in the organization's timezone) and whether
    the lead is soft-deleted, with logged_at: the change time of the rows that gave the lead that
    grain (the latest of the lead row's updated_at, its organization's and the source aliases'
    it could match), comparable with the marts' watermarks. An incremental mart
    rebuilds the keys of every logged grain of a changed lead, so a reassigned, moved or deleted
    lead leaves no stale row under its old key even when an earlier build failed half-way.

    Incremental (append): a run logs the grain of each lead whose row changed after the model's
    watermark (leads.updated_at; every update bumps it by trigger), or whose organization or
    source aliases changed (timezone, canonical source), when it differs from the lead's last
    logged grain. A hard-deleted lead or a deleted alias needs a --full-refresh. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        indexes=[
            {'columns': ['lead_id', 'logged_at']},
            {'columns': ['logged_at']},
        ],
        pre_hook="{{ leadflow_capture_floor() }}",
        post_hook="{{ leadflow_advance_watermark() }}",
    )
}}

with
{%- if is_incremental() %}
changed_leads as (
    select lead_id from ({{ leadflow_changed_leads(leadflow_changed_since(), ['leads']) }}) as c
    union
    select leads.id
    from {{ source('crm', 'leads') }} as leads
    where leads.organization_id in (
            {{ leadflow_changed_organizations(leadflow_changed_since()) }}
        )
),
{%- endif %}

alias_changes as (
    select
        organizations.organization_id,
        max(aliases.updated_at) as changed_at
    from {{ ref('stg_crm__organizations') }} as organizations
    inner join {{ ref('stg_crm__source_aliases') }} as aliases
        on organizations.organization_id = aliases.organization_id
            or aliases.organization_id is null
    group by organizations.organization_id
),

leads as (
    select
        leads.lead_id,
        leads.organization_id,
        leads.owner_user_id,
        leads.source,
        cast(
            date_trunc(
                'month', {{ local_time('leads.created_at', 'organizations.organization_timezone') }}
            )
            as date
        ) as cohort_month,
        leads.is_deleted,
        greatest(leads.updated_at, organizations.updated_at, alias_changes.changed_at)
            as logged_at
    from {{ ref('stg_crm__leads') }} as leads
    inner join {{ ref('stg_crm__organizations') }} as organizations
        on leads.organization_id = organizations.organization_id
    left join alias_changes on leads.organization_id = alias_changes.organization_id
    {%- if is_incremental() %}
    where leads.lead_id = any(array(select changed_leads.lead_id from changed_leads))
    {%- endif %}
)

select leads.*
from leads
{%- if is_incremental() %}
left join lateral (
select logged.*
from {{ this }} as logged
where logged.lead_id = leads.lead_id
order by logged.logged_at desc
limit 1
) as last_logged on true
where last_logged.lead_id is null
or (
    last_logged.organization_id, last_logged.owner_user_id, last_logged.source,
    last_logged.cohort_month, last_logged.is_deleted
)
is distinct from (
    leads.organization_id, leads.owner_user_id, leads.source,
    leads.cohort_month, leads.is_deleted
)
{%- endif %}
