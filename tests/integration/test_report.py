"""`leadflow report` on marts dbt really built from the seed: the HTML shows the marts' sums.

One fresh database per module: migrated, seeded, `dbt build`; every number asserted below is
summed straight from the `analytics` tables and compared with what the report prints.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict

import psycopg
import pytest
from click.testing import CliRunner

from leadflow.analytics.project import funnel_stages
from leadflow.analytics.report import (
    BAR_WIDTH,
    MARTS,
    ReportError,
    funnel_markdown,
    load_report_data,
    mart_preview,
    roi_markdown,
    write_report,
)
from leadflow.analytics.report.data import TREND_WEEKS
from leadflow.cli.report import report as report_cli
from tests.integration.conftest import ORG1, ORG2, ORG3, Pipeline

#: the tests reading the shared `pipeline` run share one pytest-xdist worker
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("pipeline")]

SLUGS = {ORG1: "summit", ORG2: "northwind", ORG3: "southern-cross"}
STAGES = funnel_stages()
FUNNEL_COLUMNS = [f"reached_{stage}" for stage in STAGES] + ["exited_cold", "exited_dnc"]
FUNNEL_KEYS = [*STAGES, "cold", "dnc"]


@pytest.fixture(scope="module")
def built(pipeline: Pipeline) -> str:
    """The database the shared pipeline run built: seed, sample imports, nightly job, marts."""
    assert pipeline.run.returncode == 0 and pipeline.demo.returncode == 0
    return pipeline.url


#: 2-decimal rounding of the marts, plus float error
ROUNDED = 0.005 + 1e-9


def funnel_sums(conn: psycopg.Connection, org: str | None = None) -> dict[str, int]:
    sums = ", ".join(f"coalesce(sum({col}), 0)" for col in ["leads_entered", *FUNNEL_COLUMNS])
    where, params = ("where organization_id = %s", [org]) if org else ("", [])
    row = conn.execute(
        f"select count(*), {sums} from analytics.lead_funnel {where}", params
    ).fetchone()
    return dict(zip(["rows", "entered", *FUNNEL_KEYS], map(int, row), strict=True))


def roi_sums(conn: psycopg.Connection, org: str) -> list[tuple]:
    return conn.execute(
        "select coalesce(source, '(no source)'), sum(leads)::int, sum(recruited)::int,"
        " sum(cost_usd) from analytics.source_roi where organization_id = %s"
        " group by source order by sum(leads) desc, source",
        [org],
    ).fetchall()


def block(document: str, marker: str) -> str:
    """The <section> whose opening tag contains `marker`."""
    match = re.search(rf"<section [^>]*{re.escape(marker)}[^>]*>.*?</section>", document, re.S)
    assert match, marker
    return match.group(0)


def shown_counts(html_block: str) -> dict[str, int]:
    found = re.findall(r'data-stage="(\w+)" data-count="(\d+)"', html_block)
    return {stage: int(count) for stage, count in found}


def pct(numerator: int, denominator: int) -> str:
    return f"{numerator / denominator * 100:.1f}%"


def assert_funnel_shown(html_block: str, sums: dict[str, int]) -> None:
    assert shown_counts(html_block) == {key: sums[key] for key in FUNNEL_KEYS}
    assert f"{sums['entered']:,} leads entered" in html_block
    new = sums["new"]
    for previous, stage in zip(STAGES, STAGES[1:], strict=False):
        if sums[previous]:
            expected = (
                f"{sums[stage]:,} · step {pct(sums[stage], sums[previous])}"
                f" · cumulative {pct(sums[stage], new)}"
            )
            assert expected in html_block, expected
    assert f"{sums['cold']:,} · {pct(sums['cold'], new)} of new" in html_block


def assert_self_contained(document: str) -> None:
    lowered = document.lower()
    for needle in ("<script", "http://", "https://", "<link", "@import", "url(", "src="):
        assert needle not in lowered, needle


def test_report_for_one_organization_by_slug(built, tmp_path):
    out = tmp_path / "summit.html"
    summary = write_report(built, out, organization="summit")
    document = out.read_text(encoding="utf-8")
    assert summary.path == out.resolve() and summary.bytes == out.stat().st_size
    assert [str(org.id) for org in summary.organizations] == [ORG1]
    assert "<title>Leadflow report — Summit Talent Partners</title>" in document
    assert_self_contained(document)
    with psycopg.connect(built) as conn:
        sums = funnel_sums(conn, ORG1)
        roi = roi_sums(conn, ORG1)
        coaching_rows = conn.execute(
            "select count(*) from analytics.agent_coaching where organization_id = %(org)s"
            " and week_start > (select max(week_start) from analytics.agent_coaching"
            "                   where organization_id = %(org)s) - 28",
            {"org": ORG1},
        ).fetchone()[0]
        movers = conn.execute(
            "with week as (select * from analytics.lead_score_trends"
            "  where organization_id = %(org)s and period_type = 'week'),"
            " latest as (select max(period_start) as period_start from week"
            "  where top_riser_delta > 0 or top_faller_delta < 0)"
            " select period_start, top_riser_lead_id, top_riser_delta, top_faller_lead_id,"
            "  top_faller_delta from week join latest using (period_start)",
            {"org": ORG1},
        ).fetchall()
        weeks = conn.execute(
            "select count(distinct period_start) from analytics.lead_score_trends"
            " where organization_id = %s and period_type = 'week'",
            [ORG1],
        ).fetchone()[0]
    assert sums["rows"] > 0 and sums["new"] > 0
    risers = [(row[1], row[2]) for row in movers if row[2] is not None and row[2] > 0]
    fallers = [(row[3], row[4]) for row in movers if row[4] is not None and row[4] < 0]
    section = block(document, 'data-organization="summit"')
    assert_funnel_shown(section, sums)
    assert "All organizations" not in document

    roi_table = re.search(r'<table class="roi">.*?</table>', section, re.S).group(0)
    rows = re.findall(r"<tr[^>]*><td>(.*?)</td>((?:<td[^>]*>.*?</td>)+)</tr>", roi_table)
    shown = {name: re.findall(r"<td[^>]*>(.*?)</td>", cells) for name, cells in rows}
    assert len(shown) == len(roi) + 1  # one row per source plus the total
    for source, leads, recruited, cost in roi:
        cells = shown[source]
        assert cells[:2] == [f"{leads:,}", f"{recruited:,}"]
        assert cells[2] == (f"${cost:,.2f}" if cost is not None else "no cost data")
        per_recruit = f"${float(cost) / recruited:,.2f}" if cost is not None and recruited else "—"
        assert cells[5] == per_recruit
    total = shown["All sources"]
    assert total[:2] == [f"{sum(r[1] for r in roi):,}", f"{sum(r[2] for r in roi):,}"]

    assert summary.sections == {
        "funnel": sums["rows"],
        "roi": len(roi),
        "score_trends": min(weeks, TREND_WEEKS),  # the report shows the latest 52 weeks
        "score_movers": min(5, len(risers)) + min(5, len(fallers)),
        "coaching": coaching_rows,
    }
    assert section.count('<table class="coaching">') == (1 if coaching_rows else 0)
    assert risers and f"Biggest movers, week of {movers[0][0].isoformat()}" in section
    top = max(risers, key=lambda mover: mover[1])
    assert f"<code>{top[0]}</code>" in section and f"+{top[1]:.1f}" in section
    with psycopg.connect(built) as conn:  # the lead's name beside its id (issue 20)
        name = conn.execute(
            "select first_name || ' ' || last_name from leads where id = %s", [top[0]]
        ).fetchone()[0]
    assert f"<td>{name}<br><code" in section
    assert document.count("<tr><td>") >= len(roi) + coaching_rows


def percentile_cont(values: list[int], fraction: float) -> float:
    """PostgreSQL's percentile_cont: linear between the two sorted values around the position
    fraction * (n - 1)."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def test_score_trend_shows_true_percentiles_of_the_organizations_leads(built, tmp_path):
    """Straight from lead_score_history: each live lead's last score of each local week, then
    the average, median and p90 of the organization's leads in Python."""
    with psycopg.connect(built) as conn:
        last_scores = conn.execute(
            "select distinct on (h.lead_id, week)"
            "  date_trunc('week', h.calculated_at at time zone o.timezone)::date as week, h.score"
            " from lead_score_history as h"
            " join leads as l on l.id = h.lead_id and l.deleted_at is null"
            " join organizations as o on o.id = l.organization_id"
            " where l.organization_id = %s"
            " order by h.lead_id, week, h.calculated_at desc, h.id desc",
            [ORG1],
        ).fetchall()
        weighted = dict(
            conn.execute(
                "select period_start, sum(median_score * leads_scored) / sum(leads_scored)"
                " from analytics.lead_score_trends"
                " where organization_id = %s and period_type = 'week' group by period_start",
                [ORG1],
            ).fetchall()
        )
        points = load_report_data(conn, "summit").organizations[0].score_trend
    by_week: dict = defaultdict(list)
    for week, score in last_scores:
        by_week[week].append(score)
    weeks = sorted(by_week)[-52:]
    assert [point.week_start for point in points] == weeks
    for point in points:
        scores = by_week[point.week_start]
        assert point.leads_scored == len(scores)
        # the mart rounds to 2 decimals: at most half a hundredth off, which in floats can be
        # a hair over 0.005 (51.375 shown as 51.38)
        assert point.avg_score == pytest.approx(sum(scores) / len(scores), abs=ROUNDED)
        assert point.median_score == pytest.approx(percentile_cont(scores, 0.5), abs=ROUNDED)
        assert point.p90_score == pytest.approx(percentile_cont(scores, 0.9), abs=ROUNDED)
    # the seed has weeks where a leads-weighted mean of the groups' medians is not the median
    assert any(
        abs(float(weighted[week]) - percentile_cont(by_week[week], 0.5)) > 0.01 for week in weeks
    )
    document = write_report(built, tmp_path / "scores.html", organization="summit").path
    html = document.read_text(encoding="utf-8")
    for week in weeks:
        median = percentile_cont(by_week[week], 0.5)
        assert f"{week.isoformat()} median: {median:,.1f}</title>" in html


