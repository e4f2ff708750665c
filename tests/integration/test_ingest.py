"""Lead ingestion against the real PostgreSQL: E.164, dedupe, merge, DNC, loading, accounting."""

from __future__ import annotations

import psycopg
import pytest

from leadflow.ingest import pipeline
from leadflow.ingest.pipeline import ImportRequest, ImportRequestError
from tests.integration.conftest import ORG1, ORG1_AGENT, ORG2, ORG3, one

pytestmark = pytest.mark.integration

HEADER = ["First Name", "Last Name", "Phone", "E-mail", "Lead Source", "Tags", "Status"]


def _lead(conn, org: str, phone: str):
    return conn.execute(
        "select id::text, first_name, last_name, email, status, lead_score, tags, source,"
        " user_id::text, phone_type from leads"
        " where organization_id = %s and phone_number = %s and deleted_at is null",
        (org, phone),
    ).fetchone()


def _accounting_holds(job) -> bool:
    return job.rows_read == job.inserted + job.merged + job.duplicates_in_file + job.quarantined


def test_new_leads_are_normalized_loaded_and_get_history(connect, write_csv, do_import):
    path = write_csv(
        "new.csv",
        HEADER,
        [
            [
                "JANE",
                "doe",
                "(212) 456-7890",
                " Jane.Doe@Example.COM ",
                "fb",
                "Hot; referral|HOT",
                "",
            ],
            [
                "  Carlos   ",
                "Pérez",
                "+1 415 555 2671 x12",
                "carlos@",
                "Facebook Ads",
                "",
                "contacted",
            ],
            ["Bad", "Phone", "12345", "b@example.com", "", "", ""],
        ],
    )
    [job] = do_import(path, org=ORG1)
    assert job.status == "succeeded", job.message
    assert (job.rows_read, job.inserted, job.merged, job.quarantined) == (3, 2, 0, 1)
    assert _accounting_holds(job)
    with connect() as conn:
        jane = _lead(conn, ORG1, "+12124567890")
        assert jane[1:8] == (
            "Jane",
            "Doe",
            "jane.doe@example.com",
            "new",
            0,
            ["hot", "referral"],
            "facebook",
        )
        carlos = _lead(conn, ORG1, "+14155552671")
        assert carlos[1:5] == ("Carlos", "Pérez", None, "contacted")  # invalid email kept empty
        history = conn.execute(
            "select from_status, to_status, trigger_type from lead_status_history"
            " where lead_id = %s",
            (jane[0],),
        ).fetchall()
        assert history == [(None, "new", "import")]
        reject = one(
            conn,
            "select row_number, reason, raw_row from import_rejects where batch_id = %s",
            (job.batch_id,),
        )
        assert reject[0] == 3 and reject[1] == "invalid_phone"
        assert reject[2]["Phone"] == "12345" and reject[2]["First Name"] == "Bad"
        batch = one(
            conn,
            "select status, rows_read, inserted, merged, duplicates_in_file, quarantined, dnc,"
            " file_sha256, organization_id::text from import_batches where id = %s",
            (job.batch_id,),
        )
        assert batch[:7] == ("succeeded", 3, 2, 0, 0, 1, 0)
        assert batch[7] == job.sha256 and batch[8] == ORG1


def test_duplicates_in_file_collapse_with_survivorship(connect, write_csv, do_import):
    path = write_csv(
        "dupes.csv",
        HEADER,
        [
            ["ana", "", "212-456-7000", "ana@old.example.com", "linkedin", "a", ""],
            ["Ana", "Lima", "+1 (212) 456 7000", "", "fb", "b,a", "qualified"],
            ["", "", "0012124567000", "ana@new.example.com", "", "c", "contacted"],
        ],
    )
    [job] = do_import(path, org=ORG1)
    assert (job.rows_read, job.inserted, job.duplicates_in_file) == (3, 1, 2)
    assert _accounting_holds(job)
    with connect() as conn:
        lead = _lead(conn, ORG1, "+12124567000")
        # newest non-empty wins, empty never overwrites, tags unioned, status never lowered,
        # first-touch source kept
        assert lead[1:8] == (
            "Ana",
            "Lima",
            "ana@new.example.com",
            "qualified",
            0,
            ["a", "b", "c"],
            "linkedin",
        )


