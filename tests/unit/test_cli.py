"""The command line's shape: every listed command resolves to the command of that name, and the
listing itself imports none of them."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from leadflow.cli.main import COMMANDS, main


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_listed_command_resolves_to_itself(name):
    command = main.get_command(click.Context(main), name)
    assert isinstance(command, click.Command)
    assert command.name == name
    assert COMMANDS[name][2]  # a help line for `leadflow --help`


def test_help_lists_every_command():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    section = result.stdout.split("Commands:")[1].split("\n\n")[0]
    listed = [line.split()[0] for line in section.splitlines() if line.strip()]
    assert listed == list(COMMANDS)


def test_help_and_cheap_commands_import_neither_dagster_nor_great_expectations():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from leadflow.cli.main import main\n"
        "CliRunner().invoke(main, ['--help'])\n"
        "main.get_command(None, 'migrate'); main.get_command(None, 'status')\n"
        "print(sorted(m for m in ('dagster', 'great_expectations', 'dbt') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
