"""Hostile tenants in the landing folder, hostile run config from the Dagster UI (it has no login),
and what the command line prints.

A tenant writes files into its own folder `<landing>/<organization uuid>/`; anyone who reaches the
UI may launch `lead_import_job` with any run config. Neither may make an import read, or move, a
file that is not the listed landing file itself: not through a symbolic link or a hard link, not
from outside the landing root, not into another organization. The operator's `leadflow import
FILE` keeps reading any regular file, and works as the application role (row-level security).
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from leadflow.definitions import defs
from leadflow.ingest.assets import (
    MULTI_ORG_PARTITION,
    LandingFiles,
    OperatorFiles,
    landing_dir_sensor,
    organization_partitions,
)
from leadflow.resources import PostgresResource
from tests.conftest import run_leadflow
from tests.integration.tenant_isolation.conftest import ORG_A, ORG_B

pytestmark = pytest.mark.integration

UNKNOWN_ORG = "99999999-9999-4999-8999-999999999999"
ORG_B_AGENT = "a2000000-0000-4000-8000-000000000003"  # a user of B: no owner of A's leads
PASSWD_LINE = "root:x:0:0:root:/root:/bin/bash"
A_UPLOAD = "Phone,First Name\n+12125550101,Alice\n+12125550102,Alan\n"


@pytest.fixture
def landing(tmp_path: Path, monkeypatch, crm_url: str) -> Path:
    """The landing root (LEADFLOW_LANDING_DIR) with a folder per organization, A's upload
    pending in A's folder; POSTGRES_URL names the test's database, so runs use the
    definitions' resources only, as the UI's would."""
    root = tmp_path / "landing"
    (root / ORG_A).mkdir(parents=True)
    (root / ORG_B).mkdir()
    (root / ORG_A / "pending.csv").write_text(A_UPLOAD)
    monkeypatch.setenv("LEADFLOW_LANDING_DIR", str(root))
    monkeypatch.setenv("POSTGRES_URL", crm_url)
    return root.resolve()


@pytest.fixture
def instance() -> dg.DagsterInstance:
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(
        organization_partitions.name, [ORG_A, ORG_B, UNKNOWN_ORG, MULTI_ORG_PARTITION]
    )
    return instance


def _sensor(instance: dg.DagsterInstance, crm_url: str) -> dict[str, dg.RunRequest]:
    """The landing sensor's run requests, by the file each one imports (relative path)."""
    resources = {"postgres": PostgresResource(url=crm_url)}
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        result = landing_dir_sensor(context)
    return {request.tags["leadflow/file"]: request for request in result.run_requests}


def _launch(instance: dg.DagsterInstance, config: dict, partition: str):
    """`lead_import_job` as the UI launches it: the definitions' job and resources, any config."""
    job = defs.resolve_job_def("lead_import_job")
    return job.execute_in_process(
        run_config={"ops": {"crm_leads": {"config": config}}},
        partition_key=partition,
        instance=instance,
        raise_on_error=False,
    )


def _run(instance: dg.DagsterInstance, request: dg.RunRequest):
    job = defs.resolve_job_def("lead_import_job")
    return job.execute_in_process(
        run_config=request.run_config,
        partition_key=request.partition_key,
        instance=instance,
        raise_on_error=False,
    )


def _failure(result) -> str:
    return " ".join(
        event.step_failure_data.error.message
        for event in result.all_events
        if event.is_step_failure and event.step_failure_data.error
    )


def _first_names(url: str, org: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select first_name from leads where organization_id = %s and phone_number like %s"
            " order by first_name",
            (org, "+1212555%"),
        ).fetchall()
    return [name for (name,) in rows]


def _batches(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select organization_id::text, file_name, status, coalesce(error, '')"
            " from import_batches order by started_at"
        ).fetchall()


