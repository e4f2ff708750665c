"""`import_costs` / `leadflow costs import` against the seeded CRM database."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from leadflow.cli.costs import costs
from leadflow.costs.sql import import_costs
from tests.integration.conftest import ORG1, ORG1_AGENT, ORG2, ORG2_AGENT, one

pytestmark = pytest.mark.integration

ORG1_AGENT_EMAIL = "priya.patel@summit.example.com"
ORG1_OTHER_AGENT = "a1000000-0000-4000-8000-000000000004"
HEADER = ["user", "source", "period", "cost"]


def cost_of(conn: psycopg.Connection, user: str, source: str, period: str):
    row = conn.execute(
        "select id::text, cost_usd, organization_id::text, updated_at from lead_source_costs"
        " where user_id = %s and source = %s and period = %s",
        (user, source, period),
    ).fetchone()
    return row


def ledger(conn: psycopg.Connection, reference: str | None = None) -> list[tuple]:
    query = (
        "select user_id::text, transaction_type, amount_usd, description, reference"
        " from budget_transactions where reference like 'lead_source_costs:%%'"
    )
    params: tuple = ()
    if reference:
        query += " and reference = %s"
        params = (reference,)
    return conn.execute(query + " order by seq", params).fetchall()


def assert_ledger_consistent(conn: psycopg.Connection) -> None:
    """Every balance_after_usd equals the running sum of the user's amounts in seq order."""
    broken = one(
        conn,
        """
        select count(*) from (
            select balance_after_usd,
                   sum(amount_usd) over (partition by user_id order by seq) as running
            from budget_transactions
        ) t
        where balance_after_usd <> running
        """,
    )
    assert broken == (0,)


def test_round_trip_then_reimport_is_a_no_op(connect, write_csv):
    path = write_csv(
        "costs.csv",
        HEADER,
        [
            [ORG1_AGENT, "Facebook Ads", "2026-12", "250"],
            [ORG1_AGENT_EMAIL.upper(), "linkedin", "2026-12", "$1,200.50"],
            [ORG2_AGENT, "indeed", "2026/12", "0"],
        ],
    )
    with connect() as conn:
        result = import_costs(conn, path)
    assert result.errors == []
    assert (result.status, result.rows_read, result.inserted, result.updated) == (
        "imported",
        3,
        3,
        0,
    )
    assert result.ledger_rows == 2  # a zero cost changes no budget
    with connect() as conn:  # the file's own spelling is kept beside the cleaned source
        raw = conn.execute(
            "select source, source_raw from lead_source_costs"
            " where period = '2026-12' and source in ('facebook', 'linkedin') order by source"
        ).fetchall()
    assert raw == [("facebook", "Facebook Ads"), ("linkedin", "linkedin")]
    assert result.spend_usd == Decimal("-1450.50") and result.refund_usd == 0

    with connect() as conn:
        facebook = cost_of(conn, ORG1_AGENT, "facebook", "2026-12")
        linkedin = cost_of(conn, ORG1_AGENT, "linkedin", "2026-12")
        indeed = cost_of(conn, ORG2_AGENT, "indeed", "2026-12")
        assert facebook[1:3] == (Decimal("250.00"), ORG1)
        assert linkedin[1] == Decimal("1200.50")
        assert indeed[1:3] == (Decimal("0.00"), ORG2)
        rows = ledger(conn)
        assert rows == [
            (
                ORG1_AGENT,
                "spend",
                Decimal("-250.00"),
                "Lead source cost facebook 2026-12: 0.00 -> 250.00 USD",
                f"lead_source_costs:{facebook[0]}",
            ),
            (
                ORG1_AGENT,
                "spend",
                Decimal("-1200.50"),
                "Lead source cost linkedin 2026-12: 0.00 -> 1200.50 USD",
                f"lead_source_costs:{linkedin[0]}",
            ),
        ]
        assert_ledger_consistent(conn)

    with connect() as conn:
        again = import_costs(conn, path)
    assert (again.status, again.inserted, again.updated, again.unchanged) == ("unchanged", 0, 0, 3)
    assert again.ledger_rows == 0
    with connect() as conn:
        assert len(ledger(conn)) == 2
        assert cost_of(conn, ORG1_AGENT, "facebook", "2026-12")[3] == facebook[3]


