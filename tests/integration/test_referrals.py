"""Referrals through the real importer: handles stored, resolved to same-organization leads,
pending ones resolved later (by an import or resolve_pending_referrals), audit rows."""

from __future__ import annotations

import pytest

from leadflow.ingest.referrals_sql import referral_stats, resolve_pending_referrals
from leadflow.platform.seed import load_seed
from tests.integration.conftest import ORG1, ORG2, ORG3, one

pytestmark = pytest.mark.integration

HEADER = ["First Name", "Last Name", "Phone", "E-mail", "Referred By"]
MULTI_HEADER = ["organization_id", *HEADER]

# seeded ORG1 leads (seeds/002_epic3_seed_data.sql) without a referral of their own
EMILY = "b1000000-0000-4000-8000-000000000001"  # +16462858916, emily.johnson@example.net
MICHAEL = "b1000000-0000-4000-8000-000000000002"  # +16462579894, michael.rodriguez@example.org
# ORG2's Oliver: +441214960237, oliver.smith@example.net


def _referral(conn, org: str, phone: str) -> tuple[str, str | None, str | None]:
    """(lead id, referred_by_ref, referred_by_lead_id) of the live lead with that phone."""
    return conn.execute(
        "select id::text, referred_by_ref, referred_by_lead_id::text from leads"
        " where organization_id = %s and phone_number = %s and deleted_at is null",
        (org, phone),
    ).fetchone()


def _referral_audit(conn, lead_id: str) -> list[tuple]:
    return conn.execute(
        "select field_name, old_value, new_value, change_source, import_batch_id::text"
        " from lead_audit_log where lead_id = %s and field_name like 'referred_by%%'"
        " order by changed_at, field_name",
        (lead_id,),
    ).fetchall()


def _accounting_holds(job) -> bool:
    return job.rows_read == job.inserted + job.merged + job.duplicates_in_file + job.quarantined


def test_referrals_to_existing_leads_by_phone_and_email(connect, write_csv, do_import):
    path = write_csv(
        "refs.csv",
        HEADER,
        [
            ["Ann", "One", "212-456-7801", "", "(646) 285-8916"],  # Emily's phone, national
            ["Bea", "Two", "212-456-7802", "", " Michael.Rodriguez@EXAMPLE.org "],
            ["Cy", "Three", "212-456-7803", "", "+1 646 285 8916"],  # Emily again, E.164
            ["Di", "Four", "212-456-7804", "", "just a name"],  # noted, the lead still loads
            ["Ed", "Five", "212-456-7805", "", ""],
        ],
    )
    [job] = do_import(path, org=ORG1)
    assert job.status == "succeeded", job.message
    assert (job.rows_read, job.inserted, job.quarantined, job.referrals) == (5, 5, 0, 3)
    assert job.summary()["referrals"] == 3
    assert _accounting_holds(job)
    with connect() as conn:
        ann = _referral(conn, ORG1, "+12124567801")
        assert ann[1:] == ("+16462858916", EMILY)
        bea = _referral(conn, ORG1, "+12124567802")
        assert bea[1:] == ("michael.rodriguez@example.org", MICHAEL)
        assert _referral(conn, ORG1, "+12124567803")[1:] == ("+16462858916", EMILY)
        assert _referral(conn, ORG1, "+12124567804")[1:] == (None, None)
        assert _referral(conn, ORG1, "+12124567805")[1:] == (None, None)
        assert _referral_audit(conn, ann[0]) == [
            ("referred_by_lead_id", None, EMILY, "import", job.batch_id)
        ]
        audit = one(
            conn,
            "select count(*) from lead_audit_log where import_batch_id = %s"
            " and field_name = 'referred_by_lead_id'",
            (job.batch_id,),
        )
        assert audit == (3,)
        # seeded 5 referrals per organization (seeds/007_demo_referrals.sql) + these 3
        assert referral_stats(conn, ORG1) == {"resolved": 8, "unresolved": 0}