def _stored_texts(url: str) -> str:
    """Everything an import stored for tenants to read about its files."""
    with psycopg.connect(url) as conn:
        batches = conn.execute("select coalesce(string_agg(error, ' '), '') from import_batches")
        rejects = conn.execute(
            "select coalesce(string_agg(raw_row::text || ' ' || coalesce(detail, ''), ' '), '')"
            " from import_rejects"
        )
        return batches.fetchone()[0] + rejects.fetchone()[0]


def _untouched(landing: Path) -> None:
    """A's upload is where A put it, as A wrote it, and nothing was filed away."""
    assert (landing / ORG_A / "pending.csv").read_text() == A_UPLOAD
    assert not (landing / "processed").exists() and not (landing / "failed").exists()


# -- links in the landing folder ----------------------------------------------------------------


def test_a_symlink_to_another_organizations_upload_is_neither_imported_nor_moved(
    landing, instance, crm_url
):
    (landing / ORG_B / "steal.csv").symlink_to(landing / ORG_A / "pending.csv")
    requests = _sensor(instance, crm_url)
    assert f"{ORG_B}/steal.csv" not in requests  # the sensor does not list it
    assert f"{ORG_A}/pending.csv" in requests

    # named in a run config anyway (the UI, or a run the sensor requested before the swap)
    run = _launch(instance, {"files": [str(landing / ORG_B / "steal.csv")], "org": ORG_B}, ORG_B)
    assert not run.success
    assert "symbolic link" in _failure(run)
    assert _first_names(crm_url, ORG_B) == []
    assert _batches(crm_url) == []
    _untouched(landing)
    assert (landing / ORG_B / "steal.csv").is_symlink()  # not even the link was moved


def test_a_file_swapped_for_a_symlink_after_the_sensor_looked_is_refused(
    landing, instance, crm_url
):
    (landing / ORG_B / "mine.csv").write_text("Phone\n+12125550199\n")
    request = _sensor(instance, crm_url)[f"{ORG_B}/mine.csv"]
    (landing / ORG_B / "mine.csv").unlink()
    (landing / ORG_B / "mine.csv").symlink_to(landing / ORG_A / "pending.csv")

    run = _run(instance, request)
    assert not run.success
    assert "symbolic link" in _failure(run)
    assert _first_names(crm_url, ORG_B) == [] and _batches(crm_url) == []
    _untouched(landing)


def test_a_hard_link_is_refused(landing, instance, crm_url):
    os.link(landing / ORG_A / "pending.csv", landing / ORG_B / "linked.csv")
    requests = _sensor(instance, crm_url)
    # neither name is listed while the file has two: which one is the tenant's cannot be told
    assert requests == {}

    run = _launch(instance, {"files": [str(landing / ORG_B / "linked.csv")], "org": ORG_B}, ORG_B)
    assert not run.success
    assert "hard link" in _failure(run)
    assert _first_names(crm_url, ORG_B) == [] and _batches(crm_url) == []
    _untouched(landing)
    assert (landing / ORG_B / "linked.csv").exists()


def test_a_symlinked_organization_folder_is_ignored(landing, instance, crm_url):
    (landing / ORG_B).rmdir()
    (landing / ORG_B).symlink_to(landing / ORG_A, target_is_directory=True)
    requests = _sensor(instance, crm_url)
    assert list(requests) == [f"{ORG_A}/pending.csv"]

    run = _launch(instance, {"files": [str(landing / ORG_B / "pending.csv")], "org": ORG_B}, ORG_B)
    assert not run.success
    assert "symbolic link" in _failure(run)
    assert _first_names(crm_url, ORG_B) == [] and _batches(crm_url) == []
    _untouched(landing)