def test_merge_into_existing_lead_keeps_id_and_writes_audit(connect, write_csv, do_import):
    first = write_csv("first.csv", HEADER, [["Mia", "", "2124567111", "", "", "x", "qualified"]])
    do_import(first, org=ORG1)
    with connect() as conn:
        before = _lead(conn, ORG1, "+12124567111")
        conn.execute("update leads set lead_score = 42 where id = %s", (before[0],))
    second = write_csv(
        "second.csv",
        HEADER,
        [["Mia", "Wong", "(212) 456-7111", "mia@example.com", "indeed", "y, x", "new"]],
    )
    [job] = do_import(second, org=ORG1, owner=ORG1_AGENT)
    assert (job.inserted, job.merged, job.rows_read) == (0, 1, 1)
    with connect() as conn:
        after = _lead(conn, ORG1, "+12124567111")
        assert after[0] == before[0]  # id kept
        assert after[1:9] == (
            "Mia",
            "Wong",
            "mia@example.com",
            "qualified",
            42,
            ["x", "y"],
            "indeed",
            ORG1_AGENT,
        )
        audit = dict(
            conn.execute(
                "select field_name, new_value from lead_audit_log"
                " where lead_id = %s and import_batch_id = %s and change_source = 'import'",
                (after[0], job.batch_id),
            ).fetchall()
        )
        assert audit == {
            "last_name": "Wong",
            "email": "mia@example.com",
            "tags": "{x,y}",
            "source": "indeed",
            "user_id": ORG1_AGENT,
        }
        statuses = conn.execute(
            "select count(*) from lead_status_history where lead_id = %s", (after[0],)
        ).fetchone()[0]
        assert statuses == 1  # NULL -> qualified only: an import never moves status backwards


def test_merged_rows_that_change_nothing_are_counted_apart(connect, write_csv, do_import):
    """`merged` counts every row that met an existing lead; `merged_unchanged` those of them
    that changed nothing on it (issue 22: "merged 16" for 16 rows that carried nothing new)."""
    rows = [
        ["Ana", "Ruiz", "2124567301", "ana@example.com", "indeed", "x", "new"],
        ["Ben", "Ode", "2124567302", "ben@example.com", "indeed", "x", "new"],
        ["Cy", "Lam", "2124567303", "cy@example.com", "indeed", "x", "new"],
    ]
    do_import(write_csv("first.csv", HEADER, rows), org=ORG1)
    again = [*rows[:2], ["Cy", "Lam", "2124567303", "cy.lam@example.com", "indeed", "x", "new"]]
    [job] = do_import(write_csv("again.csv", HEADER, again), org=ORG1)
    assert (job.rows_read, job.inserted, job.merged) == (3, 0, 3)
    assert job.summary()["merged_unchanged"] == 2
    with connect() as conn:
        changed = one(
            conn,
            "select count(distinct lead_id) from lead_audit_log where import_batch_id = %s",
            (job.batch_id,),
        )[0]
    assert changed == job.merged - job.merged_unchanged == 1


def test_status_moves_forward_but_never_leaves_dnc(connect, write_csv, do_import):
    do_import(
        write_csv("a.csv", HEADER, [["A", "B", "2124567222", "", "", "", "contacted"]]), org=ORG1
    )
    do_import(write_csv("b.csv", HEADER, [["A", "B", "2124567222", "", "", "", "hot"]]), org=ORG1)
    with connect() as conn:
        lead = _lead(conn, ORG1, "+12124567222")
        assert lead[4] == "hot"
        conn.execute("update leads set status = 'dnc' where id = %s", (lead[0],))
    do_import(
        write_csv("c.csv", HEADER, [["A", "B", "2124567222", "", "", "", "recruited"]]), org=ORG1
    )
    with connect() as conn:
        assert _lead(conn, ORG1, "+12124567222")[4] == "dnc"


