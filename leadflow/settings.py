"""Where things live and how they are reached, read from the environment.

Paths and tuning settings have defaults; the connection variables (POSTGRES_URL, NEO4J_*,
MONGO_URL) have none in the product: a deployment sets them, and locally the platform's servers
provide them (`leadflow up`, `leadflow env`). `missing_setting` is the one message for a
variable that is not set.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
#: databases used when NEO4J_DATABASE / MONGO_DATABASE are unset
DEFAULT_NEO4J_DATABASE = "neo4j"
DEFAULT_MONGO_DATABASE = "leadflow"


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
