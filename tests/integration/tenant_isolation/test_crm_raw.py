"""The raw CRM tables (issue 18, items 7 and 9): only the mapped fields are kept, whatever a CRM
answers; the tables are closed to every role but the pipeline's and isolated per organization;
the CLI's per-organization work runs with its tenant set."""

from __future__ import annotations

import json

import psycopg
import pytest
from psycopg import sql

from leadflow.crmsync.connections import save_connection
from leadflow.crmsync.sync import sync_connection
from leadflow.platform.crm_sandbox import custom_fields, generate_records, sandbox
from leadflow.platform.migrations import migrate_down, migrate_up
from tests.conftest import run_leadflow
from tests.integration.tenant_isolation.conftest import ORG_A, ORG_B
from tests.integration.tenant_isolation.crm_support import allow, hostport

pytestmark = pytest.mark.integration

RAW = {
    "hubspot": ("raw_hubspot", "contacts"),
    "salesforce": ("raw_salesforce", "leads"),
    "pipedrive": ("raw_pipedrive", "persons"),
}


def _columns(conn: psycopg.Connection, vendor: str) -> list[str]:
    schema, table = RAW[vendor]
    return [
        row[0]
        for row in conn.execute(
            "select column_name from information_schema.columns"
            " where table_schema = %s and table_name = %s order by ordinal_position",
            (schema, table),
        )
    ]


def _connect(crm_url: str, server, org: str, variable: str, name: str):
    with psycopg.connect(crm_url) as conn:
        return save_connection(
            conn,
            organization=org,
            vendor=server.vendor,
            name=name,
            base_url=server.base_url,
            secret_env=variable,
        )


@pytest.mark.parametrize("vendor", ["hubspot", "salesforce", "pipedrive"])
def test_two_thousand_unknown_keys_never_reach_the_raw_table(vendor, crm_url, connect, monkeypatch):
    """The CRM answers every record with 2,000 keys nobody mapped (a candidate's sensitive
    custom fields): the raw table's columns do not change and none of them is stored."""
    token = f"{vendor}-raw-token-1f2e"
    monkeypatch.setenv(f"LEADFLOW_CRM_{vendor.upper()}_A", token)
    extra = custom_fields(vendor, 2000, seed=9)
    with sandbox(vendor, token=token) as server:
        allow(monkeypatch, server)
        server.add(generate_records(vendor, 25, seed=9))
        server.inject_keys(extra)
        connection = _connect(crm_url, server, ORG_A, f"LEADFLOW_CRM_{vendor.upper()}_A", "a")
        with connect() as conn:
            before = _columns(conn, vendor)
        result = sync_connection(connect, crm_url, connection)
    assert result["status"] == "succeeded", result.get("error")
    with connect() as conn:
        after = _columns(conn, vendor)
        schema, table = RAW[vendor]
        stored = conn.execute(
            sql.SQL(
                "select count(*), count(*) filter (where t::text like '%%sensitive-%%') from {} t"
            ).format(sql.Identifier(schema, table))
        ).fetchone()
    assert len(after) == len(before), f"{len(before)} -> {len(after)} columns in {schema}.{table}"
    assert not set(after) & {key.lower() for key in extra}
    assert stored == (25, 0)
    assert result["load"]["rows_read"] == 25


def test_pipedrive_custom_fields_of_the_records_are_not_stored(crm_url, connect, monkeypatch):
    """The realistic case: the account's persons carry 300 custom fields (40-hex keys)."""
    monkeypatch.setenv("PIPEDRIVE_TOKEN_A", "pd-raw-token-77")
    with sandbox("pipedrive", token="pd-raw-token-77") as server:
        allow(monkeypatch, server)
        server.add(generate_records("pipedrive", 25, seed=2, extra_fields=300))
        connection = _connect(crm_url, server, ORG_A, "PIPEDRIVE_TOKEN_A", "a")
        result = sync_connection(connect, crm_url, connection)
    assert result["status"] == "succeeded", result.get("error")
    with connect() as conn:
        columns = _columns(conn, "pipedrive")
    assert len(columns) < 20, f"{len(columns)} columns in raw_pipedrive.persons"


