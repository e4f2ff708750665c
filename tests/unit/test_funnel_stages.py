"""`funnel_stages()`: the funnel's stage order read from the dbt var, the one definition the
marts and the report share (no database)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from leadflow.analytics.project import DbtError, funnel_stages, project_dir
from leadflow.analytics.report import Funnel, funnel_table_markdown, render_html
from leadflow.analytics.report.data import ReportData


def use_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    (tmp_path / "dbt_project.yml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("LEADFLOW_DBT_PROJECT_DIR", str(tmp_path))


def test_the_stages_are_the_dbt_var_in_order():
    config = yaml.safe_load((project_dir() / "dbt_project.yml").read_text(encoding="utf-8"))
    assert funnel_stages() == tuple(config["vars"]["funnel_stages"])
    assert funnel_stages()[0] == "new" and funnel_stages()[-1] == "recruited"


def test_the_report_follows_a_changed_var(tmp_path, monkeypatch):
    use_project(
        tmp_path, monkeypatch, "name: x\nvars:\n  funnel_stages: [new, screened, recruited]\n"
    )
    assert funnel_stages() == ("new", "screened", "recruited")
    funnel = Funnel(10, {"new": 10, "screened": 4, "recruited": 1}, 2, 0, mart_rows=1)
    assert [(row.stage, row.count, row.step_rate) for row in funnel.stages()] == [
        ("new", 10, None),
        ("screened", 4, 0.4),
        ("recruited", 1, 0.25),
    ]
    lines = funnel_table_markdown(funnel).splitlines()
    assert [line.split(" | ")[0] for line in lines[4:]] == [
        "| New",
        "| Screened",
        "| Recruited",
        "| Exited: cold",
        "| Exited: DNC",
    ]
    document = render_html(ReportData(datetime(2026, 1, 1, tzinfo=UTC), [], True, funnel))
    assert 'data-stage="screened" data-count="4"' in document
    assert 'data-stage="contacted"' not in document


@pytest.mark.parametrize(
    "text",
    [
        "name: x\n",  # no vars at all
        "name: x\nvars:\n  other: 1\n",
        "name: x\nvars:\n  funnel_stages: new\n",  # not a list
        "name: x\nvars:\n  funnel_stages: []\n",
        "name: x\nvars:\n  funnel_stages: [new, new]\n",
        "name: x\nvars: [\n",  # not YAML
    ],
)
def test_a_missing_or_malformed_var_is_a_clear_error(tmp_path, monkeypatch, text):
    use_project(tmp_path, monkeypatch, text)
    with pytest.raises(DbtError, match="funnel_stages|cannot read the dbt project"):
        funnel_stages()


def test_a_missing_project_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("LEADFLOW_DBT_PROJECT_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DbtError, match="cannot read the dbt project .*dbt_project.yml"):
        funnel_stages()