def test_a_change_writes_one_ledger_row_with_the_signed_difference(connect, write_csv):
    with connect() as conn:
        cost_id, seeded, _, _ = cost_of(conn, ORG1_AGENT, "facebook", "2026-05")
        balance_before = one(conn, "select budget_balance(%s)", (ORG1_AGENT,))[0]

    rise = write_csv("rise.csv", HEADER, [[ORG1_AGENT, "fb", "2026-05", str(seeded + 100)]])
    with connect() as conn:
        result = import_costs(conn, rise)
    assert (result.updated, result.ledger_rows) == (1, 1)
    with connect() as conn:
        assert ledger(conn, f"lead_source_costs:{cost_id}") == [
            (
                ORG1_AGENT,
                "spend",
                Decimal("-100.00"),
                f"Lead source cost facebook 2026-05: {seeded} -> {seeded + 100} USD",
                f"lead_source_costs:{cost_id}",
            )
        ]
        assert one(conn, "select budget_balance(%s)", (ORG1_AGENT,))[0] == balance_before - 100

    fall = write_csv("fall.csv", HEADER, [[ORG1_AGENT, "facebook", "2026-05", str(seeded - 40)]])
    with connect() as conn:
        result = import_costs(conn, fall)
    assert (result.updated, result.ledger_rows, result.refund_usd) == (1, 1, Decimal("140.00"))
    with connect() as conn:
        rows = ledger(conn, f"lead_source_costs:{cost_id}")
        assert [(r[1], r[2]) for r in rows] == [
            ("spend", Decimal("-100.00")),
            ("refund", Decimal("140.00")),
        ]
        assert one(conn, "select budget_balance(%s)", (ORG1_AGENT,))[0] == balance_before + 40
        assert cost_of(conn, ORG1_AGENT, "facebook", "2026-05")[1] == seeded - 40
        assert_ledger_consistent(conn)


def test_many_changes_for_one_user_chain_their_balances(connect, write_csv):
    rows = [
        [ORG1_OTHER_AGENT, source, f"2026-{m:02d}", str(10 * m)]
        for source in ("facebook", "referral")
        for m in range(1, 13)
    ]
    with connect() as conn:
        result = import_costs(conn, write_csv("year.csv", HEADER, rows))
    assert result.errors == [] and result.ledger_rows == 24
    with connect() as conn:
        assert_ledger_consistent(conn)


def test_bad_rows_refuse_the_whole_file_with_messages(connect, write_csv):
    path = write_csv(
        "bad.csv",
        [*HEADER, "organization_id"],
        [
            [ORG1_AGENT, "facebook", "2026-12", "10", ""],  # fine on its own
            ["nobody@example.com", "facebook", "2026-12", "10", ""],
            [ORG1_AGENT, "facebook", "December", "10", ""],
            [ORG1_AGENT, "linkedin", "2026-12", "-5", ""],
            [ORG1_AGENT, "indeed", "2026-12", "ten", ""],
            [ORG1_AGENT, "Facebook", "2026-12", "11", ""],  # same key as the first row
            [ORG1_AGENT, "indeed", "2026-12", "10", ORG2],
            ["a1000000-0000-4000-8000-000000000099", "", "2026-12", "1", ""],
        ],
    )
    with connect() as conn:
        costs_before = one(conn, "select count(*) from lead_source_costs")[0]
        ledger_before = one(conn, "select count(*) from budget_transactions")[0]
        result = import_costs(conn, path)
    assert result.status == "refused"
    messages = [str(e) for e in result.errors]
    assert messages == [
        "row 3 user: unknown user e-mail ('nobody@example.com')",
        "row 4 period: period must be a month written YYYY-MM ('December')",
        "row 5 cost: cost is negative ('-5')",
        "row 6 cost: cost is not a number ('ten')",
        "row 7: same user, source (facebook) and period as row 2",
        f"row 8 user: user does not belong to organization_id ('{ORG1_AGENT}')",
        "row 9 user: unknown user ('a1000000-0000-4000-8000-000000000099')",
        "row 9 source: source is empty",
    ]
    with connect() as conn:
        assert one(conn, "select count(*) from lead_source_costs")[0] == costs_before
        assert one(conn, "select count(*) from budget_transactions")[0] == ledger_before


def test_xlsx_file_imports(connect, tmp_path: Path):
    openpyxl = pytest.importorskip("openpyxl")
    workbook = openpyxl.Workbook()
    workbook.active.append(["User Email", "Lead Source", "Month", "Amount"])
    workbook.active.append([ORG1_AGENT_EMAIL, "Indeed", "2027-01", 99.5])
    path = tmp_path / "costs.xlsx"
    workbook.save(path)
    with connect() as conn:
        result = import_costs(conn, path)
    assert (result.status, result.inserted, result.ledger_rows) == ("imported", 1, 1)
    with connect() as conn:
        assert cost_of(conn, ORG1_AGENT, "indeed", "2027-01")[1] == Decimal("99.50")