def test_raw_rows_carry_their_organization_and_no_role_reads_another_tenants(
    crm_url, connect, make_role, monkeypatch
):
    """Two organizations' records in the one raw table: each row says whose it is, and even a
    role granted SELECT on the table by mistake sees only its tenant's rows."""
    monkeypatch.setenv("HUBSPOT_TOKEN_A", "hs-a-token-1234")
    monkeypatch.setenv("HUBSPOT_TOKEN_B", "hs-b-token-5678")
    with (
        sandbox("hubspot", token="hs-a-token-1234") as crm_a,
        sandbox("hubspot", token="hs-b-token-5678") as crm_b,
    ):
        allow(monkeypatch, crm_a, crm_b)
        crm_a.add(generate_records("hubspot", 30, seed=1))
        crm_b.add(generate_records("hubspot", 40, seed=2))
        a = _connect(crm_url, crm_a, ORG_A, "HUBSPOT_TOKEN_A", "a")
        b = _connect(crm_url, crm_b, ORG_B, "HUBSPOT_TOKEN_B", "b")
        assert sync_connection(connect, crm_url, a)["status"] == "succeeded"
        assert sync_connection(connect, crm_url, b)["status"] == "succeeded"
    url = make_role("app")
    role = psycopg.conninfo.conninfo_to_dict(url)["user"]
    with psycopg.connect(crm_url) as conn:  # the mistake: a grant on the raw table
        conn.execute(
            sql.SQL("grant usage on schema raw_hubspot to {}").format(sql.Identifier(role))
        )
        conn.execute(
            sql.SQL("grant select on raw_hubspot.contacts to {}").format(sql.Identifier(role))
        )
    with psycopg.connect(url, autocommit=True) as tenant:
        count = "select count(*) from raw_hubspot.contacts where connection_id = %s"
        tenant.execute("select set_config('app.current_tenant_id', %s, false)", (ORG_B,))
        assert tenant.execute(count, (a.id,)).fetchone() == (0,)
        assert tenant.execute(count, (b.id,)).fetchone() == (40,)
        tenant.execute("select set_config('app.current_tenant_id', '', false)")
        assert tenant.execute("select count(*) from raw_hubspot.contacts").fetchone() == (0,)
    with connect() as conn:
        owners = dict(
            conn.execute(
                "select connection_id, min(organization_id) from raw_hubspot.contacts"
                " group by connection_id"
            ).fetchall()
        )
    assert owners == {a.id: ORG_A, b.id: ORG_B}


def test_the_raw_tables_are_closed_to_every_role_but_the_pipelines(crm_url, app_url):
    with psycopg.connect(crm_url) as conn:
        for vendor, (schema, table) in RAW.items():
            assert conn.execute("select to_regclass(%s)", (f"{schema}.{table}",)).fetchone()[0]
            roles = ("analyst", "leadflow_app", "public")
            for role in roles:
                if (
                    role != "public"
                    and not conn.execute(
                        "select 1 from pg_roles where rolname = %s", (role,)
                    ).fetchone()
                ):
                    continue  # no analyst group where the owner could not create it
                assert conn.execute(
                    "select has_schema_privilege(%s, %s, 'usage'),"
                    " has_table_privilege(%s, %s, 'select')",
                    (role, schema, role, f"{schema}.{table}"),
                ).fetchone() == (False, False), (vendor, role)
            assert conn.execute(
                "select relrowsecurity from pg_class where oid = %s::regclass",
                (f"{schema}.{table}",),
            ).fetchone() == (True,)
    with psycopg.connect(app_url) as conn:
        for schema, table in RAW.values():
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql.SQL("select * from {}").format(sql.Identifier(schema, table)))
            conn.rollback()


