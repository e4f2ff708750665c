{#- Incremental marts: each is updated per affected key (issue 21, "cost follows change").

    A mart's watermark is the row 'dbt:<mart>' of sync_watermarks (migration 016): its change
    floor, captured by the mart's pre-hook as the first thing its build does, and written by its
    post-hook in the build's own transaction, so a failed build leaves it where it was. The next
    build treats as changed every source row stamped after it.

    The change floor is exact, not a guess at how late a commit can be. A source row is stamped
    with the start of the transaction that writes it (now(), or a trigger's now()), and the
    build's reads see every transaction committed before them. So a row the build cannot see was
    written by a transaction open when the floor was captured (stamped at or after that
    transaction's start) or by one started later (stamped after the build's start): the floor is
    the earliest start among the client transactions open in the database then, or the build's
    own start if earlier. No row is read twice because a run was recent, and none is missed
    because a commit was late.
    One case is not exact: a session of another role that this role may not inspect
    (pg_stat_activity shows '<insufficient privilege>' without pg_read_all_stats). While such a
    session is connected the floor is moved back by the var marts_lookback (default 1 hour);
    grant the pipeline role pg_read_all_stats (or pg_monitor) to keep it exact (README,
    Production PostgreSQL). Watermarks written before this rule (state without 'rule') are read
    back less marts_lookback too.

    An incremental build:
    1. pre-hook `leadflow_replace_keys`: the change floor into `<mart>__floor`; the keys the
       changed rows touch (the model's `affected_keys` SQL) into a temporary table
       `<mart>__affected`, deleted from the mart, and recorded in leadflow_build_scope for this
       invocation (the scoped tests read it);
    2. the model selects the rows of exactly those keys (it joins `<mart>__affected`), appended;
    3. post-hooks: row-level security (dbt_project.yml), then `leadflow_advance_watermark`.
    A first build or `--full-refresh` builds the whole table and stamps last_full_at. -#}

{#- The schema of the CRM tables (the dbt source `crm`). -#}
{% macro leadflow_crm_schema() -%}
    {{ adapter.quote(source('crm', 'leads').schema) }}
{%- endmacro %}

{#- Source rows stamped after this time count as changed for the model being built; `fallback`
    (a SQL expression) when the model has no watermark row yet. -#}
{% macro leadflow_changed_since(model_name=none, fallback=none) -%}
    (
        select
            coalesce(
                max(
                    case
                        when watermarks.state ->> 'rule' = 'floor'
                            then watermarks.last_occurred_at
                        else watermarks.last_occurred_at
                            - interval '{{ var("marts_lookback", "1 hour") }}'
                    end
                ),
                {%- if fallback %}
                {{ fallback }},
                {%- endif %}
                '-infinity'::timestamptz
            )
        from {{ leadflow_crm_schema() }}.sync_watermarks as watermarks
        where watermarks.name = 'dbt:{{ model_name or this.identifier }}'
    )
{%- endmacro %}

{#- The change floor (see above), less a microsecond so that the rows of the oldest open
    transaction, stamped exactly at its start, count as changed next time. pg_stat_activity is
    read once per transaction: this must be the build transaction's first read of it. -#}
{% macro leadflow_change_floor() -%}
    (
        select
            least(
                now(),
                min(activity.xact_start) filter (
                    where activity.backend_type = 'client backend'
                )
            )
            - case
                when bool_or(
                    activity.query = '<insufficient privilege>'
                    and activity.usesysid is not null
                )
                    then interval '{{ var("marts_lookback", "1 hour") }}'
                else interval '0 seconds'
            end
            - interval '1 microsecond'
        from pg_catalog.pg_stat_activity as activity
        where activity.datname = current_database()
            and activity.pid <> pg_backend_pid()
            and (
                activity.xact_start is not null
                or activity.query = '<insufficient privilege>'
            )
    )
{%- endmacro %}

{#- Pre-hook, first statement of every incremental model's build: its change floor. -#}
{% macro leadflow_capture_floor() -%}
    create temporary table {{ this.identifier }}__floor on commit drop as
    select {{ leadflow_change_floor() }} as floor_at
{%- endmacro %}

{#- Post-hook of an incremental model: its watermark (the floor its pre-hook captured), in the
    build's transaction. -#}
{% macro leadflow_advance_watermark() -%}
    insert into {{ leadflow_crm_schema() }}.sync_watermarks
        (name, last_occurred_at, last_full_at, state, updated_at)
    values (
        'dbt:{{ this.identifier }}',
        (select floor_at from {{ this.identifier }}__floor),
        {% if is_incremental() %}null{% else %}now(){% endif %},
        '{"rule": "floor"}'::jsonb,
        now()
    )
    on conflict (name) do update
    set last_occurred_at = excluded.last_occurred_at,
        last_full_at = coalesce(excluded.last_full_at, sync_watermarks.last_full_at),
        state = excluded.state,
        updated_at = now()
{%- endmacro %}

{#- Pre-hook of an incremental mart: the keys `affected_keys` (a select with at least the
    column `key_column`, plus whatever grain columns the model filters its inputs by) into
    `<mart>__affected`; the mart's rows whose `key_expr` (default: the column `key_column`, the
    mart's unique key) is one of them deleted; the keys recorded for this invocation's scoped
    tests (leadflow_scope_key names the same expression). -#}
{% macro leadflow_replace_keys(affected_keys, key_column, key_expr=none) -%}
    {{ leadflow_capture_floor() }};
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

{#- Post-hook: a btree index on `columns` (in this order) of the model's table unless it has one.
    dbt creates a model's `indexes` only when it builds the table whole, so an index added to an
    incremental model reaches the tables already built here, on their next build (at 1M leads a
    few seconds, once). `replaces`: the columns of the plain (not unique) index it supersedes,
    dropped from a table built with it, so inserts stop paying for both. -#}
{% macro leadflow_ensure_index(columns, replaces=none) -%}
    {%- set column_list = columns | join(', ') -%}
    do $leadflow$
    declare
        superseded regclass;
    begin
        if not exists (
            select 1
            from pg_catalog.pg_index as i
            where i.indrelid = '{{ adapter.quote(this.schema) }}.{{ adapter.quote(this.identifier) }}'::regclass
                and pg_catalog.pg_get_indexdef(i.indexrelid) like '%USING btree ({{ column_list }})'
        ) then
            create index on {{ this }} ({{ column_list }});
        end if;
        {%- if replaces %}
        for superseded in
            select i.indexrelid::regclass
            from pg_catalog.pg_index as i
            where i.indrelid = '{{ adapter.quote(this.schema) }}.{{ adapter.quote(this.identifier) }}'::regclass
                and not i.indisunique
                and pg_catalog.pg_get_indexdef(i.indexrelid)
                like '%USING btree ({{ replaces | join(', ') }})'
        loop
            execute format('drop index %s', superseded);
        end loop;
        {%- endif %}
    end
    $leadflow$
{%- endmacro %}
