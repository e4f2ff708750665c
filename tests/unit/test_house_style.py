"""The formatter's configuration (pyproject.toml [tool.ruff.format]) is the layout of every
Python file: no file opts lines out of it (issue 19 removed 671 such markers)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: the formatter's opt-out comments, spelled in two halves so this file is not one of them
OPT_OUTS = ("fmt: " + "skip", "fmt: " + "off", "yapf: " + "disable")


def test_no_file_opts_out_of_the_formatter():
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("leadflow", "tests", "benchmarks", "scripts")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if any(marker in line for marker in OPT_OUTS)
    ]
    assert found == []
