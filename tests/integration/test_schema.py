"""The migrated catalog matches the Epic 3 schema contract (tables, columns, constraints, indexes,
triggers, functions, row-level security). Reads the catalog, never the SQL files."""

from __future__ import annotations

import psycopg
import pytest

pytestmark = pytest.mark.integration

TS = "timestamptz"

# table -> {column: (type, nullable)}; types as rendered by _column_types().
COLUMNS: dict[str, dict[str, tuple[str, bool]]] = {
    "organizations": {
        "id": ("uuid", False),
        "name": ("text", False),
        "slug": ("text", True),
        "timezone": ("text", False),
        "created_at": (TS, False),
        "updated_at": (TS, False),
    },
    "users": {
        "id": ("uuid", False),
        "organization_id": ("uuid", False),
        "email": ("text", False),
        "first_name": ("text", True),
        "last_name": ("text", True),
        "role": ("text", False),
        "is_active": ("boolean", False),
        "created_at": (TS, False),
        "updated_at": (TS, False),
    },
    "leads": {
        "id": ("uuid", False),
        "organization_id": ("uuid", False),
        "user_id": ("uuid", True),
        "first_name": ("text", False),
        "last_name": ("text", False),
        "phone_number": ("varchar(20)", False),
        "email": ("text", True),
        "status": ("varchar(20)", False),
        "lead_score": ("integer", False),
        "tags": ("text[]", False),
        "source": ("text", True),
        "last_contact_date": (TS, True),
        "created_at": (TS, False),
        "updated_at": (TS, False),
        "deleted_at": (TS, True),
    },
    "lead_audit_log": {
        "id": ("uuid", False),
        "lead_id": ("uuid", False),
        "field_name": ("text", False),
        "old_value": ("text", True),
        "new_value": ("text", True),
        "changed_by": ("uuid", True),
        "change_source": ("text", True),
        "import_batch_id": ("uuid", True),
        "changed_at": (TS, False),
    },
    "lead_status_history": {
        "id": ("uuid", False),
        "lead_id": ("uuid", False),
        "from_status": ("varchar(20)", True),
        "to_status": ("varchar(20)", False),
        "trigger_type": ("varchar(30)", False),
        "changed_by": ("uuid", True),
        "notes": ("text", True),
        "changed_at": (TS, False),
    },
    "lead_score_history": {
        "id": ("uuid", False),
        "lead_id": ("uuid", False),
        "score": ("integer", False),
        "factors": ("jsonb", False),
        "calculated_at": (TS, False),
    },
    "lead_assignments": {
        "id": ("uuid", False),
        "lead_id": ("uuid", False),
        "from_user_id": ("uuid", True),
        "to_user_id": ("uuid", True),
        "strategy": ("varchar(30)", False),
        "reason": ("text", True),
        "assigned_by": ("uuid", True),
        "assigned_at": (TS, False),
    },
    "dnc_list": {
        "id": ("uuid", False),
        "organization_id": ("uuid", False),
        "phone_number": ("varchar(20)", False),
        "reason": ("text", True),
        "source": ("text", True),
        "added_by": ("uuid", True),
        "added_at": (TS, False),
    },
    "nurture_sequences": {
        "id": ("uuid", False),
        "organization_id": ("uuid", False),
        "name": ("text", False),
        "description": ("text", True),
        "steps": ("jsonb", False),
        "active": ("boolean", False),
        "created_at": (TS, False),
        "updated_at": (TS, False),
    },
    "lead_sequence_enrollments": {
        "id": ("uuid", False),
        "lead_id": ("uuid", False),
        "sequence_id": ("uuid", False),
        "current_step": ("integer", False),
        "status": ("varchar(20)", False),
        "enrolled_at": (TS, False),
        "next_step_scheduled_at": (TS, True),
        "completed_at": (TS, True),
        "updated_at": (TS, False),
    },
    "lead_source_costs": {
        "id": ("uuid", False),
        "organization_id": ("uuid", False),
        "user_id": ("uuid", False),
        "source": ("text", False),
        "period": ("char(7)", False),
        "cost_usd": ("numeric(10,2)", False),
        "created_at": (TS, False),
        "updated_at": (TS, False),
    },
    "segments": {
        "id": ("uuid", False),
        "organization_id": ("uuid", False),
        "user_id": ("uuid", True),
        "name": ("text", False),
        "description": ("text", True),
        "filter": ("jsonb", False),
        "lead_count": ("integer", False),
        "last_counted_at": (TS, True),
        "created_at": (TS, False),
        "updated_at": (TS, False),
    },
    "budget_transactions": {
        "id": ("uuid", False),
        "seq": ("bigint", False),
        "organization_id": ("uuid", False),
        "user_id": ("uuid", False),
        "transaction_type": ("varchar(20)", False),
        "amount_usd": ("numeric(12,2)", False),
        "balance_after_usd": ("numeric(12,2)", False),
        "description": ("text", True),
        "reference": ("text", True),
        "created_at": (TS, False),
    },
    "system_config": {
        "id": ("uuid", False),
        "organization_id": ("uuid", True),
        "config_key": ("text", False),
        "config_value": ("jsonb", False),
        "description": ("text", True),
        "updated_at": (TS, False),
    },
}

