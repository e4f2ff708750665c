"""Quality gates on `crm_leads`, as asset checks, all plain SQL through psycopg: row rules over
the run's live leads (E.164 phones, statuses and scores, one live lead per organization and
phone: leadflow/ingest/quality_sql.py) and the run's own accounting (quarantine rate, accounting
identity).

Each check looks at the organizations (and import batches) of the run it belongs to, and
reports failing counts plus a sample of failing rows in its metadata. A run that loaded one
organization is checked with that tenant set, as its import ran: so `leadflow leads import --org`
checks its work under row-level security too (the application role sees nothing otherwise).
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import psycopg

from leadflow import settings
from leadflow.ingest.assets import crm_leads
from leadflow.ingest.quality_sql import (
    PHONE_IS_E164,
    PHONE_UNIQUE_PER_ORGANIZATION,
    SCORE_IN_RANGE,
    STATUS_IN_ENUM,
    Outcome,
    Rule,
    evaluate,
)
from leadflow.leads.ids import require_uuid
from leadflow.postgres import config_values, set_tenant
from leadflow.resources import PostgresResource

DEFAULT_QUARANTINE_WARN_RATE = 0.05


class RunScope:
    """What the checked `crm_leads` materialization loaded: its files and organizations.

    Read from the materialization's metadata (the one in this run, else the latest), not from
    the asset's value: the checks are not partitioned, so an input would load every partition.
    """

    def __init__(self, metadata: dict) -> None:
        files = metadata["files"].value if "files" in metadata else []
        self.files: list[dict] = list(files)
        orgs = metadata["organizations"].value if "organizations" in metadata else []
        # canonical UUIDs only: they scope every check's SQL
        self.organizations = sorted(require_uuid(org, "organization") for org in orgs)

    @property
    def succeeded(self) -> list[dict]:
        return [f for f in self.files if f["status"] == "succeeded"]

    @classmethod
    def of(cls, context: dg.AssetCheckExecutionContext) -> "RunScope":
        key = dg.AssetKey("crm_leads")
        records = context.instance.get_records_for_run(
            run_id=context.run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records
        for record in reversed(records):
            materialization = record.event_log_entry.asset_materialization
            if materialization and materialization.asset_key == key:
                return cls(materialization.metadata)
        latest = context.instance.get_latest_materialization_event(key)
        if latest and latest.asset_materialization:
            return cls(latest.asset_materialization.metadata)
        return cls({})


@contextmanager
def _connection(
    postgres: PostgresResource, organizations: list[str]
) -> Iterator[psycopg.Connection]:
    """A connection scoped to the run's organization when it loaded exactly one."""
    with postgres.connection() as conn:
        if len(organizations) == 1:
            set_tenant(conn, organizations[0])
        yield conn


def _result(outcomes: list[Outcome], organizations: list[str]) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=all(o.passed for o in outcomes),
        metadata={
            "organizations": dg.MetadataValue.json(organizations),
            "rows_checked": dg.MetadataValue.int(
                max((o.rows_checked for o in outcomes), default=0)
            ),
            "failing_count": dg.MetadataValue.int(sum(o.failing_count for o in outcomes)),
            "failing_sample": dg.MetadataValue.json(
                {o.name: o.sample for o in outcomes if not o.passed}
            ),
        },
    )


def _rules_check(
    context: dg.AssetCheckExecutionContext, postgres: PostgresResource, rules: list[Rule]
) -> dg.AssetCheckResult:
    organizations = RunScope.of(context).organizations
    if not organizations:
        return dg.AssetCheckResult(
            passed=True, metadata={"rows_checked": 0, "note": "no leads loaded by this run"}
        )
    with _connection(postgres, organizations) as conn:
        outcomes = evaluate(conn, organizations, rules)
    return _result(outcomes, organizations)


@dg.asset_check(
    asset=crm_leads, description="Every live lead's phone_number is E.164.", blocking=True
)
def leads_phone_is_e164(
    context: dg.AssetCheckExecutionContext, postgres: PostgresResource
) -> dg.AssetCheckResult:
    return _rules_check(context, postgres, [PHONE_IS_E164])


@dg.asset_check(
    asset=crm_leads, description="Status in the enum and lead_score in 0..100.", blocking=True
)
def leads_status_and_score_valid(
    context: dg.AssetCheckExecutionContext, postgres: PostgresResource
) -> dg.AssetCheckResult:
    return _rules_check(context, postgres, [STATUS_IN_ENUM, SCORE_IN_RANGE])


