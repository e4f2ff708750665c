"""Every environment variable leadflow reads, in one typed object: `Settings` declares each one
(name, meaning, default, validation), `current()` reads them from the environment when used.

Paths and tuning settings have defaults; the connection variables (POSTGRES_URL, NEO4J_*,
MONGO_URL) have none in the product: a deployment sets them, and locally the platform's servers
provide them (`leadflow local up`, `leadflow local env`). `missing_setting` is the one message for a
variable that is not set. Nothing is read at import.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar, cast, overload
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


class SettingError(ValueError):
    """An environment variable holds a value leadflow cannot use; the message names it."""


T = TypeVar("T")
V = TypeVar("V")


class Variable(Generic[T]):
    """One environment variable: its name, what it means, its default and how its text is read.

    Declared once on `Settings`; reading the attribute reads the environment then (never at
    import), so a value set after start-up (a test, the demo's own process) is seen, and a bad
    value fails where it is used, with the variable's name."""

    # A variable without a default reads as None when unset: its type says so.
    @overload
    def __init__(
        self: Variable[V | None],
        name: str,
        meaning: str,
        parse: Callable[[str, str], V],
        default: None = None,
        shown_default: str | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self: Variable[V],
        name: str,
        meaning: str,
        parse: Callable[[str, str], V],
        default: V | Callable[[Settings], V],
        shown_default: str | None = None,
    ) -> None: ...

    def __init__(
        self,
        name: str,
        meaning: str,
        parse: Callable[[str, str], Any],
        default: Any = None,
        shown_default: str | None = None,
    ) -> None:
        self.name = name
        self.meaning = meaning
        self.parse: Callable[[str, str], T] = parse
        self.default: T | Callable[[Settings], T] | None = default
        self.shown_default = shown_default

    @property
    def fixed_default(self) -> T:
        """The default of a variable whose default is a plain value (modules that need it as a
        constant, e.g. a CLI option's default, take it from here: one place)."""
        if self.default is None or callable(self.default):
            raise TypeError(f"{self.name} has no fixed default")
        return self.default

    def __set_name__(self, owner: type, attribute: str) -> None:
        self.attribute = attribute
        VARIABLES[self.name] = self

    @overload
    def __get__(self, instance: None, owner: type) -> Variable[T]: ...

    @overload
    def __get__(self, instance: Settings, owner: type) -> T: ...

    def __get__(self, instance: Settings | None, owner: type) -> Variable[T] | T:
        if instance is None:
            return self
        raw = (instance.environ.get(self.name) or "").strip()
        if raw:
            return self.parse(raw, self.name)
        default = self.default
        if callable(default):
            return default(instance)
        return cast(T, default)  # None only for a variable typed `X | None` (no default)


#: every variable `Settings` declares, by name (filled as the class is built)
VARIABLES: dict[str, Variable[Any]] = {}


def _text(raw: str, name: str) -> str:
    return raw


def _path(raw: str, name: str) -> Path:
    return Path(raw).expanduser()


def _integer(minimum: int | None = None) -> Callable[[str, str], int]:
    def parse(raw: str, name: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise SettingError(f"{name} must be a whole number, got {raw!r}") from None
        if minimum is not None and value < minimum:
            raise SettingError(f"{name} must be at least {minimum}, got {value}")
        return value

    return parse


def _number(minimum: float, maximum: float | None = None) -> Callable[[str, str], float]:
    def parse(raw: str, name: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise SettingError(f"{name} must be a number, got {raw!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            raise SettingError(f"{name} must be {bounds}, got {raw!r}")
        return value

    return parse


def _boolean(raw: str, name: str) -> bool:
    value = raw.lower()
    if value in {"true", "1", "yes", "on"}:
        return True
    if value in {"false", "0", "no", "off"}:
        return False
    raise SettingError(f"{name}={raw!r} must be true or false")


def _project_root(settings: Settings) -> Path:
    candidate = PACKAGE_DIR.parent
    if (candidate / "pyproject.toml").exists() and (candidate / "migrations").is_dir():
        return candidate
    return Path.cwd()


class Settings:
    """Every environment variable leadflow reads: name, meaning, default and validation, in one
    place. `current()` reads `os.environ`; a test or a caller may hand in another mapping.

    Only this module touches `os.environ` (tests/unit/test_settings.py checks it); the README's
    variables table lists every variable declared here (checked too)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ: Mapping[str, str] = os.environ if environ is None else environ

    # -- the stores ---------------------------------------------------------------------------
    postgres_url = Variable("POSTGRES_URL", "PostgreSQL to use", _text)
    neo4j_uri = Variable("NEO4J_URI", "Neo4j 5 (Bolt) to use", _text)
    neo4j_user = Variable("NEO4J_USER", "graph user (left out: a server without auth)", _text)
    neo4j_password = Variable("NEO4J_PASSWORD", "graph password", _text)
    neo4j_database = Variable(
        "NEO4J_DATABASE", "graph database name", _text, DEFAULT_NEO4J_DATABASE
    )
    mongo_url = Variable("MONGO_URL", "MongoDB holding the activity events", _text)
    mongo_database = Variable(
        "MONGO_DATABASE", "MongoDB database of the activity events", _text, DEFAULT_MONGO_DATABASE
    )
    redis_url = Variable(
        "REDIS_URL", "the recommendation cache (optional: PostgreSQL serves without it)", _text
    )

    # -- where things are -----------------------------------------------------------------------
    project_dir = Variable(
        "LEADFLOW_PROJECT_DIR",
        "where migrations/, seeds/ and dbt/ are found",
        _path,
        _project_root,
        "the checkout",
    )
    home = Variable(
        "LEADFLOW_HOME",
        "state of the local servers (data, logs, ports, pids), runs, reports",
        _path,
        lambda s: s.project_dir / ".leadflow",
        "<repo>/.leadflow",
    )
    migrations_dir = Variable(
        "LEADFLOW_MIGRATIONS_DIR",
        "the SQL migrations",
        _path,
        lambda s: s.project_dir / "migrations",
        "<project>/migrations",
    )
    seeds_dir = Variable(
        "LEADFLOW_SEEDS_DIR",
        "the seed SQL and sample files",
        _path,
        lambda s: s.project_dir / "seeds",
        "<project>/seeds",
    )
    landing_dir_setting = Variable(
        "LEADFLOW_LANDING_DIR",
        "root the landing sensors watch (lead files per organization, cost files in costs/); the"
        " only place launched import runs read files from",
        _path,
        lambda s: s.home / "landing",
        "<LEADFLOW_HOME>/landing",
    )
    report_path = Variable(
        "LEADFLOW_REPORT_PATH",
        "where `leadflow demo` writes the report",
        _path,
        lambda s: s.home / "report.html",
        "<LEADFLOW_HOME>/report.html",
    )
    dagster_home = Variable(
        "DAGSTER_HOME",
        "the Dagster instance every run the CLI starts is recorded in",
        _path,
        lambda s: s.home / "dagster",
        "<LEADFLOW_HOME>/dagster",
    )
    dbt_project_dir = Variable(
        "LEADFLOW_DBT_PROJECT_DIR",
        "the dbt project",
        _path,
        lambda s: s.project_dir / "dbt",
        "<project>/dbt",
    )
    dbt_profiles_dir = Variable(
        "DBT_PROFILES_DIR",
        "dbt's profiles directory",
        _path,
        lambda s: s.dbt_project_dir,
        "the dbt project",
    )

    # -- imports --------------------------------------------------------------------------------
    import_workers = Variable(
        "LEADFLOW_IMPORT_WORKERS",
        "processes that normalize a large file (--workers wins)",
        _integer(minimum=1),
        shown_default="CPU count",
    )
    bulk_min_rows = Variable(
        "LEADFLOW_BULK_MIN_ROWS",
        "rows from which a load takes the bulk path; 0 disables it",
        _integer(minimum=0),
        50_000,
    )
    load_work_mem = Variable(
        "LEADFLOW_LOAD_WORK_MEM", "PostgreSQL work_mem of one file's set-based load", _text, "256MB"
    )
    load_temp_buffers = Variable(
        "LEADFLOW_LOAD_TEMP_BUFFERS",
        "PostgreSQL temp_buffers of one file's set-based load",
        _text,
        "512MB",
    )
    quarantine_warn_rate = Variable(
        "LEADFLOW_QUARANTINE_WARN_RATE",
        "quarantine share per file above which the check warns (else system_config"
        " quarantine_rate_warn, else 0.05)",
        _number(0.0, 1.0),
    )

    # -- schedules and alerts (read where the schedules are built: nightly_settings) ------------
    nightly_cron = Variable(
        "LEADFLOW_NIGHTLY_CRON", "when nightly_sync_schedule runs (cron)", _text, "0 2 * * *"
    )
    crm_cron = Variable(
        "LEADFLOW_CRM_CRON", "when crm_sync_schedule runs (cron)", _text, "30 1 * * *"
    )
    timezone = Variable("LEADFLOW_TIMEZONE", "IANA time zone the crons are read in", _text, "UTC")
    nightly_enabled = Variable(
        "LEADFLOW_NIGHTLY_ENABLED", "false ships the schedules stopped", _boolean, True
    )
    retry_max = Variable(
        "LEADFLOW_RETRY_MAX", "retries of a failed nightly step", _integer(minimum=0), 3
    )
    retry_delay_seconds = Variable(
        "LEADFLOW_RETRY_DELAY_SECONDS",
        "first retry delay (doubling, with jitter)",
        _integer(minimum=0),
        30,
    )
    full_every_days = Variable(
        "LEADFLOW_NIGHTLY_FULL_EVERY_DAYS",
        "days between an incremental nightly step's full passes (dbt full tests, the full graph"
        " comparison, a retrain); `leadflow run --full-refresh` forces one",
        _integer(minimum=1),
        7,
    )
    nightly_change_overlap_seconds = Variable(
        "LEADFLOW_NIGHTLY_CHANGE_OVERLAP_SECONDS",
        "while a session of a role the pipeline may not inspect in pg_stat_activity is"
        " connected (no pg_read_all_stats), rows changed this long before an incremental CRM"
        " step's last run are looked at again (late commits); otherwise the rule is exact",
        _integer(minimum=0),
        300,
    )
    # (nightly_settings validates these five together, with messages of its own)
    alert_webhook = Variable(
        "LEADFLOW_ALERT_WEBHOOK", "URL that receives a JSON POST for every failed run", _text
    )

    # -- graph, CRM sync, recommendations --------------------------------------------------------
    graph_batch_size = Variable(
        "LEADFLOW_GRAPH_BATCH_SIZE",
        "rows per UNWIND … MERGE transaction of the graph sync",
        _integer(minimum=1),
        1000,
    )
    nightly_workers = Variable(
        "LEADFLOW_NIGHTLY_WORKERS",
        "organizations the scores, model training, recommendations and graph check handle at "
        "once, each on its own connections; 1: one by one",
        _integer(minimum=1),
        2,
    )
    crm_allowed_hosts = Variable(
        "LEADFLOW_CRM_ALLOWED_HOSTS",
        "host or host:port a CRM connection may use besides the vendors' API hosts"
        " (comma-separated)",
        _text,
        "",
    )
    crm_push_overlap_seconds = Variable(
        "LEADFLOW_CRM_PUSH_OVERLAP_SECONDS",
        "leads changed this long before the push watermark are looked at again",
        _integer(minimum=0),
        300,
    )
    crm_schema = Variable(
        "LEADFLOW_CRM_SCHEMA", "schema of the CRM tables the dbt sources read", _text, "public"
    )
    cache_prefix = Variable(
        "LEADFLOW_CACHE_PREFIX", "first part of every cache key", _text, "leadflow"
    )
    reco_ttl_seconds = Variable(
        "LEADFLOW_RECO_TTL_SECONDS",
        "TTL of every cached list and entry",
        _integer(minimum=1),
        26 * 3600,
    )
    reco_horizon_days = Variable(
        "LEADFLOW_RECO_HORIZON_DAYS",
        "the label: recruited within N days",
        _integer(minimum=1),
        30,
    )
    reco_train_snapshots = Variable(
        "LEADFLOW_RECO_TRAIN_SNAPSHOTS",
        "past snapshots the model learns from",
        _integer(minimum=1),
        3,
    )
    reco_min_auc_gain = Variable(
        "LEADFLOW_RECO_MIN_AUC_GAIN",
        "AUC a model must gain over the rule score to be served",
        _number(0.0, 1.0),
        0.01,
    )
    reco_list_size = Variable(
        "LEADFLOW_RECO_LIST_SIZE", "leads per agent list in the cache", _integer(minimum=1), 50
    )
    reco_retrain_days = Variable(
        "LEADFLOW_RECO_RETRAIN_DAYS",
        "an organization's conversion model is retrained when older than this (days)",
        _integer(minimum=1),
        7,
    )
    reco_retrain_drift = Variable(
        "LEADFLOW_RECO_RETRAIN_DRIFT",
        "retrain when leads with a status change or new since training reach this share",
        _number(0.0, 1.0),
        0.05,
    )

    # -- the local servers (leadflow/platform) ----------------------------------------------------
    pg_port = Variable("LEADFLOW_PG_PORT", "the local PostgreSQL's port", _integer(minimum=1))
    bolt_port = Variable("LEADFLOW_BOLT_PORT", "the local graph server's Bolt port", _integer(1))
    mongo_port = Variable("LEADFLOW_MONGO_PORT", "the local MongoDB-wire port", _integer(1))
    redis_port = Variable("LEADFLOW_REDIS_PORT", "the local cache server's port", _integer(1))
    graph_http_port = Variable(
        "LEADFLOW_GRAPH_HTTP_PORT", "ArcadeDB's HTTP port", _integer(minimum=1)
    )
    ui_port = Variable(
        "LEADFLOW_UI_PORT", "port of the Dagster UI `make dev` serves", _integer(minimum=1), 3000
    )
    graph_heap = Variable("LEADFLOW_GRAPH_HEAP", "JVM heap of the local graph server", _text, "2g")
    pg_database = Variable(
        "LEADFLOW_PG_DATABASE", "database created on the local PostgreSQL", _text, "leadflow"
    )
    pg_shared_buffers = Variable(
        "LEADFLOW_PG_SHARED_BUFFERS", "shared_buffers of the local PostgreSQL", _text, "1GB"
    )
    redis_maxmemory = Variable(
        "LEADFLOW_REDIS_MAXMEMORY", "memory cap of the local cache server", _text, "512mb"
    )
    managed_pg_url = Variable(
        "LEADFLOW_MANAGED_PG_URL", "tests: an external managed-style PostgreSQL to use", _text
    )
    managed_pg_deploy_url = Variable(
        "LEADFLOW_MANAGED_PG_DEPLOY_URL", "tests: the deployment walk-through's server", _text
    )
    managed_pg_bin = Variable(
        "LEADFLOW_MANAGED_PG_BIN", "tests: bin/ of the Debian PostgreSQL to run", _path
    )
    managed_pg_port = Variable(
        "LEADFLOW_MANAGED_PG_PORT", "tests: that server's port", _integer(minimum=1)
    )

    def get(self, name: str) -> Any:
        """A variable by its name (the platform's services name their port variables)."""
        try:
            return getattr(self, VARIABLES[name].attribute)
        except KeyError:
            raise SettingError(f"{name} is not a leadflow setting") from None

    def raw(self, name: str) -> str | None:
        """The text of any variable (not one of leadflow's settings: a CRM token variable a
        connection names), None when unset or blank."""
        value = (self.environ.get(name) or "").strip()
        return value or None


def current() -> Settings:
    """The settings of this process's environment, read now."""
    return Settings()


def project_root() -> Path:
    """The repository root: the package's parent in a checkout, else the working directory."""
    return current().project_dir.resolve()


def leadflow_home() -> Path:
    """State directory of the embedded local servers (`.leadflow/` by default)."""
    return current().home.resolve()


def landing_dir() -> Path:
    """LEADFLOW_LANDING_DIR, else <LEADFLOW_HOME>/landing, as an absolute real path: the root of
    the landing folders (lead files per organization, cost files in costs/). A deployment
    setting, never run config; the deployment may make it a link, nothing below it is followed."""
    return current().landing_dir_setting.resolve()


def migrations_dir() -> Path:
    return current().migrations_dir


def seeds_dir() -> Path:
    return current().seeds_dir


def set_in_this_process(name: str, value: str) -> None:
    """Set `name` in this process's environment (children inherit it). Only `leadflow demo`
    does, playing the deployment of its local CRM contract server (the token variable its
    connection names, the server's host in LEADFLOW_CRM_ALLOWED_HOSTS)."""
    os.environ[name] = value


class MissingSettingError(RuntimeError):
    """A connection variable is not set; the message says which and how to fix it."""


def missing_setting(variable: str, what: str) -> MissingSettingError:
    return MissingSettingError(
        f"{variable} is not set: point it at your {what}, or for local servers run "
        f'`leadflow local up` and `eval "$(leadflow local env)"` (make dev and make demo do both)'
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

    reading = Settings(environ)

    def get(name: str, default: str) -> str:
        return reading.raw(name) or default

    crons = {}
    for name, default in (
        ("LEADFLOW_NIGHTLY_CRON", DEFAULT_CRON),
        ("LEADFLOW_CRM_CRON", DEFAULT_CRM_CRON),
    ):
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