TABLES = list(COLUMNS)
EPIC3_TABLES = [t for t in TABLES if t not in ("organizations", "users")]
LEAD_CHILDREN = [
    "lead_audit_log",
    "lead_status_history",
    "lead_score_history",
    "lead_assignments",
    "lead_sequence_enrollments",
]

# (table, constraint) -> fragments its definition must contain
CHECKS: dict[tuple[str, str], list[str]] = {
    ("users", "users_role_check"): ["'admin'", "'manager'", "'agent'"],
    ("leads", "leads_status_check"): [
        f"'{s}'"
        for s in ("new", "contacted", "qualified", "nurturing", "hot", "cold", "recruited", "dnc")
    ],
    ("leads", "leads_lead_score_check"): ["lead_score >= 0", "lead_score <= 100"],
    ("leads", "leads_phone_number_e164_check"): ["phone_number", r"'^\+[1-9][0-9]{1,14}$'"],
    ("lead_status_history", "lead_status_history_from_status_check"): ["from_status", "'dnc'"],
    ("lead_status_history", "lead_status_history_to_status_check"): ["to_status", "'recruited'"],
    ("lead_status_history", "lead_status_history_trigger_type_check"): [
        "'manual'",
        "'import'",
        "'automation'",
        "'sequence'",
        "'dnc'",
        "'scoring'",
        "'assignment'",
        "'system'",
    ],
    ("lead_score_history", "lead_score_history_score_check"): ["score >= 0", "score <= 100"],
    ("lead_score_history", "lead_score_history_factors_check"): ["jsonb_typeof(factors)", "object"],
    ("lead_assignments", "lead_assignments_strategy_check"): [
        "'manual'",
        "'round_robin'",
        "'load_balanced'",
        "'weighted'",
        "'territory'",
        "'import'",
    ],
    ("dnc_list", "dnc_list_phone_number_e164_check"): [r"'^\+[1-9][0-9]{1,14}$'"],
    ("nurture_sequences", "nurture_sequences_steps_check"): ["jsonb_typeof(steps)", "array"],
    ("lead_sequence_enrollments", "lead_sequence_enrollments_current_step_check"): [
        "current_step >= 0"
    ],
    ("lead_sequence_enrollments", "lead_sequence_enrollments_status_check"): [
        "'active'",
        "'paused'",
        "'completed'",
        "'cancelled'",
        "'exited'",
    ],
    ("lead_source_costs", "lead_source_costs_period_check"): ["period", "0[1-9]|1[0-2]"],
    ("lead_source_costs", "lead_source_costs_cost_usd_check"): ["cost_usd >= "],
    ("segments", "segments_filter_check"): ["jsonb_typeof(filter)", "object"],
    ("segments", "segments_lead_count_check"): ["lead_count >= 0"],
    ("budget_transactions", "budget_transactions_transaction_type_check"): [
        "'deposit'",
        "'spend'",
        "'refund'",
        "'adjustment'",
    ],
    ("budget_transactions", "budget_transactions_amount_sign_check"): [
        "amount_usd > ",
        "amount_usd < ",
        "amount_usd <> ",
    ],
}