def test_report_for_all_organizations(built, tmp_path):
    out = tmp_path / "all.html"
    summary = write_report(built, out)
    document = out.read_text(encoding="utf-8")
    assert_self_contained(document)
    assert {str(org.id) for org in summary.organizations} == {ORG1, ORG2, ORG3}
    with psycopg.connect(built) as conn:
        overall = funnel_sums(conn)
        per_org = {org: funnel_sums(conn, org) for org in SLUGS}
    assert overall["rows"] == sum(sums["rows"] for sums in per_org.values())
    assert_funnel_shown(block(document, 'id="all-organizations"'), overall)
    for org, slug in SLUGS.items():
        assert_funnel_shown(block(document, f'data-organization="{slug}"'), per_org[org])
    assert summary.sections["funnel"] == overall["rows"]
    assert "<title>Leadflow report — All organizations</title>" in document


def test_organization_by_uuid_or_exact_name_and_unknown_ones(built):
    with psycopg.connect(built) as conn:
        by_uuid = load_report_data(conn, ORG2)
        by_name = load_report_data(conn, "Northwind Recruiting")
        assert by_uuid.organizations[0].organization.slug == "northwind"
        assert by_name.organizations[0].funnel == by_uuid.organizations[0].funnel
        with pytest.raises(ReportError, match="northwind, southern-cross, summit"):
            load_report_data(conn, "northwind recruiting ltd")