def test_the_application_role_reads_status_but_cannot_pull(crm_url, app_url, monkeypatch):
    """`crm status --org` works as the application role (its tenant set per transaction); `crm
    sync` says it needs the pipeline role, without a traceback and before any request."""
    monkeypatch.setenv("HUBSPOT_TOKEN_A", "hs-a-token-app-1")
    with sandbox("hubspot", token="hs-a-token-app-1") as server:
        allow(monkeypatch, server)
        server.add(generate_records("hubspot", 10, seed=1))
        _connect(crm_url, server, ORG_A, "HUBSPOT_TOKEN_A", "a")
        env = {"POSTGRES_URL": app_url, "LEADFLOW_CRM_ALLOWED_HOSTS": hostport(server)}
        status = run_leadflow("crm", "status", "--org", ORG_A, "--json", env=env)
        assert status.returncode == 0, status.stderr
        [state] = json.loads(status.stdout)["connections"]
        assert state["connection"] == "a" and state["secret_env"] == "HUBSPOT_TOKEN_A"
        synced = run_leadflow("crm", "sync", "--org", ORG_A, "--json", env=env)
        assert synced.returncode == 1
        assert "pipeline role" in synced.stdout + synced.stderr
        assert "Traceback" not in synced.stdout + synced.stderr
        assert server.requests == []


def test_migration_013_narrows_an_existing_wide_raw_table(crm_url, connect, monkeypatch):
    """A database from before 013 with a wide raw table (a custom field per column) and dlt's
    state: 013 drops the table and resets dlt's schema and cursors, so the next pull is a full
    one into the narrow table, merging into the leads already linked."""
    monkeypatch.setenv("PIPEDRIVE_TOKEN_A", "pd-wide-token-1")
    with sandbox("pipedrive", token="pd-wide-token-1") as server:
        allow(monkeypatch, server)
        server.add(generate_records("pipedrive", 40, seed=3))
        connection = _connect(crm_url, server, ORG_A, "PIPEDRIVE_TOKEN_A", "a")
        assert sync_connection(connect, crm_url, connection)["status"] == "succeeded"
        # 013 and the migrations after it (014: raw_hubspot.contacts.extra_properties) reverted
        reverted = migrate_down(crm_url, to=12)
        assert reverted[-1] == "013_crm_secrets_and_raw"
        with connect() as conn:  # what the code before 013 left: one column per custom field
            conn.execute("create table if not exists raw_pipedrive.persons (id bigint)")
            for number in range(50):
                conn.execute(
                    sql.SQL("alter table raw_pipedrive.persons add column {} text").format(
                        sql.Identifier(f"{number:040x}")
                    )
                )
            linked = conn.execute("select count(*) from lead_external_ids").fetchone()[0]
        assert migrate_up(crm_url) == reverted[::-1]
        with connect() as conn:
            assert len(_columns(conn, "pipedrive")) < 20
            assert conn.execute("select count(*) from raw_pipedrive.persons").fetchone() == (0,)
            assert conn.execute(
                "select count(*) from raw_pipedrive._dlt_pipeline_state"
            ).fetchone() == (0,)
        again = sync_connection(connect, crm_url, connection)
    assert again["status"] == "succeeded", again.get("error")
    assert again["pull"]["mode"] == "full" and again["pull"]["fetched"] == 40
    assert again["load"]["inserted"] == 0
    with connect() as conn:
        assert conn.execute("select count(*) from lead_external_ids").fetchone()[0] == linked