def test_folders_that_name_no_organization_are_ignored(landing, instance, crm_url):
    for folder in ("not-an-org", UNKNOWN_ORG, ORG_B.replace("-", "")):
        (landing / folder).mkdir()
        (landing / folder / "leads.csv").write_text("Phone\n+12125550177\n")
    assert list(_sensor(instance, crm_url)) == [f"{ORG_A}/pending.csv"]

    run = _launch(
        instance,
        {"files": [str(landing / UNKNOWN_ORG / "leads.csv")], "org": UNKNOWN_ORG},
        UNKNOWN_ORG,
    )
    assert not run.success
    assert "unknown organization" in _failure(run)
    assert _batches(crm_url) == []
    assert (landing / UNKNOWN_ORG / "leads.csv").exists()


# -- run config from the UI ---------------------------------------------------------------------


def test_a_run_config_cannot_import_another_organizations_upload(landing, instance, crm_url):
    run = _launch(instance, {"files": [str(landing / ORG_A / "pending.csv")], "org": ORG_B}, ORG_B)
    assert not run.success
    assert "folder" in _failure(run)
    assert _first_names(crm_url, ORG_B) == [] and _batches(crm_url) == []
    _untouched(landing)


@pytest.mark.parametrize("org", [ORG_A, None])
def test_a_run_config_naming_etc_passwd_reads_nothing(landing, instance, crm_url, org):
    run = _launch(instance, {"files": ["/etc/passwd"], "org": org}, org or MULTI_ORG_PARTITION)
    assert not run.success
    assert "landing" in _failure(run) and "root:" not in _failure(run)
    assert _batches(crm_url) == []
    assert Path("/etc/passwd").exists()
    _untouched(landing)


def test_a_run_config_naming_a_file_outside_the_landing_root_is_refused(
    landing, instance, crm_url, tmp_path
):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "leads.csv").write_text("Phone,First Name\n+12125550150,Outsider\n")
    for path in (outside / "leads.csv", landing / ORG_B / ".." / ".." / "elsewhere" / "leads.csv"):
        run = _launch(instance, {"files": [str(path)], "org": ORG_B}, ORG_B)
        assert not run.success
        assert "landing" in _failure(run)
    assert _first_names(crm_url, ORG_B) == [] and _batches(crm_url) == []
    assert (outside / "leads.csv").exists()


def test_a_run_config_cannot_name_a_mapping_file(landing, instance, crm_url, tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({PASSWD_LINE: "not-a-field"}))
    config = {"files": [str(landing / ORG_A / "pending.csv")], "org": ORG_A, "mapping": str(secret)}
    run = _launch(instance, config, ORG_A)
    assert not run.success
    assert "mapping" in _failure(run) and "root:" not in _failure(run)
    assert _batches(crm_url) == []
    _untouched(landing)


def test_a_run_config_cannot_choose_where_files_are_moved(landing, instance, crm_url, tmp_path):
    elsewhere = tmp_path / "attacker"
    config = {
        "files": [str(landing / ORG_A / "pending.csv")],
        "org": ORG_A,
        "landing_dir": str(elsewhere),
    }
    run = _launch(instance, config, ORG_A)
    assert not run.success
    assert "landing_dir" in _failure(run) and "LEADFLOW_LANDING_DIR" in _failure(run)
    assert not elsewhere.exists()
    assert _batches(crm_url) == []
    _untouched(landing)


def test_the_ui_cannot_configure_the_operators_file_access():
    """The definitions bind the landing-only file access; it has no config, so a launchpad run
    config can neither widen it nor name the command line's (which the definitions lack)."""
    job = defs.resolve_job_def("lead_import_job")
    config = {"ops": {"crm_leads": {"config": {"files": ["/etc/passwd"]}}}}
    for resources in (
        {"lead_files": {"config": {"unrestricted": True}}},
        {"lead_files": {"config": {"root": "/"}}},
        {"operator_files": {"config": {}}},
    ):
        with pytest.raises(dg.DagsterInvalidConfigError):
            dg.validate_run_config(job, {**config, "resources": resources})
    assert job.resource_defs["lead_files"].configurable_resource_cls is LandingFiles
    assert LandingFiles.model_fields == {}  # nothing a run config could set
    assert not any(isinstance(r, OperatorFiles) for r in defs.resources.values())