def test_cli_exit_codes(crm_url, write_csv):
    runner = CliRunner()
    env = {"POSTGRES_URL": crm_url}
    good = write_csv("good.csv", HEADER, [[ORG1_AGENT, "facebook", "2027-02", "5"]])
    ok = runner.invoke(costs, ["import", str(good)], env=env)
    assert ok.exit_code == 0, ok.output
    assert "imported" in ok.output and "ledger rows 1" in ok.output

    again = runner.invoke(costs, ["import", str(good), "--json"], env=env)
    assert again.exit_code == 0
    assert json.loads(again.output)["status"] == "unchanged"

    bad = write_csv("bad.csv", HEADER, [[ORG1_AGENT, "facebook", "2027-13", "5"]])
    refused = runner.invoke(costs, ["import", str(bad)], env=env)
    assert refused.exit_code == 1
    assert "refused" in refused.output and "row 2 period" in refused.output

    missing = runner.invoke(costs, ["import", str(good.parent / "nope.csv")], env=env)
    assert missing.exit_code == 1 and "cannot be read" in missing.output


def test_a_file_that_is_no_table_is_refused_with_one_file_error(connect, write_csv):
    path = write_csv(
        "costs.csv", HEADER, [[ORG1_AGENT, "facebook", "2027-03", "5"]], encoding="utf-16"
    )
    with connect() as conn:
        ledger_before = one(conn, "select count(*) from budget_transactions")[0]
        result = import_costs(conn, path)
    assert (result.status, result.rows_read) == ("refused", 0)
    assert [str(e) for e in result.errors] == [
        f"file: {path} is UTF-16 text: save it as CSV (UTF-8) and retry"
    ]
    with connect() as conn:
        assert one(conn, "select count(*) from budget_transactions")[0] == ledger_before


def test_a_landing_cost_file_is_imported_by_the_asset_and_filed_away(
    crm_url, tmp_path, monkeypatch
):
    """What a run of cost_import_job (the costs sensor's) does: the file in <landing>/costs/ is
    imported and moves to costs/processed/; a refused one fails the run and moves to
    costs/failed/, nothing imported."""
    import dagster as dg

    from leadflow.costs.assets import LandingCostFiles, lead_source_costs
    from leadflow.resources import PostgresResource

    root = tmp_path / "landing"
    (root / "costs").mkdir(parents=True)
    monkeypatch.setenv("LEADFLOW_LANDING_DIR", str(root))

    def run(name: str, rows: list[list[str]]) -> dg.ExecuteInProcessResult:
        path = root / "costs" / name
        path.write_text("\n".join(",".join(row) for row in [HEADER, *rows]) + "\n")
        return dg.materialize(
            [lead_source_costs],
            resources={"postgres": PostgresResource(url=crm_url), "cost_files": LandingCostFiles()},
            run_config={"ops": {"lead_source_costs": {"config": {"file": str(path)}}}},
            raise_on_error=False,
        )

    good = run("good.csv", [[ORG1_AGENT, "craigslist", "2027-04", "12.50"]])
    assert good.success
    [materialization] = good.asset_materializations_for_node("lead_source_costs")
    assert materialization.metadata["inserted"].value == 1
    assert (root / "costs" / "processed" / "good.csv").exists()
    assert not (root / "costs" / "good.csv").exists()
    with psycopg.connect(crm_url) as conn:
        assert cost_of(conn, ORG1_AGENT, "craigslist", "2027-04")[1] == Decimal("12.50")

    bad = run("bad.csv", [[ORG1_AGENT, "craigslist", "2027-05", "-1"]])
    assert not bad.success
    assert (root / "costs" / "failed" / "bad.csv").exists()
    with psycopg.connect(crm_url) as conn:
        assert cost_of(conn, ORG1_AGENT, "craigslist", "2027-05") is None

    outside = tmp_path / "outside.csv"
    outside.write_text(",".join(HEADER) + "\n")
    refused = dg.materialize(
        [lead_source_costs],
        resources={"postgres": PostgresResource(url=crm_url), "cost_files": LandingCostFiles()},
        run_config={"ops": {"lead_source_costs": {"config": {"file": str(outside)}}}},
        raise_on_error=False,
    )
    assert not refused.success and outside.exists()


def test_the_cli_prints_the_import_result_as_import_costs_returns_it(crm_url, connect, write_csv):
    """`leadflow costs import --json` runs the asset; its output is still the result object."""
    bad = write_csv(
        "bad.csv", HEADER, [[ORG1_AGENT, "facebook", "2027-13", "5"], ["x", "", "", ""]]
    )
    with connect() as conn:
        direct = import_costs(conn, str(bad)).as_dict()
    printed = CliRunner().invoke(
        costs, ["import", str(bad), "--json"], env={"POSTGRES_URL": crm_url}
    )
    assert printed.exit_code == 1
    assert json.loads(printed.output) == json.loads(json.dumps(direct, default=str))
    assert len(printed.output.splitlines()) == 1  # one object on one line