# (table, column) -> (referenced table, delete rule: c = cascade, n = set null)
FOREIGN_KEYS: dict[tuple[str, str], tuple[str, str]] = {
    ("users", "organization_id"): ("organizations", "c"),
    ("leads", "organization_id"): ("organizations", "c"),
    ("leads", "user_id"): ("users", "n"),
    ("lead_audit_log", "lead_id"): ("leads", "c"),
    ("lead_audit_log", "changed_by"): ("users", "n"),
    ("lead_status_history", "lead_id"): ("leads", "c"),
    ("lead_status_history", "changed_by"): ("users", "n"),
    ("lead_score_history", "lead_id"): ("leads", "c"),
    ("lead_assignments", "lead_id"): ("leads", "c"),
    ("lead_assignments", "from_user_id"): ("users", "n"),
    ("lead_assignments", "to_user_id"): ("users", "n"),
    ("lead_assignments", "assigned_by"): ("users", "n"),
    ("dnc_list", "organization_id"): ("organizations", "c"),
    ("dnc_list", "added_by"): ("users", "n"),
    ("nurture_sequences", "organization_id"): ("organizations", "c"),
    ("lead_sequence_enrollments", "lead_id"): ("leads", "c"),
    ("lead_sequence_enrollments", "sequence_id"): ("nurture_sequences", "c"),
    ("lead_source_costs", "organization_id"): ("organizations", "c"),
    ("lead_source_costs", "user_id"): ("users", "c"),
    ("segments", "organization_id"): ("organizations", "c"),
    ("segments", "user_id"): ("users", "n"),
    ("budget_transactions", "organization_id"): ("organizations", "c"),
    ("budget_transactions", "user_id"): ("users", "c"),
    ("system_config", "organization_id"): ("organizations", "c"),
}

# index -> (table, fragments of pg_indexes.indexdef, fragments it must NOT contain)
INDEXES: dict[str, tuple[str, list[str], list[str]]] = {
    "idx_users_org_email_unique": ("users", ["UNIQUE", "(organization_id, lower(email))"], []),
    "idx_leads_user_id": ("leads", ["btree (user_id)", "WHERE (deleted_at IS NULL)"], ["UNIQUE"]),
    "idx_leads_status": ("leads", ["btree (status)"], ["WHERE", "UNIQUE"]),
    "idx_leads_lead_score": ("leads", ["(lead_score DESC)"], ["WHERE"]),
    "idx_leads_phone_number": ("leads", ["btree (phone_number)"], ["WHERE", "UNIQUE"]),
    "idx_leads_tags": ("leads", ["USING gin (tags)"], []),
    "idx_leads_search_name": (
        "leads",
        ["USING gin", "first_name || ' '::text", "|| last_name", "gin_trgm_ops"],
        [],
    ),
    "idx_leads_phone_unique": (
        "leads",
        ["CREATE UNIQUE INDEX", "(phone_number, organization_id)", "WHERE (deleted_at IS NULL)"],
        [],
    ),
    "idx_leads_org_status": ("leads", ["(organization_id, status)"], ["WHERE"]),
    "idx_enrollments_next_step": (
        "lead_sequence_enrollments",
        ["(next_step_scheduled_at)", "WHERE", "'active'"],
        ["UNIQUE"],
    ),
    "idx_enrollments_live_unique": (
        "lead_sequence_enrollments",
        ["UNIQUE", "(lead_id, sequence_id)", "WHERE", "'active'", "'paused'"],
        [],
    ),
    "idx_enrollments_lead_id": ("lead_sequence_enrollments", ["(lead_id)"], ["WHERE"]),
    "idx_enrollments_sequence_id": ("lead_sequence_enrollments", ["(sequence_id)"], ["WHERE"]),
    "idx_lead_audit_log_lead_id": ("lead_audit_log", ["(lead_id, changed_at DESC)"], []),
    "idx_lead_status_history_lead_id": ("lead_status_history", ["(lead_id, changed_at DESC)"], []),
    "idx_lead_status_history_changed_at": ("lead_status_history", ["(changed_at)"], []),
    "idx_lead_score_history_lead_id": ("lead_score_history", ["(lead_id, calculated_at DESC)"], []),
    "idx_lead_assignments_lead_id": ("lead_assignments", ["(lead_id, assigned_at DESC)"], []),
    "dnc_list_org_phone_key": ("dnc_list", ["UNIQUE", "(organization_id, phone_number)"], []),
    "nurture_sequences_org_name_key": (
        "nurture_sequences",
        ["UNIQUE", "(organization_id, name)"],
        [],
    ),
    "lead_source_costs_user_source_period_key": (
        "lead_source_costs",
        ["UNIQUE", "(user_id, source, period)"],
        [],
    ),
    "idx_budget_transactions_user_seq": ("budget_transactions", ["UNIQUE", "(user_id, seq)"], []),
    "idx_system_config_org_key_unique": (
        "system_config",
        ["UNIQUE", "(organization_id, config_key)", "WHERE (organization_id IS NOT NULL)"],
        [],
    ),
    "idx_system_config_global_key_unique": (
        "system_config",
        ["UNIQUE", "(config_key)", "WHERE (organization_id IS NULL)"],
        [],
    ),
}