def test_one_tenants_custom_fields_never_stop_another_tenants_sync(crm_url, connect, monkeypatch):
    """Organization A's account grows 300 custom fields between each of five syncs; B's account
    has 100 of its own: B's sync goes on (before, the shared table had 1,500 columns of A's
    fields and B's hit PostgreSQL's 1,600-column limit)."""
    monkeypatch.setenv("PIPEDRIVE_TOKEN_A", "pd-a-token-wide")
    monkeypatch.setenv("PIPEDRIVE_TOKEN_B", "pd-b-token-wide")
    with (
        sandbox("pipedrive", token="pd-a-token-wide") as crm_a,
        sandbox("pipedrive", token="pd-b-token-wide") as crm_b,
    ):
        allow(monkeypatch, crm_a, crm_b)
        crm_a.add(generate_records("pipedrive", 10, seed=1))
        crm_b.add(generate_records("pipedrive", 10, seed=2))
        a = _connect(crm_url, crm_a, ORG_A, "PIPEDRIVE_TOKEN_A", "a")
        b = _connect(crm_url, crm_b, ORG_B, "PIPEDRIVE_TOKEN_B", "b")
        for round_ in range(5):
            crm_a.inject_keys(custom_fields("pipedrive", 300, seed=100 + round_))
            for record in crm_a.records():
                crm_a.update(record["id"], label=round_)
            synced = sync_connection(connect, crm_url, a)
            assert synced["status"] == "succeeded", synced.get("error")
        crm_b.inject_keys(custom_fields("pipedrive", 100, seed=7))
        theirs = sync_connection(connect, crm_url, b)
    with connect() as conn:
        columns = len(_columns(conn, "pipedrive"))
    assert theirs["status"] == "succeeded", f"{columns} columns: {theirs.get('error')}"
    assert columns < 20


def _login(crm_url: str, role: str, password: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(crm_url)
    info["user"], info["password"] = role, password
    return psycopg.conninfo.make_conninfo(**info)


def test_a_pipeline_role_that_owns_nothing_pulls(
    crm_url, admin_url, connect, make_role, monkeypatch
):
    """The pipeline login of a deployment is neither superuser nor the tables' owner: a member of
    leadflow_pipeline (migrations 011 and 013 give that role the raw schemas, the tables and the
    pipeline_access policies) pulls and loads."""
    url = make_role("none")
    role = psycopg.conninfo.conninfo_to_dict(url)["user"]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("grant leadflow_pipeline to {}").format(sql.Identifier(role)))
    monkeypatch.setenv("HUBSPOT_TOKEN_A", "hs-pipeline-token-1")
    with sandbox("hubspot", token="hs-pipeline-token-1") as server:
        allow(monkeypatch, server)
        server.add(generate_records("hubspot", 30, seed=4))
        connection = _connect(crm_url, server, ORG_A, "HUBSPOT_TOKEN_A", "a")
        result = sync_connection(lambda: psycopg.connect(url), url, connection)
    assert result["status"] == "succeeded", result.get("error")
    assert result["pull"]["fetched"] == 30 and result["load"]["rows_read"] == 30


def test_migration_013_gives_the_raw_tables_to_leadflow_pipeline(
    crm_url, admin_url, connect, make_role, monkeypatch
):
    """013 (re)applied where migration 011's leadflow_pipeline exists (no BYPASSRLS, a
    pipeline_access policy): it grants the role the raw schemas and a pipeline_access policy on
    each raw table, so a member login pulls through RLS; the application role reads nothing."""
    reverted = migrate_down(crm_url, to=12)  # 013 and the migrations after it
    assert reverted[-1] == "013_crm_secrets_and_raw"
    assert migrate_up(crm_url) == reverted[::-1]
    with psycopg.connect(crm_url) as conn:
        policies = conn.execute(
            "select schemaname, policyname, roles::text from pg_policies"
            " where schemaname like 'raw_%' order by 1, 2"
        ).fetchall()
    assert ("raw_hubspot", "pipeline_access", "{leadflow_pipeline}") in policies
    member = make_role("none")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        role = psycopg.conninfo.conninfo_to_dict(member)["user"]
        conn.execute(sql.SQL("grant leadflow_pipeline to {}").format(sql.Identifier(role)))
    monkeypatch.setenv("HUBSPOT_TOKEN_A", "hs-pipeline-token-2")
    with sandbox("hubspot", token="hs-pipeline-token-2") as server:
        allow(monkeypatch, server)
        server.add(generate_records("hubspot", 20, seed=5))
        connection = _connect(crm_url, server, ORG_A, "HUBSPOT_TOKEN_A", "a")
        from leadflow.crmsync.pull import pull

        pulled = pull(connection, member)
    assert pulled.fetched == 20
    with connect() as conn:
        assert conn.execute("select count(*) from raw_hubspot.contacts").fetchone() == (20,)