# -- what an import stores and says ---------------------------------------------------------------


def _corrupt_xlsx(path: Path) -> Path:
    """A zip that names itself an XLSX, its workbook part malformed XML with a secret in it."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>',
        )
        archive.writestr("xl/workbook.xml", "<workbook><SECRETTAG7></workbook>")
    return path


def test_error_texts_never_echo_file_content(landing, instance, crm_url):
    folder = landing / ORG_A
    (folder / "pending.csv").unlink()
    (folder / "passwd.csv").write_text(f"{PASSWD_LINE}\ndaemon:x:1:1:daemon:/usr/sbin\n")
    (folder / "binary.csv").write_bytes(b"SECRET\x00BYTES\x01\x02")
    _corrupt_xlsx(folder / "book.xlsx")
    requests = _sensor(instance, crm_url)
    assert len(requests) == 3
    for request in requests.values():
        run = _run(instance, request)
        assert not run.success
        for text in (_failure(run), _stored_texts(crm_url)):
            assert "root:x" not in text and "SECRET" not in text, text
    errors = {name: error for _, name, _, error in _batches(crm_url)}
    assert set(errors) == {"passwd.csv", "binary.csv", "book.xlsx"}
    assert "no column holds the phone number" in errors["passwd.csv"]
    assert sorted(p.name for p in (landing / "failed").iterdir()) == [
        "binary.csv",
        "book.xlsx",
        "passwd.csv",
    ]


def test_a_tenant_folder_imports_into_its_organization_only(landing, instance, crm_url):
    (landing / ORG_A / "pending.csv").unlink()
    (landing / ORG_A / "claims_b.csv").write_text(
        f"organization_id,Phone,First Name\n{ORG_B},+12125550111,Bea\n{ORG_A},+12125550112,Abe\n"
    )
    [request] = _sensor(instance, crm_url).values()
    assert request.partition_key == ORG_A
    assert _run(instance, request).success
    assert _first_names(crm_url, ORG_A) == ["Abe", "Bea"]
    assert _first_names(crm_url, ORG_B) == []
    assert [(org, status) for org, _, status, _ in _batches(crm_url)] == [(ORG_A, "succeeded")]
    assert [p.name for p in (landing / "processed").iterdir()] == ["claims_b.csv"]


def test_the_sensor_and_its_runs_still_import_and_file_away(landing, instance, crm_url):
    requests = _sensor(instance, crm_url)
    assert list(requests) == [f"{ORG_A}/pending.csv"]
    assert _run(instance, requests[f"{ORG_A}/pending.csv"]).success
    assert _first_names(crm_url, ORG_A) == ["Alan", "Alice"]
    assert [p.name for p in (landing / "processed").iterdir()] == ["pending.csv"]
    assert not (landing / ORG_A / "pending.csv").exists()


# -- the operator's command line -------------------------------------------------------------------


def test_cli_import_as_the_application_role_loads_the_tenants_leads(
    app_url, crm_url, tmp_path, monkeypatch
):
    with psycopg.connect(crm_url) as conn:  # one of A's numbers is on A's DNC list
        conn.execute(
            "insert into dnc_list (organization_id, phone_number, reason) values (%s, %s, %s)",
            (ORG_A, "+12125550162", "asked"),
        )
    path = tmp_path / "anywhere" / "leads.csv"
    path.parent.mkdir()
    path.write_text(
        "Phone,First Name,Owner\n+12125550161,Ann,\n+12125550162,Dee,\n+12125550163,Ola,"
        f"{ORG_B_AGENT}\n"
    )
    # the bulk path (session_replication_role) is not the application role's: it falls back
    env = {"POSTGRES_URL": app_url, "LEADFLOW_BULK_MIN_ROWS": "1", "LEADFLOW_LANDING_DIR": None}
    result = run_leadflow("import", str(path), "--org", ORG_A, "--json", env=env)
    assert result.returncode == 0, result.stderr + result.stdout
    payload = json.loads(result.stdout)
    assert (payload["status"], payload["inserted"], payload["dnc"]) == ("succeeded", 3, 1)
    # the foreign owner is a row note, written under the tenant's policy (import_row_notes)
    assert payload["notes"] == {"owner_not_in_organization": 1}
    assert all(check["passed"] for check in payload["checks"]), payload["checks"]
    with psycopg.connect(crm_url) as conn:
        rows = conn.execute(
            "select organization_id::text, first_name, status, user_id from leads"
            " where phone_number like '+1212555016%' order by first_name"
        ).fetchall()
        batch = conn.execute(
            "select organization_id::text, status from import_batches where id = %s",
            (payload["batch_id"],),
        ).fetchone()
    assert rows == [
        (ORG_A, "Ann", "new", None),
        (ORG_A, "Dee", "dnc", None),
        (ORG_A, "Ola", "new", None),
    ]
    assert batch == (ORG_A, "succeeded")
    assert path.exists()  # the operator's file stays where it is

    again = run_leadflow("import", str(path), "--org", ORG_A, "--json", env=env)
    assert json.loads(again.stdout)["status"] == "skipped"


def test_cli_import_still_reads_the_operators_files_anywhere(crm_url, tmp_path):
    target = tmp_path / "exports" / "leads.csv"
    target.parent.mkdir()
    target.write_text("Phone,First Name\n+12125550171,Op\n")
    link = tmp_path / "via-link.csv"
    link.symlink_to(target)  # the operator's own link: followed, the file stays in place
    result = run_leadflow(
        "import", str(link), "--org", ORG_B, "--json", env={"POSTGRES_URL": crm_url}
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["inserted"] == 1
    assert _first_names(crm_url, ORG_B) == ["Op"]
    assert target.exists() and link.is_symlink()


# -- no password printed --------------------------------------------------------------------------

SECRETS = ("pgS3cret", "r3disSecret", "m0ngoSecret", "b0ltSecret")


def test_status_and_up_never_print_a_password(tmp_path):
    env = {
        "LEADFLOW_HOME": str(tmp_path / "home"),
        "POSTGRES_URL": "postgresql://leadflow:pgS3cret@127.0.0.1:9/crm?sslmode=disable",
        "REDIS_URL": "redis://:r3disSecret@127.0.0.1:9/0",
        "MONGO_URL": "mongodb://lf:m0ngoSecret@127.0.0.1:9/?authSource=admin",
        "NEO4J_URI": "bolt://127.0.0.1:9",
        "NEO4J_USER": "neo4j",
        "NEO4J_PASSWORD": "b0ltSecret",
    }
    outputs = {
        "status": run_leadflow("status", env=env),
        "status --json": run_leadflow("status", "--json", env=env),
        "up": run_leadflow("up", "postgres", "redis", "mongo", env=env),
    }
    for name, result in outputs.items():
        assert result.returncode == 0, (name, result.stderr)
        for secret in SECRETS:
            assert secret not in result.stdout + result.stderr, (name, result.stdout)
    status = json.loads(outputs["status --json"].stdout)
    assert status["postgres"]["url"] == "postgresql://leadflow:****@127.0.0.1:9/crm?sslmode=disable"
    assert status["redis"]["url"] == "redis://:****@127.0.0.1:9/0"
    assert "postgresql://leadflow:****@127.0.0.1:9/crm" in outputs["up"].stdout
    # the commands meant for eval and psql print them, as their help says
    assert "pgS3cret" in run_leadflow("db", "url", env=env).stdout
    for command in (("env", "--help"), ("db", "url", "--help")):
        assert "password" in run_leadflow(*command).stdout
