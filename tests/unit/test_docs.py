"""The docs cannot drift: the generated references equal what the code renders now, every
relative link lands on a file (and heading) that exists, the README stays a front page, and the
index lists every page.

After changing a setting or a command: `.venv/bin/python -m leadflow.reference --write`."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

import leadflow
from leadflow import reference
from leadflow.settings import VARIABLES

ROOT = Path(leadflow.__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PAGES = sorted(DOCS.glob("*.md"))
#: the front page: what it is, the picture, the two commands, the demo, where to go next
README_MAX_BYTES = 12_500

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", flags=re.MULTILINE | re.DOTALL)
HEADING = re.compile(r"^#{1,6} +(.+?) *#*$", flags=re.MULTILINE)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        base = slug(heading)
        name, n = base, 0
        while name in found:  # a repeated heading gets -1, -2, …
            n += 1
            name = f"{base}-{n}"
        found.add(name)
    return found


def broken_links(page: Path) -> list[str]:
    """Relative links of `page` whose file, or heading, does not exist (code blocks skipped)."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, …
            continue
        path_part, _, anchor = target.partition("#")
        linked = (page.parent / path_part).resolve() if path_part else page
        if not linked.exists():
            broken.append(f"{target}: no file {linked}")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.name}")
    return broken


def test_the_generated_references_match_the_code():
    assert reference.stale_blocks() == [], "run `python -m leadflow.reference --write`"


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.name)
def test_every_relative_link_resolves(page: Path):
    assert broken_links(page) == []


def test_the_link_check_finds_a_missing_file_and_a_missing_heading(tmp_path: Path):
    (tmp_path / "other.md").write_text("# Other\n\n## Cost follows change\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n[ok](other.md#cost-follows-change) [self](#page) [web](https://example.com)\n"
        "[gone](missing.md) [no anchor](other.md#nightly)\n"
        "```\n[in code](ignored.md)\n```\n",
        encoding="utf-8",
    )
    assert broken_links(page) == [
        f"missing.md: no file {tmp_path / 'missing.md'}",
        "other.md#nightly: no heading #nightly in other.md",
    ]


def test_slugs_are_githubs():
    assert slug("Production Dagster instance (`deploy/dagster.yaml`)") == (
        "production-dagster-instance-deploydagsteryaml"
    )
    assert slug("Nightly sync, schedule and alerts") == "nightly-sync-schedule-and-alerts"


def test_the_readme_is_a_front_page():
    size = len(README.read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes: move detail into docs/"
    text = README.read_text(encoding="utf-8")
    assert "make demo" in text and "make test" in text


def test_the_index_lists_every_page_and_every_listed_page_exists():
    index = DOCS / "README.md"
    listed = {target.partition("#")[0] for target in LINK.findall(index.read_text("utf-8"))}
    listed = {name for name in listed if name.endswith(".md") and not name.startswith("..")}
    assert sorted(name for name in listed if not (DOCS / name).exists()) == []
    assert sorted({p.name for p in PAGES} - {"README.md"} - listed) == []


def test_the_readme_links_every_page():
    text = README.read_text(encoding="utf-8")
    assert [p.name for p in PAGES if f"(docs/{p.name})" not in text] == []


# -- the generator ---------------------------------------------------------------------------------
def test_the_configuration_table_lists_every_setting_once():
    table = reference.configuration_markdown()
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert sorted(row.split("`")[1] for row in rows) == sorted(VARIABLES)
    assert "| `LEADFLOW_BULK_MIN_ROWS` | `50000` |" in table
    assert "| `LEADFLOW_NIGHTLY_ENABLED` | `true` |" in table
    assert "| `LEADFLOW_HOME` | `<repo>/.leadflow` |" in table


def test_a_block_is_rewritten_between_its_markers_only():
    begin = reference.BEGIN.format(name="cli")
    page = f"# CLI\n\nhand-written\n\n{begin}\nold\n{reference.END}\n\nafter\n"
    assert reference.generated_block(page, "cli") == "old\n"
    new = reference.rewrite(page, "cli", "new\n")
    assert new == f"# CLI\n\nhand-written\n\n{begin}\nnew\n{reference.END}\n\nafter\n"
    with pytest.raises(ValueError, match="no block"):
        reference.rewrite("# no markers\n", "cli", "new\n")


def test_a_stale_block_is_found_and_rewritten(tmp_path: Path):
    for page in {page for page, _ in reference.BLOCKS.values()}:
        (tmp_path / page).write_text((DOCS / page).read_text("utf-8"), encoding="utf-8")
    assert reference.stale_blocks(tmp_path) == []
    config = tmp_path / "configuration.md"
    config.write_text(
        config.read_text("utf-8").replace("| `POSTGRES_URL` |", "| `POSTGRES_URI` |"), "utf-8"
    )
    assert reference.stale_blocks(tmp_path) == ["configuration.md: configuration"]
    assert reference.write(tmp_path) == ["configuration.md: configuration"]
    assert reference.stale_blocks(tmp_path) == []


def test_the_cli_reference_walks_groups_and_leaves_hidden_commands_out():
    @click.group()
    def root() -> None:
        """The root."""

    @root.group()
    def leads() -> None:
        """Work on leads."""

    @leads.command("import")
    @click.argument("files", nargs=-1)
    @click.option("--org", metavar="ORG", help="Organization: UUID, slug or exact name.")
    @click.option("--to", help="Moves files to <landing>/processed/ (`<landing>` is a setting).")
    def import_cmd(files: tuple[str, ...], org: str | None, to: str | None) -> None:
        """Import lead files.

        \b
        Example:  leadflow leads import leads.csv --org summit
        """

    @root.command("import", hidden=True)
    def old_import() -> None:
        """Deprecated alias."""

    text = reference.cli_markdown(root)
    assert "### `leadflow leads import`" in text
    assert "leadflow leads import [OPTIONS] [FILES]..." in text
    assert "- `--org ORG`: Organization: UUID, slug or exact name." in text
    assert "```text\nExample:  leadflow leads import leads.csv --org summit\n```" in text
    assert "Commands: `import`" in text
    # outside code spans a <name> would render as an HTML tag: escaped there, kept inside them
    assert "Moves files to &lt;landing>/processed/ (`<landing>` is a setting)." in text
    assert "Deprecated alias" not in text and "### `leadflow import`" not in text
    assert "--help" not in text


def test_the_cli_reference_documents_every_visible_command_of_leadflow():
    from leadflow.cli.main import main

    text = reference.cli_markdown()
    ctx = click.Context(main, info_name="leadflow")
    for name in main.list_commands(ctx):
        command = main.get_command(ctx, name)
        assert command is not None
        if not command.hidden:
            assert f"### `leadflow {name}`" in text
    assert "| 2 |" in reference.exit_codes_markdown()
