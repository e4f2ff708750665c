"""The costs asset (group `costs`): a cost file -> `lead_source_costs` and the budget ledger.

One run imports one file, all or nothing (leadflow/costs/sql.py): a refused file fails the run
with every problem in its metadata, and the table is unchanged. Files arrive two ways: dropped in
the landing folder's costs/ (the sensor requests one run of `cost_import_job` per new file, and the
file moves to costs/processed/ or costs/failed/ afterwards), or named by the operator
(`leadflow costs import FILE`, which runs this asset in its own process and leaves the file where
it is).

Which files a run may read is the `cost_files` resource's decision, not the run config's, as for
lead files: the definitions bind `LandingCostFiles` (landing cost files only, see landing.py),
which has no configuration a launchpad could change; `leadflow costs import` passes
`OperatorCostFiles` to its own in-process run, and no launched run can have it.
"""

from pathlib import Path

import dagster as dg
from pydantic import Field

from leadflow.checked_files import CheckedFile, check_path
from leadflow.costs.landing import (
    check_cost_landing_file,
    costs_landing_root,
    file_away,
    list_cost_files,
)
from leadflow.costs.rules import CostImportResult, RowError
from leadflow.costs.sql import import_costs
from leadflow.resources import PostgresResource
from leadflow.tabular import FileFormatError, cannot_read

GROUP = "costs"
COUNT_KEYS = ("rows_read", "inserted", "updated", "unchanged", "ledger_rows")


class CostImportConfig(dg.Config):
    """The file to import; the costs sensor and `leadflow costs import` fill this in."""

    file: str = Field(
        description="A cost file (CSV/TSV/XLSX): in a launched run, a landing cost file "
        "<LEADFLOW_LANDING_DIR>/costs/<file>."
    )


class CostFiles(dg.ConfigurableResource):
    """Which files a run of `lead_source_costs` may read, and what becomes of them afterwards.

    Deliberately without configuration: what it allows is its class, chosen in code (the
    definitions bind LandingCostFiles; only `leadflow costs import` passes OperatorCostFiles)."""

    def check(self, raw_path: str) -> CheckedFile:
        raise NotImplementedError

    def file_away(
        self, checked: CheckedFile, failed: bool, tag: str, log: dg.DagsterLogManager
    ) -> None:
        """After the import: nothing by default."""


class LandingCostFiles(CostFiles):
    """What every launched run of `cost_import_job` may read: <LEADFLOW_LANDING_DIR>/costs/<file>,
    never through a link; afterwards it moves to costs/processed/ or costs/failed/."""

    def check(self, raw_path: str) -> CheckedFile:
        return check_cost_landing_file(raw_path, costs_landing_root())

    def file_away(
        self, checked: CheckedFile, failed: bool, tag: str, log: dg.DagsterLogManager
    ) -> None:
        if file_away(checked, failed, tag) is None:
            log.warning(f"{checked.path} was not filed away: it is no longer the imported file")


class OperatorCostFiles(CostFiles):
    """`leadflow costs import FILE`'s: any readable regular file the operator names, left in
    place. Passed only to the command's own in-process run, never bound in the definitions."""

    def check(self, raw_path: str) -> CheckedFile:
        path = Path(raw_path)
        try:
            return check_path(path.resolve())
        except OSError as exc:
            raise cannot_read(path, exc) from exc


def import_metadata(result: CostImportResult) -> dict[str, dg.MetadataValue]:
    """The import's figures, and the whole result as `leadflow costs import --json` prints it."""
    return {
        "status": dg.MetadataValue.text(result.status),
        **{key: dg.MetadataValue.int(getattr(result, key)) for key in COUNT_KEYS},
        "problems": dg.MetadataValue.int(len(result.errors)),
        "result": dg.MetadataValue.json(result.as_dict()),
    }


@dg.asset(
    group_name=GROUP,
    kinds={"python", "postgres"},
    description="Lead source costs (spend per user, source and month) from a cost file, with the "
    "budget ledger: the file validated whole (users by id or e-mail, sources mapped as the lead "
    "import maps them, periods, amounts) and refused whole when any row is bad; otherwise "
    "costs upserted and one ledger row (spend or refund) written per changed cost, in one "
    "transaction. Importing the same file again changes nothing.",
)
def lead_source_costs(
    context: dg.AssetExecutionContext,
    config: CostImportConfig,
    postgres: PostgresResource,
    cost_files: CostFiles,
) -> dg.MaterializeResult:
    checked: CheckedFile | None = None
    try:
        checked = cost_files.check(config.file)
    except FileFormatError as exc:  # refused (a link, outside costs/...) or unreadable
        result = CostImportResult(path=config.file, errors=[RowError(None, None, str(exc))])
    else:
        with postgres.connection() as conn:
            result = import_costs(conn, config.file, opener=checked.open)
    if checked is not None:
        cost_files.file_away(checked, bool(result.errors), context.run.run_id[:8], context.log)
    metadata = import_metadata(result)
    if result.errors:
        raise dg.Failure(
            description=f"{config.file} refused, nothing imported "
            f"({len(result.errors)} problem(s)): " + "; ".join(map(str, result.errors[:5])),
            metadata=metadata,
            allow_retries=False,  # the same file fails again: fix it and drop it again
        )
    context.log.info(f"{config.file}: {result.status} {result.as_dict()}")
    return dg.MaterializeResult(metadata=metadata)


COSTS_ASSETS = [lead_source_costs]

cost_import_job = dg.define_asset_job(
    "cost_import_job",
    selection=dg.AssetSelection.assets(lead_source_costs),
    description="Import one cost file into lead_source_costs and the budget ledger.",
    tags={"dagster/max_retries": "0"},
)


@dg.sensor(
    job=cost_import_job,
    minimum_interval_seconds=30,
    description="One cost import run per new file in <LEADFLOW_LANDING_DIR>/costs/ (default "
    ".leadflow/landing/costs): CSV/TSV/XLSX files of user, source, period and cost. Symbolic "
    "links and hard-linked files are passed over (with a warning). Files move to "
    "costs/processed/ or costs/failed/ afterwards.",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def cost_landing_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    files, passed = list_cost_files(costs_landing_root())
    for note in passed:
        context.log.warning(f"costs landing folder: {note}")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"{file.relative}:{file.size}:{file.mtime_ns}",
                run_config={"ops": {"lead_source_costs": {"config": {"file": str(file.path)}}}},
                tags={"leadflow/file": file.relative},
            )
            for file in files
        ]
    )
