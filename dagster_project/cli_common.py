"""Helpers every `leadflow` command module shares (kept apart from cli.py to avoid cycles)."""

from __future__ import annotations

import sys

import click

from dagster_project.services import PostgresService, ServiceError


def fail(message: str, code: int = 1) -> None:
    """Print a one-line error (no traceback) and exit with `code`."""
    click.echo(f"leadflow: error: {message}", err=True)
    sys.exit(code)


def postgres_url() -> str:
    """The PostgreSQL URL in use, starting the local server if needed (a clear error if not)."""
    try:
        return PostgresService().ensure_running()
    except ServiceError as exc:
        fail(str(exc))
        raise  # unreachable: fail() exits