def test_same_phone_in_two_organizations_is_two_leads(connect, write_csv, do_import):
    path = write_csv(
        "multi.csv",
        ["organization_id", "first_name", "phone"],
        [[ORG1, "One", "+442079460958"], [ORG2, "Two", "020 7946 0958"], [ORG3, "x", "+61"]],
    )
    [job] = do_import(path)
    assert job.organization_id is None
    assert (job.inserted, job.quarantined) == (2, 1)
    with connect() as conn:
        assert _lead(conn, ORG1, "+442079460958")[1] == "One"
        assert _lead(conn, ORG2, "+442079460958")[1] == "Two"
        batch_org = one(
            conn, "select organization_id from import_batches where id = %s", (job.batch_id,)
        )
        assert batch_org == (None,)


def test_dnc_screen_is_per_organization(connect, write_csv, do_import):
    with connect() as conn:
        conn.execute(
            "insert into dnc_list (organization_id, phone_number, reason, source)"
            " values (%s, '+12124567333', 'asked', 'test')",
            (ORG1,),
        )
    path = write_csv(
        "dnc.csv",
        ["organization_id", "first_name", "phone", "status"],
        [[ORG1, "Blocked", "212 456 7333", "hot"], [ORG2, "Free", "+1 212 456 7333", "hot"]],
    )
    [job] = do_import(path)
    assert (job.inserted, job.dnc) == (2, 1)
    with connect() as conn:
        blocked = _lead(conn, ORG1, "+12124567333")
        assert blocked[4] == "dnc"
        assert _lead(conn, ORG2, "+12124567333")[4] == "hot"
        history = conn.execute(
            "select from_status, to_status, trigger_type from lead_status_history"
            " where lead_id = %s order by changed_at, to_status = 'dnc'",
            (blocked[0],),
        ).fetchall()
        assert history == [(None, "hot", "import"), ("hot", "dnc", "dnc")]
        assert one(conn, "select is_on_dnc_list('+12124567333', %s)", (ORG2,)) == (False,)


def test_dnc_added_after_import_catches_existing_lead_on_reimport(connect, write_csv, do_import):
    do_import(write_csv("a.csv", HEADER, [["D", "", "2124567444", "", "", "", ""]]), org=ORG1)
    with connect() as conn:
        conn.execute(
            "insert into dnc_list (organization_id, phone_number) values (%s, '+12124567444')",
            (ORG1,),
        )
    [job] = do_import(
        write_csv("b.csv", HEADER, [["D", "E", "2124567444", "", "", "", ""]]), org=ORG1
    )
    assert (job.merged, job.dnc) == (1, 1)
    with connect() as conn:
        lead = _lead(conn, ORG1, "+12124567444")
        assert lead[4] == "dnc"
        assert one(
            conn,
            "select trigger_type from lead_status_history where lead_id = %s and to_status = 'dnc'",
            (lead[0],),
        ) == ("dnc",)


def test_reimporting_the_same_file_is_a_noop(connect, write_csv, do_import):
    path = write_csv("once.csv", HEADER, [["O", "", "2124567555", "", "", "", ""]])
    [first] = do_import(path, org=ORG1)
    [again] = do_import(path, org=ORG1)
    assert first.status == "succeeded"
    assert again.status == "skipped" and again.batch_id == first.batch_id
    assert "already imported" in again.message
    with connect() as conn:
        assert one(
            conn, "select count(*) from import_batches where file_sha256 = %s", (first.sha256,)
        ) == (1,)
    # the same file into another organization is a different import
    [other] = do_import(path, org=ORG2)
    assert other.status == "succeeded" and other.batch_id != first.batch_id


def test_a_failure_leaves_no_partial_import(connect, write_csv, do_import):
    with connect() as conn:  # a real database error in the middle of the load
        conn.execute(
            """
            create function fail_on_poison() returns trigger language plpgsql as $$
            begin
                if new.first_name = 'Poison' then raise exception 'poisoned row'; end if;
                return new;
            end $$;
            create trigger poison before insert on leads
                for each row execute function fail_on_poison();
            """
        )
        leads_before = one(conn, "select count(*) from leads")[0]
    path = write_csv(
        "poison.csv",
        HEADER,
        [
            ["Fine", "", "2124567666", "", "", "", ""],
            ["Poison", "", "2124567667", "", "", "", ""],
            ["Bad", "", "1", "", "", "", ""],
        ],
    )
    [job] = do_import(path, org=ORG1)
    assert job.status == "failed" and "poisoned row" in job.message
    assert "nothing was imported" in job.message
    with connect() as conn:
        assert one(conn, "select count(*) from leads")[0] == leads_before
        assert one(
            conn,
            "select status, error is not null from import_batches where id = %s",
            (job.batch_id,),
        ) == ("failed", True)
        assert one(
            conn, "select count(*) from import_rejects where batch_id = %s", (job.batch_id,)
        ) == (0,)
        conn.execute("drop trigger poison on leads")
    [retry] = do_import(path, org=ORG1)  # a failed batch may be retried
    assert retry.status == "succeeded" and retry.inserted == 2


