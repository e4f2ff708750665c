"""The HTML report and the Markdown chart metadata rendered from hand-made data (no database)."""

from __future__ import annotations

import re
import tomllib
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fnmatch import fnmatch
from importlib import resources
from pathlib import Path

import pytest

from leadflow.analytics.report import (
    BAR_WIDTH,
    DASH,
    CoachingRow,
    Funnel,
    Organization,
    OrganizationReport,
    ReportData,
    ReportError,
    ScoreMover,
    ScorePoint,
    SourceRoi,
    align_rows,
    compare,
    funnel_table_markdown,
    render_html,
    resolve_organization,
    roi_table_markdown,
    text_bar,
)

HOSTILE = "<script>alert('x')</script> & Co"
ORG = Organization(
    uuid.UUID("11111111-1111-4111-8111-111111111111"), "Summit", "summit", "America/New_York"
)
EVIL_ORG = Organization(uuid.UUID("99999999-9999-4999-8999-999999999999"), HOSTILE, "evil")
GENERATED = datetime(2026, 3, 14, 15, 30, tzinfo=UTC)
AS_OF = datetime(2026, 3, 13, 22, 15, tzinfo=UTC)  # 18:15 in New York (EDT)

# 1,250 entered; reached: new 1,200, contacted 600, qualified 240, nurturing 120, hot 60,
# recruited 15; exits: cold 96, dnc 24
FUNNEL = Funnel(
    leads_entered=1250,
    reached={
        "new": 1200,
        "contacted": 600,
        "qualified": 240,
        "nurturing": 120,
        "hot": 60,
        "recruited": 15,
    },
    exited_cold=96,
    exited_dnc=24,
    mart_rows=42,
)
ROI = [
    SourceRoi("facebook", leads=800, recruited=8, cost_usd=4000.0),  # $5.00/lead, $500/recruit
    SourceRoi("indeed", leads=400, recruited=5, cost_usd=1250.0),  # $3.125/lead, $250/recruit
    SourceRoi("referral", leads=50, recruited=0, cost_usd=300.0),  # no recruits: "—"
    SourceRoi(None, leads=10, recruited=2, cost_usd=None),  # no cost data
]
TREND = [
    ScorePoint(date(2026, 1, 5) + timedelta(weeks=i), 100 + i, 40.0 + i, 38.0 + i, 70.0 + i)
    for i in range(10)
]
RISER = ScoreMover("aaaaaaaa-0000-4000-8000-000000000001", "facebook", "Ann Agent", 25.0)
FALLER = ScoreMover("bbbbbbbb-0000-4000-8000-000000000002", None, None, -12.5)
COACHING = [
    # better share (0.75 > 0.5), worse hours (30 > 12), better activities, worse conversions
    CoachingRow(
        "u1", "Ann Agent", date(2026, 3, 9), 12, 0.75, 30.0, 3.5, 0, 10.0, 0.5, 12.0, 2.0, 1.5
    ),
    CoachingRow("u2", HOSTILE, date(2026, 3, 9), 8, 0.25, 6.0, 1.0, 3, 10.0, 0.5, 12.0, 2.0, 1.5),
]


def org_report(org: Organization = ORG, **overrides) -> OrganizationReport:
    values = dict(
        funnel=FUNNEL,
        roi=ROI,
        score_trend=TREND,
        movers_week=date(2026, 3, 9),
        risers=[RISER],
        fallers=[FALLER],
        coaching=COACHING,
        data_as_of=AS_OF,
    )
    values.update(overrides)
    return OrganizationReport(org, **values)


def one_org(**overrides) -> str:
    return render_html(ReportData(GENERATED, [org_report(**overrides)]))


def section(document: str, css_class: str) -> str:
    match = re.search(rf'<table class="{css_class}">.*?</table>', document, re.S)
    assert match, css_class
    return match.group(0)


def test_header_names_the_organization_and_both_times():
    document = one_org()
    assert "<title>Leadflow report — Summit</title>" in document
    assert "Generated at 2026-03-14 15:30 UTC" in document
    assert "data as of 2026-03-13 18:15 America/New_York" in document


def test_funnel_chart_has_every_stage_with_counts_and_rates():
    document = one_org()
    assert document.count('<svg class="chart"') == 3  # funnel, ROI, score trend
    counts = dict(re.findall(r'data-stage="(\w+)" data-count="(\d+)"', document))
    assert counts == {
        "new": "1200",
        "contacted": "600",
        "qualified": "240",
        "nurturing": "120",
        "hot": "60",
        "recruited": "15",
        "cold": "96",
        "dnc": "24",
    }
    assert "1,250 leads entered" in document
    assert "1,200 · 100% of new" in document
    assert "600 · step 50.0% · cumulative 50.0%" in document
    assert "240 · step 40.0% · cumulative 20.0%" in document
    assert "15 · step 25.0% · cumulative 1.2%" in document  # 15/60, 15/1200 = 1.25%
    assert "96 · 8.0% of new" in document and "24 · 2.0% of new" in document


