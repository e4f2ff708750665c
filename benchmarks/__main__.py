"""`python -m benchmarks …` from the repository root (benchmarks/cli.py)."""

from benchmarks.cli import cli

cli(prog_name="python -m benchmarks")