def test_owner_from_column_or_flag_and_foreign_owner_ignored(connect, write_csv, do_import):
    path = write_csv(
        "owners.csv",
        ["first_name", "phone", "owner_id"],
        [
            ["Own", "2124567701", ORG1_AGENT],
            ["Def", "2124567702", ""],
            ["Foreign", "2124567703", "a2000000-0000-4000-8000-000000000003"],
        ],
    )
    owner = "a1000000-0000-4000-8000-000000000004"
    [job] = do_import(path, org=ORG1, owner=owner)
    assert job.inserted == 3 and "owner" in (job.message or "")
    with connect() as conn:
        assert _lead(conn, ORG1, "+12124567701")[8] == ORG1_AGENT
        assert _lead(conn, ORG1, "+12124567702")[8] == owner
        assert _lead(conn, ORG1, "+12124567703")[8] is None


def test_region_comes_from_system_config_or_flag(connect, write_csv, do_import):
    path = write_csv("gb.csv", ["first_name", "mobile"], [["Uk", "07911 123456"]])
    [job] = do_import(path, org=ORG2)  # Northwind's default_region is GB
    assert job.inserted == 1
    us_path = write_csv("gb_in_us.csv", ["first_name", "mobile"], [["Uk", "07911 123457"]])
    [job] = do_import(us_path, org=ORG1)  # Summit is US: not a valid US number
    assert job.quarantined == 1
    with connect() as conn:
        detail = one(
            conn, "select reason, detail from import_rejects where batch_id = %s", (job.batch_id,)
        )
        assert detail[0] == "invalid_phone" and "GB" in detail[1]
        assert _lead(conn, ORG2, "+447911123456")[9] == "mobile"
    override = write_csv("gb_flag.csv", ["first_name", "mobile"], [["Uk", "07911 123458"]])
    [job] = do_import(override, org=ORG1, region="GB")
    assert job.inserted == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"org": "99999999-9999-4999-8999-999999999999"}, "unknown organization"),
        ({"org": "not-a-uuid"}, "not a UUID"),
        (
            {"org": ORG1, "owner": "a2000000-0000-4000-8000-000000000003"},
            "not a user of organization",
        ),
        ({"org": ORG1, "region": "XX"}, "not a known region"),
    ],
)
def test_bad_request_is_refused_before_any_file_is_touched(connect, write_csv, options, message):
    path = write_csv("x.csv", ["phone"], [["2124567890"]])
    with pytest.raises(ImportRequestError, match=message):
        pipeline.run_import(ImportRequest(files=[str(path)], **options), connect)
    with connect() as conn:
        assert one(conn, "select count(*) from import_batches") == (0,)


def test_file_without_organization_needs_org(connect, write_csv, do_import):
    [job] = do_import(write_csv("noorg.csv", ["phone"], [["2124567890"]]))
    assert job.status == "failed" and "--org" in job.message


def test_sample_files_account_for_every_row(connect, do_import):
    from pathlib import Path

    sample = Path(__file__).resolve().parents[2] / "seeds" / "sample"
    jobs = do_import(sample / "leads_summit_facebook.csv", org=ORG1)
    jobs += do_import(sample / "leads_northwind_mixed.csv", org=ORG2)
    jobs += do_import(sample / "leads_multi_org.csv")
    jobs += do_import(sample / "leads_southern_cross.xlsx", org=ORG3)
    assert [job.status for job in jobs] == ["succeeded"] * 4, [job.message for job in jobs]
    assert all(_accounting_holds(job) for job in jobs)
    assert sum(job.rows_read for job in jobs) == 3600
    assert all(job.quarantined > 0 and job.duplicates_in_file > 0 for job in jobs)
    with connect() as conn:
        bad = one(conn, "select count(*) from leads where phone_number !~ '^\\+[1-9][0-9]{1,14}$'")
        assert bad == (0,)
        dupes = one(
            conn,
            "select count(*) from (select 1 from leads where deleted_at is null"
            " group by organization_id, phone_number having count(*) > 1) d",
        )
        assert dupes == (0,)
        rejects = one(conn, "select count(*) from import_rejects")[0]
        assert rejects == sum(job.quarantined for job in jobs)