def test_funnel_bars_scale_to_the_largest_stage():
    document = one_org()
    widths = dict(
        re.findall(
            r'data-stage="(\w+)"[^>]*>.*?<rect class="bar-\w+" x="\d+" y="\d+" '
            r'width="([\d.]+)"',
            document,
            re.S,
        )
    )
    assert float(widths["new"]) == 360.0
    assert float(widths["contacted"]) == 180.0
    assert float(widths["recruited"]) == 4.5


def test_roi_table_recomputes_ratios_and_marks_missing_ones():
    table = section(one_org(), "roi")
    cells = [
        re.findall(r"<td[^>]*>(.*?)</td>", row)
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table)[1:]
    ]
    assert cells == [
        ["facebook", "800", "8", "$4,000.00", "$5.00", "1.0%", "$500.00"],
        ["indeed", "400", "5", "$1,250.00", "$3.12", "1.2%", "$250.00"],
        ["referral", "50", "0", "$300.00", "$6.00", "0.0%", DASH],
        ["(no source)", "10", "2", "no cost data", DASH, "20.0%", DASH],
        # totals from the sums; the cost only over the sources with cost data (the 10 leads and
        # 2 recruits without are unknown, not free): 5,550 / 1,250 leads, 15 / 1,260, 5,550 / 13
        ["All sources", "1,260", "15", "$5,550.00", "$4.44", "1.2%", "$426.92"],
    ]


def test_roi_chart_bars_and_missing_cost_per_recruit():
    document = one_org()
    chart = re.search(r'<svg class="chart"[^>]*aria-label="Cost per recruit.*?</svg>', document)
    assert chart
    assert re.search(r'data-source="facebook">.*?width="380.0"', chart.group(0))
    assert re.search(r'data-source="indeed">.*?width="190.0"', chart.group(0))
    # spend without a recruit gets a full-width bar of its own colour, labelled with the spend
    assert re.search(
        r'data-source="referral">.*?<rect class="bar-spend" [^>]*width="380.0".*?'
        r"\$300.00 spent, no recruits",
        chart.group(0),
    )
    assert re.search(r'data-source="\(no source\)">.*?width="0.0".*?no cost data', chart.group(0))


def test_roi_chart_tells_a_free_source_from_one_without_cost_data():
    rows = [
        SourceRoi("free", leads=5, recruited=1, cost_usd=0.0),
        SourceRoi("unpriced", leads=5, recruited=1, cost_usd=None),
        SourceRoi("idle", leads=5, recruited=0, cost_usd=0.0),
    ]
    document = one_org(roi=rows)
    chart = re.search(r'<svg class="chart"[^>]*aria-label="Cost per recruit.*?</svg>', document)
    assert chart
    assert re.search(r'data-source="free">.*?>\$0.00</text>', chart.group(0))
    assert re.search(r'data-source="unpriced">.*?>no cost data</text>', chart.group(0))
    assert re.search(r'data-source="idle">.*?— \(no recruits, no spend\)', chart.group(0))
    assert "bar-spend" not in chart.group(0)
    table = section(document, "roi")
    assert '<td class="num">$0.00</td>' in table and "no cost data" in table


def test_score_trend_draws_three_lines_and_lists_movers():
    document = one_org()
    assert document.count("<polyline") == 3
    for css in ("line-avg", "line-median", "line-p90"):
        assert f'<polyline class="{css}"' in document
    assert document.count("<circle") == 30
    assert "2026-01-05 average: 40.0" in document and "2026-03-09 p90: 79.0" in document
    assert "Biggest movers, week of 2026-03-09" in document
    movers = section(document, "movers")
    assert RISER.lead_id in movers and "+25.0" in movers and "Ann Agent" in movers
    assert FALLER.lead_id in movers and "-12.5" in movers


def test_score_trend_skips_gaps_and_handles_a_single_week():
    gap = [TREND[0], ScorePoint(date(2026, 1, 12), 5, None, None, None), *TREND[2:4]]
    document = one_org(score_trend=gap)
    assert document.count("<polyline") == 3  # only weeks 3-4 join; week 1 is a lone point
    single = one_org(score_trend=TREND[:1])
    assert "<polyline" not in single and single.count("<circle") == 3