def test_referrals_between_leads_of_the_same_file(connect, write_csv, do_import):
    path = write_csv(
        "chain.csv",
        HEADER,
        [
            ["Gus", "Later", "212-456-7806", "gus@example.com", "212 456 7807"],  # row 2 below
            ["Hal", "Root", "212-456-7807", "Hal@Example.com", ""],
            ["Ivy", "Leaf", "212-456-7808", "", "HAL@example.com"],  # row 2, by e-mail
        ],
    )
    [job] = do_import(path, org=ORG1)
    assert job.status == "succeeded", job.message
    assert (job.inserted, job.referrals) == (3, 2)
    with connect() as conn:
        hal = _referral(conn, ORG1, "+12124567807")
        assert hal[1:] == (None, None)
        assert _referral(conn, ORG1, "+12124567806")[1:] == ("+12124567807", hal[0])
        assert _referral(conn, ORG1, "+12124567808")[1:] == ("hal@example.com", hal[0])


def test_a_referral_never_crosses_organizations(connect, write_csv, do_import):
    # the same phone is a lead in both organizations: each referral links within its own
    shared = write_csv(
        "shared.csv",
        MULTI_HEADER,
        [
            [ORG1, "Sam", "Us", "+1 212 456 7809", "sam.us@example.com", ""],
            [ORG2, "Sam", "Uk", "+1 212 456 7809", "sam.uk@example.com", ""],
        ],
    )
    [first] = do_import(shared)
    assert (first.status, first.inserted) == ("succeeded", 2), first.message
    path = write_csv(
        "cross.csv",
        MULTI_HEADER,
        [
            [ORG1, "Olga", "A", "212-456-7810", "", "+44 121 496 0237"],  # Oliver, ORG2 only
            [ORG1, "Pia", "B", "212-456-7811", "", "oliver.smith@example.net"],  # ditto
            [ORG2, "Quin", "C", "020 7946 0101", "", "+1 212 456 7809"],  # Sam in both orgs
            [ORG2, "Rex", "D", "020 7946 0102", "", "sam.us@example.com"],  # ORG1's Sam only
        ],
    )
    [job] = do_import(path)
    assert job.status == "succeeded", job.message
    assert (job.inserted, job.referrals) == (4, 1)
    with connect() as conn:
        sam_uk = _referral(conn, ORG2, "+12124567809")[0]
        assert _referral(conn, ORG1, "+12124567810")[1:] == ("+441214960237", None)
        assert _referral(conn, ORG1, "+12124567811")[1:] == ("oliver.smith@example.net", None)
        assert _referral(conn, ORG2, "+442079460101")[1:] == ("+12124567809", sam_uk)
        assert _referral(conn, ORG2, "+442079460102")[1:] == ("sam.us@example.com", None)
        # resolving again finds nothing either: no lead of the same organization matches
        assert resolve_pending_referrals(conn) == 0
        assert referral_stats(conn, ORG1) == {"resolved": 5, "unresolved": 2}
        assert referral_stats(conn, ORG2) == {"resolved": 6, "unresolved": 1}
        assert referral_stats(conn, None) == {"resolved": 16, "unresolved": 3}
        assert one(
            conn,
            "select count(*) from leads l join leads r on r.id = l.referred_by_lead_id"
            " where r.organization_id <> l.organization_id",
        ) == (0,)