def test_sql_metacharacters_are_data(connect, write_csv, do_import):
    name = "Robert'); DROP TABLE leads;--"
    [job] = do_import(
        write_csv("sql.csv", HEADER, [[name, "O'Brien", "2124567800", "", "", "", ""]]), org=ORG1
    )
    assert job.inserted == 1
    with connect() as conn:
        assert _lead(conn, ORG1, "+12124567800")[1:3] == (name, "O'Brien")
        assert one(conn, "select to_regclass('public.leads') is not null") == (True,)


def test_leads_policy_still_isolates_imported_rows(connect, write_csv, do_import):
    do_import(write_csv("rls.csv", HEADER, [["R", "", "2124567900", "", "", "", ""]]), org=ORG1)
    with connect() as conn:
        conn.execute(
            "do $$ begin if not exists (select 1 from pg_roles where rolname = 'lf_ingest_app')"
            " then create role lf_ingest_app; end if; end $$"
        )
        conn.execute("grant select on leads, import_batches to lf_ingest_app")
        conn.execute("set role lf_ingest_app")
        conn.execute("select set_config('app.current_tenant_id', %s, false)", (ORG2,))
        assert one(conn, "select count(*) from leads where phone_number = '+12124567900'") == (0,)
        assert one(conn, "select count(*) from import_batches") == (0,)
        conn.execute("reset role")


def test_concurrent_imports_of_one_organization_do_not_collide(crm_url, write_csv):
    import threading
    from functools import partial

    connect = partial(psycopg.connect, crm_url)
    paths = [
        write_csv(
            f"c{i}.csv",
            HEADER,
            [[f"C{i}", "", f"21245680{n:02d}", "", "", "", ""] for n in range(30)],
        )
        for i in range(3)
    ]
    results = []

    def run(path):
        results.extend(
            pipeline.run_import(ImportRequest(files=[str(path)], org=ORG1, workers=1), connect)
        )

    threads = [threading.Thread(target=run, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(job.status for job in results) == ["succeeded"] * 3
    assert sorted((job.inserted, job.merged) for job in results) == [(0, 30), (0, 30), (30, 0)]


def test_bulk_path_keeps_history_and_restores_triggers(connect, write_csv, do_import, monkeypatch):
    monkeypatch.setenv("LEADFLOW_BULK_MIN_ROWS", "1")  # every file takes the bulk path
    rows = [[f"B{n}", "", f"21245640{n:02d}", "", "", "", "contacted"] for n in range(20)]
    [first] = do_import(write_csv("bulk1.csv", HEADER, rows), org=ORG1)
    renamed = [[f"Bulk{n}", "X", f"21245640{n:02d}", "", "", "", "hot"] for n in range(20)]
    [second] = do_import(write_csv("bulk2.csv", HEADER, renamed), org=ORG1)
    assert (first.inserted, second.merged) == (20, 20)
    with connect() as conn:
        assert one(
            conn,
            "select count(*) from lead_status_history h join leads l"
            " on l.id = h.lead_id where l.phone_number like %s",
            ("+121245640%",),
        ) == (40,)
        assert one(
            conn,
            "select count(*) from lead_audit_log where import_batch_id = %s",
            (second.batch_id,),
        ) == (60,)  # first_name, last_name, status per lead
        # the leads update ran with triggers on: updated_at moved past created_at
        assert one(
            conn,
            "select count(*) from leads where phone_number like %s and updated_at > created_at",
            ("+121245640%",),
        ) == (20,)
        orphans = one(
            conn,
            "select count(*) from lead_audit_log a"
            " where not exists (select 1 from leads l where l.id = a.lead_id)",
        )
        assert orphans == (0,)
