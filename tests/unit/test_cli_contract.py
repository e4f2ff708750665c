"""The command line's conventions (STYLE.md, "Command line"), checked over every command: the
help of each has an example and the exit-code table, each takes --json, the old names are
hidden and say what replaced them. The runs against a database (bad organization → exit 2
naming the choices, --json parses, old command lines still work) are in
tests/integration/test_cli_contract.py."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from leadflow.cli.conventions import EXIT_CODES, EXIT_CODES_HELP
from leadflow.cli.main import ALIASES, COMMANDS, main


def _walk(command: click.Command, path: tuple[str, ...], ctx: click.Context):
    yield path, command
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, f"{' '.join(path)} lists {name} but has no such command"
            if sub.hidden:
                continue
            yield from _walk(sub, (*path, name), click.Context(sub, parent=ctx, info_name=name))


def all_commands() -> list[tuple[tuple[str, ...], click.Command]]:
    root = click.Context(main, info_name="leadflow")
    return list(_walk(main, (), root))


LEAVES = [(path, cmd) for path, cmd in all_commands() if not isinstance(cmd, click.Group)]
GROUPS = [(path, cmd) for path, cmd in all_commands() if isinstance(cmd, click.Group)]


def _help(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_tree_has_the_noun_groups_and_every_leaf_command():
    names = {" ".join(path) for path, _ in LEAVES}
    for expected in (
        "leads import",
        "leads assign",
        "leads rejects",
        "orgs list",
        "users list",
        "db migrate",
        "db rollback",
        "db status",
        "db seed",
        "db url",
        "local up",
        "local down",
        "local status",
        "local env",
        "run",
        "demo",
    ):
        assert expected in names
    assert len(LEAVES) >= 40
    # benchmarks run as `python -m benchmarks`, not from the installed CLI's --help
    assert "bench" not in COMMANDS


@pytest.mark.parametrize(
    "path", [path for path, _ in LEAVES + GROUPS], ids=lambda p: " ".join(p) or "leadflow"
)
def test_every_help_has_an_example_and_the_exit_codes(path):
    text = _help(path)
    assert "Examples:" in text, f"leadflow {' '.join(path)} --help has no example"
    example_lines = text.split("Examples:", 1)[1].splitlines()[1:]
    assert any(
        line.strip().startswith(("leadflow", "eval", "psql", "make")) for line in example_lines
    )
    assert "Exit codes: 0 ok, 1 failed, 2 bad request, 3 differences found" in text


@pytest.mark.parametrize("path", [path for path, _ in LEAVES], ids=lambda p: " ".join(p))
def test_every_command_takes_json(path):
    command = dict(LEAVES)[path]
    options = {opt for param in command.params for opt in getattr(param, "opts", [])}
    assert "--json" in options, f"leadflow {' '.join(path)} has no --json"


def test_the_exit_code_table_is_the_documented_one():
    assert list(EXIT_CODES) == [0, 1, 2, 3]
    assert EXIT_CODES_HELP.startswith("\b\n")


@pytest.mark.parametrize("old", sorted(ALIASES))
def test_old_names_are_hidden_but_still_answer(old):
    section = _help(()).split("Commands:", 1)[1].split("\n\n")[0]
    listed = {line.split()[0] for line in section.splitlines() if line.strip()}
    assert old not in listed
    command = main.get_command(click.Context(main), old)
    assert command is not None and command.hidden
    assert CliRunner().invoke(main, [old, "--help"]).exit_code == 0


def test_an_old_name_prints_one_notice_then_does_what_it_did():
    result = CliRunner().invoke(main, ["env", "--json"], env={"LEADFLOW_HOME": "/nonexistent"})
    new = CliRunner().invoke(
        main, ["local", "env", "--json"], env={"LEADFLOW_HOME": "/nonexistent"}
    )
    assert result.exit_code == new.exit_code == 0
    assert result.stdout == new.stdout
    assert result.stderr.splitlines() == [
        "leadflow: notice: `leadflow env` is deprecated; use `leadflow local env`"
    ]
    assert new.stderr == ""


def test_a_bad_argument_exits_2_before_any_work():
    result = CliRunner().invoke(main, ["leads", "rejects", "--batch", "not-a-uuid"])
    assert result.exit_code == 2
    assert "not a batch id" in result.stderr
    result = CliRunner().invoke(main, ["db", "migrate", "--to", "seven"])
    assert result.exit_code == 2


@pytest.mark.parametrize(("old", "subcommands"), [("migrate", {"up", "down", "status"})])
def test_an_old_group_still_lists_its_subcommands(old, subcommands):
    """Hidden from `leadflow --help`, the old group's own help lists what it always did."""
    section = _help((old,)).split("Commands:", 1)[1]
    listed = {line.split()[0] for line in section.splitlines() if line.strip()}
    assert subcommands <= listed


def test_the_makefile_and_ci_use_no_old_name():
    """`make demo` and friends print no deprecation notice: they call the new names."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for name in ("Makefile", ".ci/run"):
        text = (root / name).read_text(encoding="utf-8")
        called = set(re.findall(r"/leadflow ([a-z-]+)", text))
        assert not called & set(ALIASES), f"{name} calls {sorted(called & set(ALIASES))}"