def test_pending_referral_resolved_by_a_later_import(connect, write_csv, do_import):
    first = write_csv(
        "first.csv",
        HEADER,
        [
            ["Flo", "Early", "212-456-7801", "", "(212) 456-7899"],  # nobody has it yet
            ["Gil", "Early", "212-456-7802", "", "newcomer@example.com"],
        ],
    )
    [job1] = do_import(first, org=ORG1)
    assert (job1.status, job1.inserted, job1.referrals) == ("succeeded", 2, 0), job1.message
    with connect() as conn:
        flo = _referral(conn, ORG1, "+12124567801")
        assert flo[1:] == ("+12124567899", None)
        assert referral_stats(conn, ORG1) == {"resolved": 5, "unresolved": 2}
    second = write_csv(
        "second.csv",
        HEADER,
        [
            ["Zed", "Referrer", "212-456-7899", "", ""],  # Flo's referrer
            ["Yul", "Other", "212-456-7898", "", ""],
        ],
    )
    [job2] = do_import(second, org=ORG1)
    assert (job2.status, job2.inserted, job2.referrals) == ("succeeded", 2, 1), job2.message
    with connect() as conn:
        zed = _referral(conn, ORG1, "+12124567899")[0]
        assert _referral(conn, ORG1, "+12124567801")[1:] == ("+12124567899", zed)
        assert _referral_audit(conn, flo[0]) == [
            ("referred_by_lead_id", None, zed, "import", job2.batch_id)
        ]
        # Gil's referrer is created outside imports (the CRM app): the resolver links it
        newcomer = one(
            conn,
            "insert into leads (organization_id, phone_number, email)"
            " values (%s, '+12124567897', 'Newcomer@Example.com') returning id::text",
            (ORG1,),
        )[0]
    # the graph sync's connection may be in autocommit mode
    with connect(autocommit=True) as conn:
        assert resolve_pending_referrals(conn, ORG2) == 0  # another organization: untouched
        assert resolve_pending_referrals(conn, ORG1) == 1
        assert resolve_pending_referrals(conn) == 0  # nothing left
        gil = _referral(conn, ORG1, "+12124567802")
        assert gil[1:] == ("newcomer@example.com", newcomer)
        assert _referral_audit(conn, gil[0]) == [
            ("referred_by_lead_id", None, newcomer, "referral_resolution", None)
        ]
        assert referral_stats(conn, ORG1) == {"resolved": 7, "unresolved": 0}


def test_merge_keeps_the_first_referral(connect, write_csv, do_import):
    first = write_csv(
        "first.csv",
        HEADER,
        [
            ["Jo", "Merge", "212-456-7801", "", "646-285-8916"],  # Emily
            ["Michael", "Rodriguez", "(646) 257-9894", "", "646-285-8916"],  # seeded, no ref
        ],
    )
    [job1] = do_import(first, org=ORG1)
    assert (job1.inserted, job1.merged, job1.referrals) == (1, 1, 2), job1.message
    second = write_csv(
        "second.csv",
        HEADER,
        [
            ["Jo", "Merge", "212-456-7801", "", "michael.rodriguez@example.org"],
            ["Michael", "Rodriguez", "(646) 257-9894", "", "212-456-7801"],
        ],
    )
    [job2] = do_import(second, org=ORG1)
    assert (job2.inserted, job2.merged, job2.referrals) == (0, 2, 0), job2.message
    with connect() as conn:
        jo = _referral(conn, ORG1, "+12124567801")
        assert jo[1:] == ("+16462858916", EMILY)
        assert _referral(conn, ORG1, "+16462579894") == (MICHAEL, "+16462858916", EMILY)
        # the seeded lead got its referral by merge: both fields audited, in the first batch
        assert _referral_audit(conn, MICHAEL) == [
            ("referred_by_lead_id", None, EMILY, "import", job1.batch_id),
            ("referred_by_ref", None, "+16462858916", "import", job1.batch_id),
        ]
        assert _referral_audit(conn, jo[0]) == [
            ("referred_by_lead_id", None, EMILY, "import", job1.batch_id)
        ]