def test_coaching_table_compares_with_the_org_average():
    table = section(one_org(), "coaching")
    rows = re.findall(r"<tr>(.*?)</tr>", table)[1:]
    ann = rows[0]
    assert '<span class="better">75.0% ▲</span><span class="avg">org avg 50.0%</span>' in ann
    assert '<span class="worse">30.0 ▼</span><span class="avg">org avg 12.0</span>' in ann
    assert '<span class="better">3.50 ▲</span>' in ann
    assert '<span class="worse">0 ▼</span><span class="avg">org avg 1.5</span>' in ann
    assert '<span>12</span><span class="avg">org avg 10.0</span>' in ann  # not judged
    other = rows[1]
    assert '<span class="worse">25.0% ▼</span>' in other
    assert '<span class="better">6.0 ▲</span>' in other


def test_compare_directions():
    assert compare(2.0, 1.0, 1) == "better" and compare(0.5, 1.0, 1) == "worse"
    assert compare(2.0, 1.0, -1) == "worse" and compare(0.5, 1.0, -1) == "better"
    assert compare(1.0, 1.0, 1) == "" and compare(None, 1.0, 1) == ""
    assert compare(2.0, None, 1) == "" and compare(9.0, 1.0, 0) == ""


def test_every_value_from_user_data_is_escaped():
    document = render_html(
        ReportData(
            GENERATED,
            [
                org_report(
                    EVIL_ORG,
                    roi=[SourceRoi(HOSTILE, 5, 1, 10.0)],
                    risers=[ScoreMover("x", HOSTILE, HOSTILE, 1.0)],
                )
            ],
        )
    )
    escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Co"
    assert f"<title>Leadflow report — {escaped}</title>" in document
    assert document.count(escaped) >= 6  # title, h1, ROI chart + table, mover, coaching
    assert "<script" not in document.lower()
    # escaped once: by the template, or by charts.py inside the SVG, never by both
    for twice in ("&amp;lt;", "&amp;#39;", "&amp;amp;", "&amp;gt;"):
        assert twice not in document, twice
    assert f'<td>{escaped}</td><td class="num">5</td>' in section(document, "roi")
    assert f'data-source="{escaped}"' in document  # the ROI chart's row
    assert f'aria-label="Lead funnel, {escaped}"' in document


def test_quotes_in_user_data_cannot_leave_an_attribute():
    quoted = Organization(uuid.uuid4(), 'Say "hi"', 'a"b')
    document = render_html(
        ReportData(GENERATED, [org_report(quoted, roi=[SourceRoi('x"y', 1, 0, None)])])
    )
    assert 'data-organization="a&#34;b"' in document
    assert 'data-source="x&#34;y"' in document
    assert 'aria-label="Lead funnel, Say &#34;hi&#34;"' in document


def test_the_document_is_self_contained():
    document = render_html(
        ReportData(GENERATED, [org_report(), org_report(EVIL_ORG)], True, FUNNEL)
    )
    lowered = document.lower()
    for needle in (
        "<script",
        "http://",
        "https://",
        "<link",
        "@import",
        "url(",
        "<img",
        "<iframe",
        "src=",
        "javascript:",
        "xmlns",
    ):
        assert needle not in lowered, needle
    assert document.startswith("<!DOCTYPE html>") and document.rstrip().endswith("</html>")
    assert "<style>" in document and "@media print" in document


def test_all_organizations_has_an_overall_funnel_and_one_section_each():
    document = render_html(
        ReportData(GENERATED, [org_report(), org_report(EVIL_ORG)], True, FUNNEL)
    )
    assert "<title>Leadflow report — All organizations</title>" in document
    assert '<section class="overall" id="all-organizations">' in document
    assert '<section class="org" id="org-1" data-organization="summit">' in document
    assert '<section class="org" id="org-2" data-organization="evil">' in document
    assert '<a href="#org-1">Summit</a>' in document
    assert document.count("<h2>") == 3


def test_empty_marts_render_no_data_notes():
    empty = OrganizationReport(ORG)
    document = render_html(ReportData(GENERATED, [empty], True, Funnel()))
    assert document.count("No data yet") == 5  # overall funnel + the four org sections
    assert "<svg" not in document
    assert "data as of —" in document
    nothing = render_html(ReportData(GENERATED, [], True, Funnel()))
    assert "No organizations yet." in nothing


def test_movers_without_changes_say_so():
    document = one_org(risers=[], fallers=[], movers_week=None)
    assert "<h3>Biggest movers</h3>" in document
    assert "No lead&#39;s score has changed yet." in document


def test_movers_of_an_earlier_week_say_which_week():
    assert "No score changed in a later week" not in one_org()
    document = one_org(movers_week=date(2026, 3, 2))
    assert "Biggest movers, week of 2026-03-02" in document
    assert "No score changed in a later week (latest week 2026-03-09)." in document


