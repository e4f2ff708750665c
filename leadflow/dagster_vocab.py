"""The Dagster vocabulary every domain shares: the organization partitions and the as-of time.

Shared like `postgres.py` and `leads/`: it imports Dagster and the shared lead ids, never a
domain, so one domain's assets can be partitioned or configured like another's without the two
importing each other.

One key space, one partitions definition: a key is an organization id, plus `multi_org` for
lead files that carry their own organization column. The file imports (`crm_leads`), the CRM
sync (`crm_api_leads` and its raw and push assets) and the graph (`crm_graph`) all use
`organization_partitions`, so the partition of an organization is the same partition in each,
and Dagster maps one asset's partition to the next one's by identity. Whoever meets an
organization first registers it (the landing sensor, `leadflow leads import`, the CRM sync schedule,
the nightly graph sync). `multi_org` names no single organization: a step that works per
organization treats it as "every organization" (the graph) or as one with nothing to do (the
CRM sync: no connection belongs to it).
"""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
from pydantic import Field

from leadflow.leads.ids import canonical_uuid

#: the partition of lead files whose rows name their organization (organization_id column)
MULTI_ORG_PARTITION = "multi_org"
#: the name of organization_partitions (its `.name` is typed optional: Dagster's own
#: DynamicPartitionsDefinition may be unnamed)
ORGANIZATION_PARTITIONS = "organizations"
organization_partitions = dg.DynamicPartitionsDefinition(name=ORGANIZATION_PARTITIONS)


def partition_organization(key: str | None) -> str | None:
    """The organization a partition key names (canonical UUID), or None: no key, or
    `multi_org`."""
    return canonical_uuid(key) if key else None


def run_organization(context: dg.AssetExecutionContext) -> str | None:
    """The organization of the run's partition, or None (no partition key, or `multi_org`).
    An unpartitioned asset in a partitioned run sees the run's key too."""
    return partition_organization(context.partition_key) if context.has_partition_key else None


#: run tag that asks every incremental step for its full pass (`leadflow run --full-refresh`; set
#: it on a run in the UI's launchpad to do the same)
FULL_REFRESH_TAG = "leadflow/full_refresh"


def full_refresh_requested(
    context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext,
) -> bool:
    """Whether the run asks the incremental steps for their full pass (FULL_REFRESH_TAG)."""
    return context.run.tags.get(FULL_REFRESH_TAG, "").lower() == "true"


def parse_as_of(value: str | None) -> datetime:
    """The configured as-of time (timezone-aware; no offset means UTC), or now."""
    if not value:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise dg.Failure(f"as_of {value!r} is not an ISO 8601 date-time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class AsOfConfig(dg.Config):
    """The time a run computes for: runs are deterministic given it (replays, tests)."""

    as_of: str | None = Field(
        default=None,
        description="ISO 8601 date-time, e.g. 2026-12-01T06:00:00+00:00 (no offset means UTC);"
        " default now.",
    )

    def as_of_datetime(self) -> datetime:
        return parse_as_of(self.as_of)