# Foreign keys whose cascades or tenant scans need an index led by that column.
INDEXED_FK_COLUMNS = [
    ("users", "organization_id"),
    ("leads", "organization_id"),
    ("dnc_list", "organization_id"),
    ("nurture_sequences", "organization_id"),
    ("lead_source_costs", "organization_id"),
    ("lead_source_costs", "user_id"),
    ("segments", "organization_id"),
    ("budget_transactions", "organization_id"),
    ("budget_transactions", "user_id"),
    ("system_config", "organization_id"),
    *[(child, "lead_id") for child in LEAD_CHILDREN],
    ("lead_sequence_enrollments", "sequence_id"),
]

UPDATED_AT_TABLES = [
    "organizations",
    "users",
    "nurture_sequences",
    "lead_sequence_enrollments",
    "lead_source_costs",
    "segments",
    "system_config",
]


@pytest.fixture(scope="module")
def conn(migrated_url: str):
    with psycopg.connect(migrated_url, autocommit=True) as connection:
        yield connection


def _column_types(conn: psycopg.Connection, table: str) -> dict[str, tuple[str, bool]]:
    rows = conn.execute(
        """
        select column_name, data_type, udt_name, character_maximum_length,
               numeric_precision, numeric_scale, is_nullable
        from information_schema.columns
        where table_schema = 'public' and table_name = %s
        """,
        (table,),
    ).fetchall()
    rendered = {}
    for name, data_type, udt, length, precision, scale, nullable in rows:
        if data_type == "character varying":
            kind = f"varchar({length})"
        elif data_type == "character":
            kind = f"char({length})"
        elif data_type == "numeric":
            kind = f"numeric({precision},{scale})"
        elif data_type == "ARRAY":
            kind = f"{udt.lstrip('_')}[]"
        elif data_type == "timestamp with time zone":
            kind = TS
        else:
            kind = data_type
        rendered[name] = (kind, nullable == "YES")
    return rendered


def test_every_table_exists(conn):
    present = {
        row[0]
        for row in conn.execute(
            "select table_name from information_schema.tables"
            " where table_schema = 'public' and table_type = 'BASE TABLE'"
        )
    }
    assert set(TABLES) <= present, sorted(set(TABLES) - present)


@pytest.mark.parametrize("table", TABLES)
def test_columns_have_contract_types_and_nullability(conn, table):
    actual = _column_types(conn, table)
    expected = COLUMNS[table]
    missing = sorted(set(expected) - set(actual))
    assert not missing, f"{table} lacks {missing}"
    wrong = {c: (actual[c], want) for c, want in expected.items() if actual[c] != want}
    assert not wrong, f"{table}: (actual, expected) {wrong}"


@pytest.mark.parametrize("table", TABLES)
def test_primary_key_is_uuid_id_defaulting_to_gen_random_uuid(conn, table):
    pk = conn.execute(
        """
        select pg_get_constraintdef(c.oid) from pg_constraint c
        where c.conrelid = %s::regclass and c.contype = 'p'
        """,
        (f"public.{table}",),
    ).fetchone()
    assert pk == ("PRIMARY KEY (id)",)
    default = conn.execute(
        "select column_default from information_schema.columns"
        " where table_schema = 'public' and table_name = %s and column_name = 'id'",
        (table,),
    ).fetchone()[0]
    assert default == "gen_random_uuid()"


@pytest.mark.parametrize(("table", "name"), list(CHECKS))
def test_check_constraint_exists(conn, table, name):
    row = conn.execute(
        """
        select pg_get_constraintdef(c.oid) from pg_constraint c
        where c.conrelid = %s::regclass and c.conname = %s and c.contype = 'c'
        """,
        (f"public.{table}", name),
    ).fetchone()
    assert row is not None, f"missing check {table}.{name}"
    for fragment in CHECKS[(table, name)]:
        assert fragment in row[0], f"{name}: {fragment!r} not in {row[0]}"


