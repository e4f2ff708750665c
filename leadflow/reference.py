"""The references in docs/ that are generated from the code, so they cannot drift from it: the
configuration table (from the settings object) and the CLI reference (from the click commands).

    python -m leadflow.reference --write   # rewrite the generated blocks of the docs pages
    python -m leadflow.reference --check   # exit 1 when a page differs from the code

A page keeps its hand-written text; only what lies between `<!-- generated: leadflow.reference
NAME -->` and `<!-- end generated -->` is rewritten. tests/unit/test_docs.py fails when a block
differs from what the code renders now. Nothing heavy is imported: the settings module and the
command line's light modules only (their --help costs a tenth of a second).
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from leadflow import settings
from leadflow.settings import Variable

#: where the generated blocks live (relative to the checkout)
DOCS_DIR = Path(__file__).resolve().parent.parent / "docs"

BEGIN = "<!-- generated: leadflow.reference {name} -->"
END = "<!-- end generated -->"

#: the table's groups: each starts at the variable named here and runs, in the order the
#: settings object declares them, to the next group's first variable (a new variable joins the
#: group it is declared in; a group whose first variable is gone merges into the one before)
CONFIGURATION_GROUPS: tuple[tuple[str, str], ...] = (
    ("The stores", "POSTGRES_URL"),
    ("Where things are", "LEADFLOW_PROJECT_DIR"),
    ("Imports", "LEADFLOW_IMPORT_WORKERS"),
    ("Schedules, retries and alerts", "LEADFLOW_NIGHTLY_CRON"),
    ("Graph and the nightly's parallelism", "LEADFLOW_GRAPH_BATCH_SIZE"),
    ("CRM sync", "LEADFLOW_CRM_ALLOWED_HOSTS"),
    ("Recommendations", "LEADFLOW_CACHE_PREFIX"),
    ("Local servers", "LEADFLOW_PG_PORT"),
    ("Tests", "LEADFLOW_MANAGED_PG_URL"),
)


def _prose(text: str) -> str:
    """Plain text safe in Markdown: a `<name>` outside code spans would be read as an HTML tag
    (and vanish), so its `<` is escaped; code spans stay as written."""
    parts = re.split(r"(`[^`]*`)", text)
    return "".join(
        part if part.startswith("`") else re.sub(r"<(?=[A-Za-z/])", "&lt;", part) for part in parts
    )


def _cell(text: str) -> str:
    """Text that stays inside one cell of a Markdown table."""
    return _prose(" ".join(text.split())).replace("|", "\\|")


def _shown_default(variable: Variable[Any]) -> str:
    if variable.shown_default is not None:
        shown = variable.shown_default
        return f"`{shown}`" if any(c in shown for c in "</") else _cell(shown)
    default = variable.default
    if default is None or default == "":
        return "unset"
    if callable(default):  # every computed default declares how it is shown (checked by test)
        raise ValueError(f"{variable.name}: a computed default needs shown_default")
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    return f"`{default}`"


def _grouped(variables: list[Variable[Any]]) -> Iterator[tuple[str, list[Variable[Any]]]]:
    starts = {first: title for title, first in CONFIGURATION_GROUPS}
    title = "Settings"
    members: list[Variable[Any]] = []
    for variable in variables:
        if variable.name in starts:
            if members:
                yield title, members
            title, members = starts[variable.name], []
        members.append(variable)
    if members:
        yield title, members


def configuration_markdown() -> str:
    """Every variable the settings object declares: name, default and meaning, by group."""
    lines: list[str] = []
    for title, members in _grouped(list(settings.VARIABLES.values())):
        lines += [f"### {title}", "", "| variable | default | meaning |", "|---|---|---|"]
        lines += [f"| `{v.name}` | {_shown_default(v)} | {_cell(v.meaning)} |" for v in members]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


# -- the command line ------------------------------------------------------------------------------
def _walk(
    command: click.Command, ctx: click.Context
) -> Iterator[tuple[click.Command, click.Context]]:
    """`command` and every visible command below it, depth first, in the order `--help` lists
    them (a lazy group imports each command as it is asked for it)."""
    yield command, ctx
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            yield from _walk(
                sub, click.Context(sub, info_name=name, parent=ctx, **sub.context_settings)
            )


def _help_paragraphs(text: str) -> list[str]:
    """A click help text as Markdown: plain paragraphs as written, `\\b` paragraphs (kept as
    typed by click: examples, tables) as code blocks."""
    text = inspect.cleandoc(text).split("\f")[0]
    out: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        if paragraph.startswith("\b"):
            body = paragraph[1:].strip("\n")
            out.append("```text\n" + body + "\n```")
        elif paragraph.strip():
            out.append(_prose(paragraph.strip()))
    return out


def _options(command: click.Command, ctx: click.Context) -> list[str]:
    rows = []
    help_option = command.get_help_option(ctx)  # the same on every command: not repeated
    for param in command.get_params(ctx):
        if not isinstance(param, click.Option) or param.hidden or param is help_option:
            continue
        record = param.get_help_record(ctx)
        if record is None:
            continue
        flags, help_text = record
        row = f"- `{flags}`" + (f": {_prose(help_text)}" if help_text else "")
        rows.append(textwrap.fill(" ".join(row.split()), width=100, subsequent_indent="  "))
    return rows


def cli_markdown(root: click.Command | None = None, shared_epilog: str | None = None) -> str:
    """The whole `leadflow` command tree: for each command its usage line, help text (with its
    examples), options with their help; hidden commands (old names kept for scripts) left out.
    An epilog every command shares (the exit-code table) is said once, above, not per command."""
    if root is None:
        from leadflow.cli.conventions import EXIT_CODES_HELP
        from leadflow.cli.main import main

        root, shared_epilog = main, EXIT_CODES_HELP
    lines: list[str] = []
    ctx = click.Context(root, info_name="leadflow", **root.context_settings)
    for command, context in _walk(root, ctx):
        path = context.command_path
        level = "##" if context.parent is None else "###"
        lines += [f"{level} `{path}`", ""]
        usage = " ".join([path, *command.collect_usage_pieces(context)])
        lines += ["```text", usage, "```", ""]
        for paragraph in _help_paragraphs(command.help or ""):
            lines += [paragraph, ""]
        options = _options(command, context)
        if options:
            lines += ["Options:", "", *options, ""]
        epilog = command.epilog
        if epilog and inspect.cleandoc(epilog) != inspect.cleandoc(shared_epilog or ""):
            for paragraph in _help_paragraphs(epilog):
                lines += [paragraph, ""]
        if isinstance(command, click.Group) and context.parent is not None:
            subcommands = [
                name
                for name in command.list_commands(context)
                if (sub := command.get_command(context, name)) is not None and not sub.hidden
            ]
            lines += ["Commands: " + ", ".join(f"`{name}`" for name in subcommands), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def exit_codes_markdown() -> str:
    """The exit-code table every command keeps (leadflow.cli.conventions)."""
    from leadflow.cli.conventions import EXIT_CODES

    rows = [f"| {code} | {_cell(text)} |" for code, text in EXIT_CODES.items()]
    return "\n".join(["| exit code | meaning |", "|---|---|", *rows]) + "\n"


#: generated block name -> (page in docs/, renderer)
BLOCKS: dict[str, tuple[str, Callable[[], str]]] = {
    "configuration": ("configuration.md", configuration_markdown),
    "exit-codes": ("cli.md", exit_codes_markdown),
    "cli": ("cli.md", cli_markdown),
}


def _block_pattern(name: str) -> re.Pattern[str]:
    return re.compile(
        re.escape(BEGIN.format(name=name)) + r"\n(.*?)" + re.escape(END), flags=re.DOTALL
    )


def generated_block(page_text: str, name: str) -> str | None:
    """The text of block `name` in a page as it stands, None when the page has no such block."""
    found = _block_pattern(name).search(page_text)
    return found.group(1) if found else None


def rewrite(page_text: str, name: str, content: str) -> str:
    """The page with block `name` replaced by `content` (the markers stay)."""
    pattern = _block_pattern(name)
    if not pattern.search(page_text):
        raise ValueError(f"no block {BEGIN.format(name=name)!r} … {END!r} in the page")
    replacement = BEGIN.format(name=name) + "\n" + content + END
    return pattern.sub(lambda _: replacement, page_text, count=1)


def stale_blocks(docs_dir: Path = DOCS_DIR) -> list[str]:
    """`page: block` of every generated block that differs from what the code renders now."""
    stale = []
    for name, (page, render) in BLOCKS.items():
        text = (docs_dir / page).read_text(encoding="utf-8")
        if generated_block(text, name) != render():
            stale.append(f"{page}: {name}")
    return stale


def write(docs_dir: Path = DOCS_DIR) -> list[str]:
    """Rewrite every generated block; the pages changed."""
    changed = []
    for name, (page, render) in BLOCKS.items():
        path = docs_dir / page
        text = path.read_text(encoding="utf-8")
        new = rewrite(text, name, render())
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(f"{page}: {name}")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m leadflow.reference",
        description="Rewrite (or check) the generated blocks of docs/configuration.md and "
        "docs/cli.md from the settings object and the click commands.",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="rewrite the generated blocks")
    action.add_argument("--check", action="store_true", help="exit 1 when a block is stale")
    arguments = parser.parse_args(argv)
    if arguments.write:
        for block in write():
            print(f"rewrote {block}")
        return 0
    stale = stale_blocks()
    for block in stale:
        print(f"stale: {block} (run `python -m leadflow.reference --write`)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