@dg.asset_check(
    asset=crm_leads, description="No two live leads share (organization, phone).", blocking=True
)
def leads_unique_phone_per_organization(
    context: dg.AssetCheckExecutionContext, postgres: PostgresResource
) -> dg.AssetCheckResult:
    return _rules_check(context, postgres, [PHONE_UNIQUE_PER_ORGANIZATION])


def quarantine_warn_rate(postgres: PostgresResource, organizations: Sequence[str] = ()) -> float:
    env_rate = settings.current().quarantine_warn_rate
    if env_rate is not None:
        return env_rate
    with _connection(postgres, list(organizations)) as conn:
        rate, _ = config_values(conn, "quarantine_rate_warn")
    return DEFAULT_QUARANTINE_WARN_RATE if rate is None else float(str(rate))


@dg.asset_check(
    asset=crm_leads,
    description="Share of quarantined rows per file stays under the configured rate "
    "(LEADFLOW_QUARANTINE_WARN_RATE or system_config quarantine_rate_warn; warns).",
)
def import_quarantine_rate(
    context: dg.AssetCheckExecutionContext, postgres: PostgresResource
) -> dg.AssetCheckResult:
    scope = RunScope.of(context)
    threshold = quarantine_warn_rate(postgres, scope.organizations)
    files = scope.succeeded
    rates = {
        Path(f["file"]).name: round(f["quarantined"] / f["rows_read"], 4)
        for f in files
        if f["rows_read"]
    }
    over = {name: rate for name, rate in rates.items() if rate > threshold}
    sample: list[dict] = []
    batch_ids = [f["batch_id"] for f in files if Path(f["file"]).name in over]
    if batch_ids:
        with _connection(postgres, scope.organizations) as conn:
            sample = [
                {"batch_id": b, "row_number": n, "line_number": line, "reason": r, "detail": d}
                for b, n, line, r, d in conn.execute(
                    "select batch_id::text, row_number, line_number, reason, detail"
                    " from import_rejects"
                    " where batch_id = any(%s::uuid[]) order by batch_id, row_number limit 20",
                    (batch_ids,),
                )
            ]
    return dg.AssetCheckResult(
        passed=not over,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "threshold": threshold,
            "rates": dg.MetadataValue.json(rates),
            "failing_count": len(over),
            "failing_sample": dg.MetadataValue.json(sample),
        },
    )


@dg.asset_check(
    asset=crm_leads,
    description="For every batch of the run: rows_read = inserted + merged + duplicates_in_file"
    " + quarantined, and import_rejects holds exactly `quarantined` rows.",
    blocking=True,
)
def import_accounting_identity(
    context: dg.AssetCheckExecutionContext, postgres: PostgresResource
) -> dg.AssetCheckResult:
    scope = RunScope.of(context)
    batch_ids = [f["batch_id"] for f in scope.succeeded]
    with _connection(postgres, scope.organizations) as conn:
        rows = conn.execute(
            """
            select b.id::text, b.file_name, b.rows_read, b.inserted, b.merged,
                   b.duplicates_in_file, b.quarantined,
                   (select count(*) from import_rejects r where r.batch_id = b.id) as rejects
            from import_batches b where b.id = any(%s::uuid[])
            """,
            (batch_ids,),
        ).fetchall()
    failing = [
        {
            "batch_id": r[0],
            "file": r[1],
            "rows_read": r[2],
            "inserted": r[3],
            "merged": r[4],
            "duplicates_in_file": r[5],
            "quarantined": r[6],
            "reject_rows": r[7],
        }
        for r in rows
        if r[2] != r[3] + r[4] + r[5] + r[6] or r[6] != r[7]
    ]
    return dg.AssetCheckResult(
        passed=not failing and len(rows) == len(batch_ids),
        metadata={
            "batches_checked": len(rows),
            "failing_count": len(failing),
            "failing_sample": dg.MetadataValue.json(failing[:20]),
        },
    )


INGEST_CHECKS = [
    leads_phone_is_e164,
    leads_status_and_score_valid,
    leads_unique_phone_per_organization,
    import_quarantine_rate,
    import_accounting_identity,
]
