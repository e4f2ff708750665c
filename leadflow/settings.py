"""Where things live and how they are reached, read from the environment.

Paths and tuning settings have defaults; the connection variables (POSTGRES_URL, NEO4J_*,
MONGO_URL) have none in the product: a deployment sets them, and locally the platform's servers
provide them (`leadflow up`, `leadflow env`). `missing_setting` is the one message for a
variable that is not set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PACKAGE_DIR = Path(__file__).resolve().parent
#: databases used when NEO4J_DATABASE / MONGO_DATABASE are unset
DEFAULT_NEO4J_DATABASE = "neo4j"
DEFAULT_MONGO_DATABASE = "leadflow"
#: the MongoDB collection of activity events: the activities domain reads it, the demo seeds it
ACTIVITIES_COLLECTION = "activities"


#: leadflow's own settings named like a CRM token variable (LEADFLOW_CRM_…): never a connection's
#: secret, never redacted as one
CRM_SETTINGS = frozenset(
    {
        "LEADFLOW_CRM_ALLOWED_HOSTS",
        "LEADFLOW_CRM_CRON",
        "LEADFLOW_CRM_PUSH_OVERLAP_SECONDS",
        "LEADFLOW_CRM_SCHEMA",
    }
)


def project_root() -> Path:
    """The repository root: the package's parent in a checkout, else the working directory."""
    explicit = os.environ.get("LEADFLOW_PROJECT_DIR")
    if explicit:
        return Path(explicit).resolve()
    candidate = PACKAGE_DIR.parent
    if (candidate / "pyproject.toml").exists() and (candidate / "migrations").is_dir():
        return candidate
    return Path.cwd()


def leadflow_home() -> Path:
    """State directory of the embedded local servers (`.leadflow/` by default)."""
    return Path(os.environ.get("LEADFLOW_HOME") or project_root() / ".leadflow").resolve()


def landing_dir() -> Path:
    """LEADFLOW_LANDING_DIR, else <LEADFLOW_HOME>/landing, as an absolute real path: the root of
    the landing folders (lead files per organization, cost files in costs/). A deployment
    setting, never run config; the deployment may make it a link, nothing below it is followed."""
    configured = env("LEADFLOW_LANDING_DIR")
    return Path(configured or leadflow_home() / "landing").resolve()


def migrations_dir() -> Path:
    return Path(os.environ.get("LEADFLOW_MIGRATIONS_DIR") or project_root() / "migrations")


def seeds_dir() -> Path:
    return Path(os.environ.get("LEADFLOW_SEEDS_DIR") or project_root() / "seeds")


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_int(name: str, default: int | None = None) -> int | None:
    value = env(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {value!r}") from exc


class MissingSettingError(RuntimeError):
    """A connection variable is not set; the message says which and how to fix it."""


def missing_setting(variable: str, what: str) -> MissingSettingError:
    return MissingSettingError(
        f"{variable} is not set: point it at your {what}, or for local servers run "
        f'`leadflow up` and `eval "$(leadflow env)"` (make dev and make demo do both)'
    )


# -- schedules -------------------------------------------------------------------------------------
DEFAULT_CRON = "0 2 * * *"
#: the CRM sync (crm_sync_schedule) runs half an hour before the nightly job
DEFAULT_CRM_CRON = "30 1 * * *"
DEFAULT_TIMEZONE = "UTC"


class NightlyConfigError(ValueError):
    """LEADFLOW_NIGHTLY_CRON / LEADFLOW_CRM_CRON / LEADFLOW_TIMEZONE / retry settings are
    invalid."""


@dataclass(frozen=True)
class NightlySettings:
    """When the schedules run (the nightly job and the CRM sync) and how the nightly retries."""

    cron: str
    timezone: str
    max_retries: int
    retry_delay_seconds: int
    schedule_running: bool
    crm_cron: str = DEFAULT_CRM_CRON


def nightly_settings(environ: Mapping[str, str] | None = None) -> NightlySettings:
    """Read and validate the schedule settings; a clear error names the bad variable. Called
    where the schedules are built (leadflow.definitions) and by `leadflow run`, never at a
    domain module's import."""
    # Dagster's own test of a cron string (what a schedule accepts); imported here, not at the
    # top, so that reading the other settings never loads Dagster
    from dagster._utils.schedules import is_valid_cron_string

    environ = os.environ if environ is None else environ

    def get(name: str, default: str) -> str:
        value = (environ.get(name) or "").strip()
        return value or default

    crons = {}
    for name, default in (("LEADFLOW_NIGHTLY_CRON", DEFAULT_CRON),
                          ("LEADFLOW_CRM_CRON", DEFAULT_CRM_CRON)):  # fmt: skip
        crons[name] = get(name, default)
        if not is_valid_cron_string(crons[name]):
            raise NightlyConfigError(
                f"{name}={crons[name]!r} is not a cron expression (e.g. {default!r})"
            )
    timezone = get("LEADFLOW_TIMEZONE", DEFAULT_TIMEZONE)
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise NightlyConfigError(
            f"LEADFLOW_TIMEZONE={timezone!r} is not an IANA timezone (e.g. 'Europe/London')"
        ) from exc
    numbers = {}
    for name, default in (("LEADFLOW_RETRY_MAX", "3"), ("LEADFLOW_RETRY_DELAY_SECONDS", "30")):
        raw = get(name, default)
        if not raw.isdigit():
            raise NightlyConfigError(f"{name}={raw!r} must be a whole number >= 0")
        numbers[name] = int(raw)
    enabled = get("LEADFLOW_NIGHTLY_ENABLED", "true").lower()
    if enabled not in {"true", "false", "1", "0", "yes", "no"}:
        raise NightlyConfigError(f"LEADFLOW_NIGHTLY_ENABLED={enabled!r} must be true or false")
    return NightlySettings(
        cron=crons["LEADFLOW_NIGHTLY_CRON"],
        timezone=timezone,
        max_retries=numbers["LEADFLOW_RETRY_MAX"],
        retry_delay_seconds=numbers["LEADFLOW_RETRY_DELAY_SECONDS"],
        schedule_running=enabled in {"true", "1", "yes"},
        crm_cron=crons["LEADFLOW_CRM_CRON"],
    )
