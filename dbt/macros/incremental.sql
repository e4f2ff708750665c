{#- Incremental marts: each is updated per affected key (issue 21, "cost follows change").

    A mart's watermark is the row 'dbt:<mart>' of sync_watermarks (migration 016): the newest
    change time of the CRM tables (capped at now) when its last build ran, written by the
    mart's post-hook in the build's own transaction, so a failed build leaves it where it was.
    A run treats as changed every source row stamped after the watermark less the var
    marts_lookback (default 1 hour: rows are stamped when their transaction starts, so a long
    import can commit rows older than a change the previous run already saw).

    An incremental build:
    1. pre-hook `leadflow_replace_keys`: the keys the changed rows touch (the model's
       `affected_keys` SQL) into a temporary table `<mart>__affected`, deleted from the mart,
       and recorded in leadflow_build_scope for this invocation (the scoped tests read it);
    2. the model selects the rows of exactly those keys (it joins `<mart>__affected`), appended;
    3. post-hooks: row-level security (dbt_project.yml), then `leadflow_advance_watermark`.
    A first build or `--full-refresh` builds the whole table and stamps last_full_at. -#}

{#- The schema of the CRM tables (the dbt source `crm`). -#}
{% macro leadflow_crm_schema() -%}
    {{ adapter.quote(source('crm', 'leads').schema) }}
{%- endmacro %}

{#- Source rows stamped after this time count as changed for the model being built. -#}
{% macro leadflow_changed_since(model_name=none) -%}
    (
        select
            coalesce(max(watermarks.last_occurred_at), '-infinity'::timestamptz)
            - interval '{{ var("marts_lookback", "1 hour") }}'
        from {{ leadflow_crm_schema() }}.sync_watermarks as watermarks
        where watermarks.name = 'dbt:{{ model_name or this.identifier }}'
    )
{%- endmacro %}

{#- The newest change time of the tables the marts read, capped at now (a row stamped in the
    future is read again until its time has come). Each max() is one index probe. -#}
{% macro leadflow_source_high_water() -%}
    least(
        now(),
        greatest(
            (select max(updated_at) from {{ source('crm', 'leads') }}),
            (select max(changed_at) from {{ source('crm', 'lead_status_history') }}),
            (select max(calculated_at) from {{ source('crm', 'lead_score_history') }}),
            (select max(assigned_at) from {{ source('crm', 'lead_assignments') }}),
            (select max(loaded_at) from {{ source('crm', 'lead_activities') }}),
            (select max(matched_at) from {{ source('crm', 'lead_activities') }}),
            (select max(created_at) from {{ source('crm', 'lead_notes') }}),
            (select max(updated_at) from {{ source('crm', 'lead_source_costs') }}),
            (select max(updated_at) from {{ source('crm', 'users') }}),
            (select max(updated_at) from {{ source('crm', 'organizations') }}),
            (select max(updated_at) from {{ source('crm', 'source_aliases') }}),
            (select max(counted_at) from {{ source('crm', 'segment_count_history') }}),
            (select max(updated_at) from {{ source('crm', 'segments') }}),
            (select max(computed_at) from {{ source('crm', 'lead_recommendations') }}),
            (select max(trained_at) from {{ source('crm', 'lead_conversion_models') }})
        )
    )
{%- endmacro %}

{#- Post-hook of an incremental mart: its watermark, in the build's transaction. -#}
{% macro leadflow_advance_watermark() -%}
    insert into {{ leadflow_crm_schema() }}.sync_watermarks
        (name, last_occurred_at, last_full_at, updated_at)
    values (
        'dbt:{{ this.identifier }}',
        {{ leadflow_source_high_water() }},
        {% if is_incremental() %}null{% else %}now(){% endif %},
        now()
    )
    on conflict (name) do update
    set last_occurred_at = excluded.last_occurred_at,
        last_full_at = coalesce(excluded.last_full_at, sync_watermarks.last_full_at),
        updated_at = now()
{%- endmacro %}

{#- Pre-hook of an incremental mart: the keys `affected_keys` (a select with at least the
    column `key_column`, plus whatever grain columns the model filters its inputs by) into
    `<mart>__affected`; the mart's rows whose `key_expr` (default: the column `key_column`, the
    mart's unique key) is one of them deleted; the keys recorded for this invocation's scoped
    tests (leadflow_scope_key names the same expression). -#}
{% macro leadflow_replace_keys(affected_keys, key_column, key_expr=none) -%}
    {%- if is_incremental() -%}
    {%- set affected = this.identifier ~ '__affected' -%}
    create temporary table {{ affected }} on commit drop as
    select distinct * from ({{ affected_keys }}) as keys;
    analyze {{ affected }};
    delete from {{ this }}
    where {{ key_expr or key_column }} in (select {{ key_column }} from {{ affected }});
    {{ leadflow_record_scope('select ' ~ key_column ~ ' from ' ~ affected) }}
    {%- else -%}
    {{ leadflow_record_scope(none) }}
    {%- endif -%}
{%- endmacro %}

{#- The keys an invocation built of a mart, for its scoped tests (`leadflow_scope`); none: the
    whole mart (a first build or --full-refresh). Kept for a day. -#}
{% macro leadflow_record_scope(keys_sql) -%}
    insert into {{ leadflow_scope_table() }} (invocation_id, mart, scope_key)
    {%- if keys_sql %}
    select '{{ invocation_id }}', '{{ this.identifier }}', scoped.key::text
    from ({{ keys_sql }}) as scoped (key)
    {%- else %}
    values ('{{ invocation_id }}', '{{ this.identifier }}', null)
    {%- endif %}
{%- endmacro %}

{% macro leadflow_scope_table() -%}
    {{ adapter.quote('analytics_intermediate') }}.leadflow_build_scope
{%- endmacro %}

{#- on-run-start: the scope table, and the scopes of runs older than a day dropped. -#}
{% macro leadflow_prepare_scope() -%}
    create schema if not exists {{ adapter.quote('analytics_intermediate') }};
    create table if not exists {{ leadflow_scope_table() }} (
        invocation_id text not null,
        mart text not null,
        scope_key text,
        recorded_at timestamptz not null default now()
    );
    create index if not exists leadflow_build_scope_lookup
        on {{ leadflow_scope_table() }} (invocation_id, mart, scope_key);
    delete from {{ leadflow_scope_table() }} where recorded_at < now() - interval '1 day'
{%- endmacro %}

{#- Leads with a row of `tables` stamped after `since` (a SQL expression): one index range scan
    per table. -#}
{% macro leadflow_changed_leads(since, tables=('leads', 'status')) -%}
    {%- set selects = [] -%}
    {%- if 'leads' in tables -%}
    {%- do selects.append("select id as lead_id from " ~ source('crm', 'leads')
        ~ " where updated_at > " ~ since) -%}
    {%- endif -%}
    {%- if 'status' in tables -%}
    {%- do selects.append("select lead_id from " ~ source('crm', 'lead_status_history')
        ~ " where changed_at > " ~ since) -%}
    {%- endif -%}
    {%- if 'scores' in tables -%}
    {%- do selects.append("select lead_id from " ~ source('crm', 'lead_score_history')
        ~ " where calculated_at > " ~ since) -%}
    {%- endif -%}
    {%- if 'assignments' in tables -%}
    {%- do selects.append("select lead_id from " ~ source('crm', 'lead_assignments')
        ~ " where assigned_at > " ~ since) -%}
    {%- endif -%}
    {%- if 'activities' in tables -%}
    {%- do selects.append("select lead_id from " ~ source('crm', 'lead_activities')
        ~ " where lead_id is not null and loaded_at > " ~ since) -%}
    {%- do selects.append("select lead_id from " ~ source('crm', 'lead_activities')
        ~ " where lead_id is not null and matched_at > " ~ since) -%}
    {%- endif -%}
    {%- if 'notes' in tables -%}
    {%- do selects.append("select lead_id from " ~ source('crm', 'lead_notes')
        ~ " where created_at > " ~ since) -%}
    {%- endif -%}
    {{ selects | join('\n    union\n    ') }}
{%- endmacro %}

{#- Organizations whose row (name, timezone) or source aliases changed after `since`: every key
    of theirs is rebuilt. A global alias touches every organization. -#}
{% macro leadflow_changed_organizations(since) -%}
    select id as organization_id
    from {{ source('crm', 'organizations') }}
    where updated_at > {{ since }}
        or exists (
            select 1 from {{ source('crm', 'source_aliases') }} as aliases
            where aliases.updated_at > {{ since }}
                and (aliases.organization_id is null
                    or aliases.organization_id = organizations.id)
        )
{%- endmacro %}

{#- Users whose row (name, e-mail) changed after `since`: the keys naming them are rebuilt. -#}
{% macro leadflow_changed_users(since) -%}
    select id as user_id from {{ source('crm', 'users') }} where updated_at > {{ since }}
{%- endmacro %}