def test_merge_fills_an_empty_referral_and_resolves_a_pending_one(connect, write_csv, do_import):
    first = write_csv(
        "first.csv",
        HEADER,
        [
            ["Kim", "Nil", "212-456-7801", "", ""],
            ["Lou", "Pend", "212-456-7802", "", "212-456-7890"],  # nobody yet
        ],
    )
    [job1] = do_import(first, org=ORG1)
    assert job1.referrals == 0, job1.message
    second = write_csv(
        "second.csv",
        HEADER,
        [
            ["Kim", "Nil", "212-456-7801", "", "emily.johnson@example.net"],  # fills
            ["Lou", "Pend", "212-456-7802", "", "646-285-8916"],  # keeps its pending handle
            ["Max", "Ref", "212-456-7890", "", ""],  # Lou's referrer arrives
        ],
    )
    [job2] = do_import(second, org=ORG1)
    assert (job2.inserted, job2.merged, job2.referrals) == (1, 2, 2), job2.message
    with connect() as conn:
        max_id = _referral(conn, ORG1, "+12124567890")[0]
        assert _referral(conn, ORG1, "+12124567801")[1:] == ("emily.johnson@example.net", EMILY)
        assert _referral(conn, ORG1, "+12124567802")[1:] == ("+12124567890", max_id)


def test_soft_deleted_referrer_is_not_used(connect, write_csv, do_import):
    first = write_csv(
        "first.csv",
        HEADER,
        [
            ["Old", "Gone", "212-456-7801", "gone@example.com", ""],
            ["Twin", "Older", "212-456-7802", "twin@example.com", ""],
            ["Twin", "Newer", "212-456-7803", "twin@example.com", ""],
        ],
    )
    [job1] = do_import(first, org=ORG1)
    assert job1.inserted == 3, job1.message
    with connect() as conn:
        gone = _referral(conn, ORG1, "+12124567801")[0]
        older = _referral(conn, ORG1, "+12124567802")[0]
        newer = _referral(conn, ORG1, "+12124567803")[0]
        conn.execute("update leads set deleted_at = now() where id = %s", (gone,))
        conn.execute(
            "update leads set created_at = created_at - interval '1 day' where id = %s", (older,)
        )
    second = write_csv(
        "second.csv",
        HEADER,
        [
            ["Ref", "ByPhone", "212-456-7804", "", "212-456-7801"],  # only a deleted lead
            ["Ref", "ByMail", "212-456-7805", "", "gone@example.com"],  # ditto
            ["Ref", "Twin", "212-456-7806", "", "TWIN@example.com"],  # two live: the oldest
        ],
    )
    [job2] = do_import(second, org=ORG1)
    assert (job2.inserted, job2.referrals) == (3, 1), job2.message
    with connect() as conn:
        assert _referral(conn, ORG1, "+12124567804")[1:] == ("+12124567801", None)
        assert _referral(conn, ORG1, "+12124567805")[1:] == ("gone@example.com", None)
        assert _referral(conn, ORG1, "+12124567806")[1:] == ("twin@example.com", older)
        assert resolve_pending_referrals(conn, ORG1) == 0
        # the same created_at: the lower id wins
        conn.execute("update leads set created_at = now() where id in (%s, %s)", (older, newer))
        conn.execute(
            "update leads set referred_by_lead_id = null where referred_by_ref = %s",
            ("twin@example.com",),
        )
        assert resolve_pending_referrals(conn, ORG1) == 1
        assert _referral(conn, ORG1, "+12124567806")[2] == min(older, newer)


def test_duplicate_rows_never_make_a_self_referral(connect, write_csv, do_import):
    path = write_csv(
        "dupes.csv",
        HEADER,
        [
            ["Nia", "Self", "212-456-7801", "", "nia@example.com"],
            ["Nia", "Self", "212-456-7801", "nia@example.com", ""],  # folds: her own e-mail
            ["Ola", "Self", "212-456-7802", "ola@example.com", "212 456 7802"],  # noted
        ],
    )
    [job] = do_import(path, org=ORG1)
    assert (job.inserted, job.duplicates_in_file, job.referrals) == (2, 1, 0), job.message
    with connect() as conn:
        assert _referral(conn, ORG1, "+12124567801")[1:] == (None, None)
        assert _referral(conn, ORG1, "+12124567802")[1:] == (None, None)