@pytest.mark.parametrize(("table", "column"), list(FOREIGN_KEYS))
def test_foreign_key_and_delete_rule(conn, table, column):
    rows = conn.execute(
        """
        select c.confrelid::regclass::text, c.confdeltype
        from pg_constraint c
        join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
        where c.contype = 'f' and c.conrelid = %s::regclass
          and cardinality(c.conkey) = 1 and a.attname = %s
        """,
        (f"public.{table}", column),
    ).fetchall()
    assert rows == [FOREIGN_KEYS[(table, column)]], f"{table}.{column}: {rows}"


def test_unique_keys(conn):
    uniques = {
        (row[0], row[1])
        for row in conn.execute(
            """
            select cl.relname, pg_get_constraintdef(c.oid) from pg_constraint c
            join pg_class cl on cl.oid = c.conrelid
            where c.contype = 'u' and cl.relnamespace = 'public'::regnamespace
            """
        )
    }
    assert ("organizations", "UNIQUE (slug)") in uniques
    assert ("dnc_list", "UNIQUE (organization_id, phone_number)") in uniques
    assert ("nurture_sequences", "UNIQUE (organization_id, name)") in uniques
    assert ("lead_source_costs", "UNIQUE (user_id, source, period)") in uniques
    # The reference's global `unique (phone_number)` on dnc_list must not exist.
    assert not any(t == "dnc_list" and d == "UNIQUE (phone_number)" for t, d in uniques)


@pytest.mark.parametrize("name", list(INDEXES))
def test_named_index_definition(conn, name):
    table, present, absent = INDEXES[name]
    row = conn.execute(
        "select tablename, indexdef from pg_indexes where schemaname = 'public' and indexname = %s",
        (name,),
    ).fetchone()
    assert row is not None, f"missing index {name}"
    assert row[0] == table
    for fragment in present:
        assert fragment in row[1], f"{name}: {fragment!r} not in {row[1]}"
    for fragment in absent:
        assert fragment not in row[1], f"{name}: unexpected {fragment!r} in {row[1]}"


@pytest.mark.parametrize(("table", "column"), INDEXED_FK_COLUMNS)
def test_foreign_key_columns_lead_an_index(conn, table, column):
    leading = conn.execute(
        """
        select count(*) from pg_index i
        join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
        where i.indrelid = %s::regclass and a.attname = %s and i.indpred is null
        """,
        (f"public.{table}", column),
    ).fetchone()[0]
    # system_config's only organization_id index is partial (where organization_id is not
    # null), which the planner proves for `organization_id = $1`.
    if table == "system_config":
        leading += conn.execute(
            """
            select count(*) from pg_index i
            join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
            where i.indrelid = 'public.system_config'::regclass and a.attname = %s
              and pg_get_expr(i.indpred, i.indrelid) = '(organization_id IS NOT NULL)'
            """,
            (column,),
        ).fetchone()[0]
    assert leading >= 1, f"no index led by {table}.{column}"


def test_leads_trigger_and_function_from_the_reference(conn):
    trigger = conn.execute(
        """
        select tgrelid::regclass::text, tgfoid::regproc::text, tgtype, tgenabled
        from pg_trigger where tgname = 'trigger_leads_updated_at' and not tgisinternal
        """
    ).fetchone()
    assert trigger is not None
    table, function, tgtype, enabled = trigger
    assert (table, function, enabled) == ("leads", "update_leads_updated_at", "O")
    # tgtype bits: 1 = row, 2 = before, 16 = update
    assert tgtype & 1 and tgtype & 2 and tgtype & 16 and not tgtype & 4
    body = conn.execute(
        "select prosrc, prorettype::regtype::text from pg_proc"
        " where proname = 'update_leads_updated_at' and pronamespace = 'public'::regnamespace"
    ).fetchone()
    assert body[1] == "trigger"
    assert "updated_at" in body[0]


@pytest.mark.parametrize("table", UPDATED_AT_TABLES)
def test_updated_at_trigger_on_tables_with_updated_at(conn, table):
    row = conn.execute(
        """
        select tgfoid::regproc::text from pg_trigger
        where tgrelid = %s::regclass and not tgisinternal and tgtype & 16 <> 0
          and tgname like '%%updated_at'
        """,
        (f"public.{table}",),
    ).fetchone()
    assert row == ("set_updated_at",)


