{#- The keys each incremental model rebuilds (see incremental.sql): what the rows changed since
    the model's watermark touch, old grains included (int_lead_grains_logged). Called by the
    models' pre-hooks, at run time. -#}

{#- Leads whose row or status history changed, or whose grain was logged since. -#}
{% macro int_lead_stages_reached_affected_keys() -%}
    {{ leadflow_changed_leads(leadflow_changed_since(), ['leads', 'status']) }}
    union
    select lead_id from {{ ref('int_lead_grains_logged') }}
    where logged_at > {{ leadflow_changed_since() }}
{%- endmacro %}

{#- Every logged grain (organization, cohort month, source, owner) of a changed lead; every key
    of a changed organization (name, timezone, aliases) or of a renamed owner. -#}
{% macro lead_funnel_affected_keys() -%}
    {%- set since = leadflow_changed_since() -%}
    with changed_leads as (
        {{ leadflow_changed_leads(since, ['leads', 'status']) }}
    ),

    grains as (
        select distinct organization_id, cohort_month, source, owner_user_id
        from {{ ref('int_lead_grains_logged') }}
        where lead_id = any(array(select lead_id from changed_leads))
        union
        select organization_id, cohort_month, source, owner_user_id
        from {{ this }}
        where organization_id in ({{ leadflow_changed_organizations(since) }})
            or owner_user_id in ({{ leadflow_changed_users(since) }})
    )

    select
        {{ lead_funnel_key('organization_id', 'cohort_month', 'source', 'owner_user_id') }}
            as funnel_key,
        *
    from grains
{%- endmacro %}

{#- lead_funnel's key of a grain. -#}
{% macro lead_funnel_key(organization_id, cohort_month, source, owner_user_id) -%}
    md5(
        cast({{ organization_id }} as text)
        || '|' || to_char({{ cohort_month }}, 'YYYY-MM-DD')
        || '|' || {{ source }}
        || '|' || coalesce(cast({{ owner_user_id }} as text), 'unassigned')
    )
{%- endmacro %}

{#- source_roi's keys: the lead side as lead_funnel's, and the cost rows changed since. -#}
{% macro source_roi_affected_keys() -%}
    {%- set since = leadflow_changed_since() -%}
    with changed_leads as (
        {{ leadflow_changed_leads(since, ['leads', 'status']) }}
    ),

    grains as (
        select distinct organization_id, owner_user_id, source, cohort_month as month
        from {{ ref('int_lead_grains_logged') }}
        where lead_id = any(array(select lead_id from changed_leads))
        union
        select costs.organization_id, costs.user_id, costs.source, costs.cost_month
        from {{ ref('stg_crm__lead_source_costs') }} as costs
        where costs.updated_at > {{ since }}
        union
        select organization_id, owner_user_id, source, month
        from {{ this }}
        where organization_id in ({{ leadflow_changed_organizations(since) }})
            or owner_user_id in ({{ leadflow_changed_users(since) }})
    )

    select
        {{ source_roi_key('organization_id', 'owner_user_id', 'source', 'month') }} as roi_key,
        *
    from grains
{%- endmacro %}

{% macro source_roi_key(organization_id, owner_user_id, source, month) -%}
    md5(
        cast({{ organization_id }} as text)
        || '|' || coalesce(cast({{ owner_user_id }} as text), 'unassigned')
        || '|' || {{ source }}
        || '|' || to_char({{ month }}, 'YYYY-MM-DD')
    )
{%- endmacro %}