@pytest.mark.parametrize("bulk", [False, True], ids=["normal", "bulk"])
def test_bulk_path_gives_the_same_referrals(connect, write_csv, do_import, monkeypatch, bulk):
    monkeypatch.setenv("LEADFLOW_BULK_MIN_ROWS", "1" if bulk else "0")
    path = write_csv(
        "bulk.csv",
        HEADER,
        [
            ["Ann", "One", "212-456-7801", "", "(646) 285-8916"],  # existing, by phone
            ["Bea", "Two", "212-456-7802", "bea@example.com", "212-456-7801"],  # same file
            ["Cy", "Three", "212-456-7803", "", "BEA@example.com"],  # same file, by e-mail
            ["Michael", "R", "646-257-9894", "", "212-456-7803"],  # merged, same file
            ["Dot", "Four", "212-456-7804", "", "+44 121 496 0237"],  # other org: pending
        ],
    )
    [job] = do_import(path, org=ORG1)
    assert job.status == "succeeded", job.message
    assert (job.inserted, job.merged, job.referrals) == (4, 1, 4)
    with connect() as conn:
        ann = _referral(conn, ORG1, "+12124567801")
        bea = _referral(conn, ORG1, "+12124567802")
        cy = _referral(conn, ORG1, "+12124567803")
        assert ann[1:] == ("+16462858916", EMILY)
        assert bea[1:] == ("+12124567801", ann[0])
        assert cy[1:] == ("bea@example.com", bea[0])
        assert _referral(conn, ORG1, "+16462579894") == (MICHAEL, "+12124567803", cy[0])
        assert _referral(conn, ORG1, "+12124567804")[1:] == ("+441214960237", None)
        audit = conn.execute(
            "select field_name, count(*) from lead_audit_log where import_batch_id = %s"
            " and field_name like 'referred_by%%' group by 1 order by 1",
            (job.batch_id,),
        ).fetchall()
        assert audit == [("referred_by_lead_id", 4), ("referred_by_ref", 1)]


def test_demo_seed_has_referral_chains(connect, crm_url):
    """seeds/007_demo_referrals.sql: per organization 5 referrals, a lead who referred three
    others, a chain of length 3; referrers live, older and of the same organization."""
    with connect() as conn:
        per_org = conn.execute(
            """
            select l.organization_id::text, count(*),
                   count(*) filter (where r.organization_id = l.organization_id
                                      and r.deleted_at is null and r.created_at < l.created_at
                                      and l.referred_by_ref = r.phone_number)
            from leads l join leads r on r.id = l.referred_by_lead_id
            group by 1 order by 1
            """
        ).fetchall()
        assert per_org == [(ORG1, 5, 5), (ORG2, 5, 5), (ORG3, 5, 5)]
        top = conn.execute(
            "select referred_by_lead_id::text, count(*) from leads"
            " where referred_by_lead_id is not null group by 1 having count(*) >= 3 order by 1"
        ).fetchall()
        assert top == [(f"b{o}000000-0000-4000-8000-000000000017", 3) for o in (1, 2, 3)]
        longest = conn.execute(
            """
            with recursive up (start_id, referrer_id, depth) as (
                select id, referred_by_lead_id, 1 from leads where referred_by_lead_id is not null
                union all
                select up.start_id, l.referred_by_lead_id, up.depth + 1
                from up join leads l on l.id = up.referrer_id
                where l.referred_by_lead_id is not null and up.depth < 10
            )
            select start_id::text, max(depth) from up group by 1 having max(depth) = 3
            order by 1
            """
        ).fetchall()
        assert longest == [(f"b{o}000000-0000-4000-8000-000000000003", 3) for o in (1, 2, 3)]
    before = _referral_digest(connect)
    load_seed(crm_url)  # re-runnable: nothing changes
    assert _referral_digest(connect) == before