def test_section_counts():
    data = ReportData(GENERATED, [org_report(), org_report(EVIL_ORG, roi=ROI[:1])])
    assert data.section_counts() == {
        "funnel": 84,
        "roi": 5,
        "score_trends": 20,
        "score_movers": 4,
        "coaching": 4,
    }
    data.overall_funnel = Funnel(mart_rows=50)
    assert data.section_counts()["funnel"] == 50


def test_text_bar_scales_to_the_maximum():
    assert text_bar(80, 80) == "█" * BAR_WIDTH
    assert text_bar(40, 80) == "█" * (BAR_WIDTH // 2)
    assert text_bar(0.1, 80) == "█"  # visible, however small
    assert text_bar(0, 80) == "" and text_bar(None, 80) == "" and text_bar(5, 0) == ""


def test_funnel_markdown_table():
    markdown = funnel_table_markdown(FUNNEL)
    lines = markdown.splitlines()
    assert lines[0] == "**1,250 leads entered**"
    assert lines[2] == "| stage | leads | | step | cumulative |"
    assert lines[4] == f"| New | 1,200 | {'█' * 20} | {DASH} | 100.0% |"
    assert lines[5] == f"| Contacted | 600 | {'█' * 10} | 50.0% | 50.0% |"
    assert lines[9] == "| Recruited | 15 | █ | 25.0% | 1.2% |"
    assert lines[10] == f"| Exited: cold | 96 | {'█' * 2} | {DASH} | 8.0% |"
    assert funnel_table_markdown(Funnel()) == "_No funnel data yet._"


def test_roi_markdown_table():
    rows = [*ROI, SourceRoi("a|b *c*", 1, 0, 0.0)]
    lines = roi_table_markdown(rows).splitlines()
    assert lines[2] == (
        f"| facebook | 800 | 8 | $4,000.00 | $5.00 | 1.0% | $500.00 | {'█' * BAR_WIDTH} |"
    )
    assert lines[3].endswith(f"| $250.00 | {'█' * (BAR_WIDTH // 2)} |")
    # spend without a recruit: the spend drawn, cost per recruit undefined
    assert lines[4] == (
        f"| referral | 50 | 0 | $300.00 | $6.00 | 0.0% | {DASH} | {'░' * BAR_WIDTH} spent, no recruits |"
    )
    # no cost data is not a cost of 0
    assert lines[5] == f"| (no source) | 10 | 2 | no cost data | {DASH} | 20.0% | {DASH} |  |"
    assert lines[6].startswith(r"| a\|b \*c\* | 1 | 0 | $0.00 | $0.00 |")
    assert roi_table_markdown([]) == "_No ROI data yet._"


def test_resolve_organization_by_uuid_slug_or_name():
    no_slug = Organization(uuid.UUID("0f000000-0000-4000-8000-000000000000"), "No Slug", None)
    orgs = [ORG, EVIL_ORG, no_slug]
    assert resolve_organization(orgs, str(ORG.id)) is ORG
    assert resolve_organization(orgs, "SUMMIT") is ORG
    assert resolve_organization(orgs, HOSTILE) is EVIL_ORG
    with pytest.raises(
        ReportError,
        match=r"unknown organization .nope.*: 0f000000-0000-4000-8000-000000000000, evil, summit$",
    ):
        resolve_organization(orgs, "nope")
    with pytest.raises(ReportError, match="unknown organization 'summit talent'"):
        resolve_organization(orgs, "summit talent")


def test_align_rows_right_aligns_numbers():
    lines = align_rows(
        ("name", "leads", "share", "day"),
        [("Ann", 1200, Decimal("0.5"), date(2026, 3, 9)), ("Bartholomew", 7, None, None)],
    )
    assert lines == [
        "name         leads  share  day",
        "Ann          1,200   0.50  2026-03-09",
        f"Bartholomew      7      {DASH}  {DASH}",
    ]


def test_the_templates_ship_as_package_data():
    """A wheel holds only the files pyproject.toml lists as package data: every template must
    match one of its patterns, or an installed `leadflow report` cannot find it."""
    config = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["leadflow.analytics.report"]
    templates = resources.files("leadflow.analytics.report") / "templates"
    names = [f"templates/{entry.name}" for entry in templates.iterdir() if entry.is_file()]
    assert "templates/report.html.j2" in names and "templates/report.css" in names
    for name in names:
        assert any(fnmatch(name, pattern) for pattern in patterns), name


def test_movers_show_the_lead_name_beside_its_id():
    named = ScoreMover(
        "cccccccc-0000-4000-8000-000000000003", "indeed", "Ann Agent", 9.0, "Leo Thomas"
    )
    movers = section(one_org(risers=[named]), "movers")
    assert f"<td>Leo Thomas<br><code>{named.lead_id}</code></td>" in movers