def test_markdown_metadata_matches_the_mart(built):
    with psycopg.connect(built) as conn:
        sums = funnel_sums(conn, ORG1)
        funnel = funnel_markdown(conn, ORG1).splitlines()
        roi = roi_markdown(conn, ORG1).splitlines()
        everything = funnel_markdown(conn).splitlines()
        total = funnel_sums(conn)
        roi_rows = roi_sums(conn, ORG1)
    assert funnel[0] == f"**{sums['entered']:,} leads entered**"
    assert funnel[4].startswith(f"| New | {sums['new']:,} | {'█' * BAR_WIDTH} |")
    assert funnel[9].startswith(f"| Recruited | {sums['recruited']:,} |")
    assert everything[4].startswith(f"| New | {total['new']:,} |")
    assert len(roi) == 2 + len(roi_rows)
    for line, (source, leads, recruited, _cost) in zip(roi[2:], roi_rows, strict=True):
        escaped = source.replace("_", r"\_")  # Markdown would read job_fair's _ as emphasis
        assert line.startswith(f"| {escaped} | {leads:,} | {recruited:,} |")


def test_mart_preview_counts_and_rows(built):
    with psycopg.connect(built) as conn:
        preview = mart_preview(conn, limit=2)
        counts = {
            mart: conn.execute(f"select count(*) from analytics.{mart}").fetchone()[0]
            for mart in MARTS
        }
    assert list(preview) == list(MARTS)
    for mart, lines in preview.items():
        assert lines[0] == f"{counts[mart]:,} rows", mart
        assert len(lines) == (2 + min(2, counts[mart]) if counts[mart] else 1), mart
        assert all(len(line) <= 120 for line in lines), mart