def test_ledger_triggers(conn):
    rows = dict(
        conn.execute(
            """
            select tgfoid::regproc::text, tgtype from pg_trigger
            where tgrelid = 'public.budget_transactions'::regclass and not tgisinternal
            """
        ).fetchall()
    )
    assert rows["budget_transactions_apply_balance"] & (2 | 4) == 6  # before insert
    assert rows["budget_transactions_append_only"] & (2 | 8 | 16) == 26  # before update, delete
    assert conn.execute(
        "select attidentity from pg_attribute"
        " where attrelid = 'public.budget_transactions'::regclass and attname = 'seq'"
    ).fetchone() == ("a",)
    assert conn.execute(
        "select to_regprocedure('public.budget_balance(uuid)') is not null"
    ).fetchone() == (True,)


def test_is_on_dnc_list_runs_with_the_callers_rights_and_a_pinned_search_path(conn):
    row = conn.execute(
        """
        select prosecdef, provolatile, proconfig, prorettype::regtype::text,
               pg_get_function_identity_arguments(oid), proacl::text
        from pg_proc where oid = to_regprocedure('public.is_on_dnc_list(text, uuid)')
        """
    ).fetchone()
    assert row is not None, "is_on_dnc_list(text, uuid) missing"
    secdef, volatility, config, returns, arguments, acl = row
    assert secdef is False  # the caller's row-level security decides (migration 011)
    assert volatility == "s"
    assert returns == "boolean"
    assert arguments == "p_phone text, p_org uuid"
    assert "search_path=pg_catalog, pg_temp" in config
    assert not any(entry.startswith("=") for entry in acl.strip("{}").split(","))  # no PUBLIC
    assert "leadflow_app=X/" in acl and "leadflow_pipeline=X/" in acl


def test_every_security_definer_function_pins_its_search_path(conn):
    rows = conn.execute(
        """
        select p.oid::regprocedure::text, p.proconfig from pg_proc p
        where p.pronamespace = 'public'::regnamespace and p.prosecdef
        """
    ).fetchall()
    assert rows  # the budget ledger trigger
    for function, config in rows:
        assert config and "search_path=pg_catalog, pg_temp" in config, function


def test_rls_forced_on_every_tenant_table_with_a_pipeline_policy(conn):
    rows = dict(
        (name, (enabled, forced))
        for name, enabled, forced in conn.execute(
            """
            select relname, relrowsecurity, relforcerowsecurity from pg_class
            where relnamespace = 'public'::regnamespace and relkind = 'r'
            """
        )
    )
    pipeline = {
        table
        for (table,) in conn.execute(
            "select tablename from pg_policies where schemaname = 'public'"
            " and policyname = 'pipeline_access' and roles = '{leadflow_pipeline}'"
            " and qual = 'true' and with_check = 'true'"
        )
    }
    for table in TABLES:
        assert rows[table] == (True, True), f"{table}: (enabled, forced) = {rows[table]}"
        assert table in pipeline, f"{table} has no pipeline_access policy"


@pytest.mark.parametrize("table", TABLES)
def test_policy_restricts_reads_and_writes(conn, table):
    policies = conn.execute(
        "select policyname, cmd, permissive, qual, with_check from pg_policies"
        " where schemaname = 'public' and tablename = %s",
        (table,),
    ).fetchall()
    assert policies, f"no policy on {table}"
    name = "tenant_isolation_policy"
    main = {p[0]: p for p in policies}.get(name)
    assert main is not None, f"{table} lacks {name}: {policies}"
    _, cmd, permissive, qual, with_check = main
    assert cmd == "ALL" and permissive == "PERMISSIVE"
    assert qual and with_check, f"{table}.{name} must have USING and WITH CHECK"
    if table in LEAD_CHILDREN:
        assert "FROM leads" in qual and "FROM leads" in with_check
    else:
        setting = "app.current_tenant_id"
        assert setting in qual and setting in with_check
        assert "NULLIF" in qual.upper()
    # Any other policy (system_config's global defaults) is read-only, but the pipeline's.
    for other_name, other_cmd, *_ in policies:
        if other_name not in (name, "pipeline_access"):
            assert other_cmd == "SELECT", f"{table}.{other_name} must be select-only"


@pytest.mark.parametrize("table", TABLES)
def test_tables_are_commented(conn, table):
    comment = conn.execute(
        "select obj_description(%s::regclass, 'pg_class')", (f"public.{table}",)
    ).fetchone()[0]
    assert comment, f"{table} has no comment"


def test_pg_trgm_installed(conn):
    assert conn.execute("select 1 from pg_extension where extname = 'pg_trgm'").fetchone()