def _referral_digest(connect) -> list[tuple]:
    with connect() as conn:
        return conn.execute(
            "select id::text, referred_by_lead_id::text, referred_by_ref, updated_at from leads"
            " where referred_by_lead_id is not null order by id"
        ).fetchall()


def test_a_filled_handle_relinks_a_referrer_set_without_one(connect, write_csv, do_import):
    """A referrer set outside imports (no handle): the first imported handle is stored and,
    being a new handle, decides the referrer when it resolves."""
    with connect() as conn:
        conn.execute("update leads set referred_by_lead_id = %s where id = %s", (EMILY, MICHAEL))
    path = write_csv(
        "relink.csv", HEADER, [["Michael", "Rodriguez", "(646) 257-9894", "", "212-456-7801"]]
    )
    [job] = do_import(path, org=ORG1)
    assert (job.merged, job.referrals) == (1, 0), job.message  # no such lead: Emily stays
    with connect() as conn:
        assert _referral(conn, ORG1, "+16462579894") == (MICHAEL, "+12124567801", EMILY)
        conn.execute("update leads set referred_by_ref = null where id = %s", (MICHAEL,))
    path = write_csv(
        "relink2.csv", HEADER, [["Michael", "Rodriguez", "(646) 257-9894", "", "646-285-8916"]]
    )
    [job] = do_import(path, org=ORG1)
    assert job.referrals == 0, job.message  # the handle names Emily: nothing to change
    with connect() as conn:
        assert _referral(conn, ORG1, "+16462579894") == (MICHAEL, "+16462858916", EMILY)
        conn.execute("update leads set referred_by_ref = null where id = %s", (MICHAEL,))
    path = write_csv(
        "relink3.csv",
        HEADER,
        [["Michael", "Rodriguez", "(646) 257-9894", "", "sarah.kim@example.com"]],
    )
    [job] = do_import(path, org=ORG1)
    assert job.referrals == 1, job.message
    with connect() as conn:
        sarah = "b1000000-0000-4000-8000-000000000003"
        assert _referral(conn, ORG1, "+16462579894") == (MICHAEL, "sarah.kim@example.com", sarah)
        assert _referral_audit(conn, MICHAEL)[-2:] == [
            ("referred_by_lead_id", EMILY, sarah, "import", job.batch_id),
            ("referred_by_ref", None, "sarah.kim@example.com", "import", job.batch_id),
        ]


def test_the_lead_referrals_asset_links_what_is_pending_in_every_organization(crm_url, connect):
    """The nightly's ingest step (before the graph, which only reads): a referrer that arrived
    outside an import is linked, per organization, with its audit row."""
    import dagster as dg

    from leadflow.ingest.assets import lead_referrals
    from leadflow.resources import PostgresResource

    with connect() as conn:
        waiting = {}
        for org, phone in ((ORG1, "+12124567891"), (ORG2, "+12124567892")):
            waiting[org] = one(
                conn,
                "insert into leads (organization_id, phone_number, referred_by_ref)"
                " values (%s, %s, %s) returning id::text",
                (org, phone, "+12124567893"),
            )[0]
        # the referrer, created outside imports, in ORG1 only
        referrer = one(
            conn,
            "insert into leads (organization_id, phone_number) values (%s, '+12124567893')"
            " returning id::text",
            (ORG1,),
        )[0]
    result = dg.materialize(
        [lead_referrals],
        resources={"postgres": PostgresResource(url=crm_url)},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    [materialization] = result.asset_materializations_for_node("lead_referrals")
    assert materialization.metadata["referrals_resolved"].value == 1
    assert materialization.metadata["by_organization"].value == {ORG1: 1}
    with connect() as conn:
        assert _referral(conn, ORG1, "+12124567891")[2] == referrer
        assert _referral(conn, ORG2, "+12124567892")[2] is None  # never across organizations
        assert _referral_audit(conn, waiting[ORG1]) == [
            ("referred_by_lead_id", None, referrer, "referral_resolution", None)
        ]