def _cli(url: str, *args: str):
    return CliRunner().invoke(report_cli, list(args), env={"POSTGRES_URL": url})


def test_cli_writes_the_report_and_prints_the_path(built, tmp_path):
    out = tmp_path / "cli.html"
    result = _cli(built, "--out", str(out), "--org", "southern-cross")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out.resolve())
    assert "Southern Cross Staffing" in out.read_text(encoding="utf-8")

    as_json = _cli(built, "--out", str(tmp_path / "all.html"), "--json")
    assert as_json.exit_code == 0, as_json.output
    payload = json.loads(as_json.stdout)
    assert payload["path"] == str((tmp_path / "all.html").resolve())
    assert payload["bytes"] == (tmp_path / "all.html").stat().st_size
    assert sorted(org["slug"] for org in payload["organizations"]) == sorted(SLUGS.values())
    assert set(payload["sections"]) == {"funnel", "roi", "score_trends", "score_movers", "coaching"}


def test_cli_takes_the_organization_by_uuid_slug_name_or_all(built, tmp_path):
    by_uuid = _cli(built, "--out", str(tmp_path / "a.html"), "--org", ORG3, "--json")
    by_name = _cli(built, "--out", str(tmp_path / "b.html"), "--org", "Southern Cross Staffing")
    assert by_uuid.exit_code == 0 and by_name.exit_code == 0, by_uuid.output + by_name.output
    assert [o["slug"] for o in json.loads(by_uuid.stdout)["organizations"]] == ["southern-cross"]
    assert "Southern Cross Staffing" in (tmp_path / "b.html").read_text(encoding="utf-8")
    every = _cli(built, "--out", str(tmp_path / "c.html"), "--org", "all", "--json")
    assert every.exit_code == 0, every.output
    slugs = sorted(org["slug"] for org in json.loads(every.stdout)["organizations"])
    assert slugs == sorted(SLUGS.values())


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["--org", "nowhere"],
            2,
            "unknown organization --org 'nowhere': give a UUID, a slug or an exact name"
            " (northwind, southern-cross, summit)",
        ),
        (["--out", "/nonexistent-dir/x/report.html"], 1, "cannot write the report to"),
    ],
)
def test_cli_errors_exit_with_one_line(built, args, code, message):
    result = _cli(built, *args)
    assert result.exit_code == code
    assert result.stderr.startswith("leadflow: error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not result.stdout


def test_cli_without_marts_says_how_to_build_them(new_migrated_database, tmp_path):
    url = new_migrated_database("report_nomarts")
    result = _cli(url, "--out", str(tmp_path / "r.html"))
    assert result.exit_code == 1
    assert "run `leadflow run` (or `make demo`) first to build the analytics marts" in (
        result.stderr
    )
    assert not (tmp_path / "r.html").exists()
