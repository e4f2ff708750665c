"""CRM assets (group `crm`): saved segment sizes and nurture sequence enrollments.

Both are thin: the filter language and the step schedule are pure code in
`core/segments.py` and `core/nurture.py`, the SQL in `db/segments.py` and `db/nurture.py`.
Each run is stamped with an as-of time (config `as_of`, default now) so that re-running for the
same time gives the same result.
"""

import dagster as dg

from dagster_project.assets.common import AsOfConfig
from dagster_project.db.nurture import COUNT_KEYS, nurture_organizations, run_organization
from dagster_project.db.segments import count_segments
from dagster_project.resources import PostgresResource

GROUP = "crm"
#: upstream of both: the leads and the fields filters read (status, tags, score, owner)
LEAD_STATE = [dg.AssetKey("crm_leads"), dg.AssetKey("lead_scores"), dg.AssetKey("lead_assignments")]
#: at most this many segments are listed one by one in the metadata
LISTED = 200


@dg.asset(
    group_name=GROUP,
    kinds={"postgres"},
    deps=LEAD_STATE,
    description="Size of every saved segment: live leads of its organization matching its filter "
    "(segments.lead_count, last_counted_at) and a segment_count_history row per run. Segments "
    "with an invalid filter are listed in the metadata and keep their previous count.",
)
def segment_counts(
    context: dg.AssetExecutionContext, config: AsOfConfig, postgres: PostgresResource
) -> dg.MaterializeResult:
    as_of = config.as_of_datetime()
    with postgres.connection() as conn:
        results = count_segments(conn, as_of)
    invalid = [r.as_dict() for r in results if r.error]
    for item in invalid:
        context.log.warning(f"segment {item['segment_id']} ({item['name']}): {item['error']}")
    return dg.MaterializeResult(
        metadata={
            "as_of": dg.MetadataValue.text(as_of.isoformat()),
            "segments": dg.MetadataValue.int(len(results)),
            "segments_counted": dg.MetadataValue.int(len(results) - len(invalid)),
            "segments_invalid": dg.MetadataValue.int(len(invalid)),
            "invalid": dg.MetadataValue.json(invalid),
            "counts": dg.MetadataValue.json([r.as_dict() for r in results[:LISTED]]),
            "leads_in_segments": dg.MetadataValue.int(sum(r.lead_count or 0 for r in results)),
        }
    )


@dg.asset(
    group_name=GROUP,
    kinds={"postgres"},
    deps=LEAD_STATE,
    description="Nurture sequence enrollments and their outbound touch queue (nurture_touches): "
    "DNC leads' enrollments cancelled and recruited/deleted leads' exited (their queued touches "
    "cancelled), leads matching an active sequence's entry_filter enrolled, and every step due "
    "by as_of queued once; one transaction per organization.",
)
def nurture_enrollments(
    context: dg.AssetExecutionContext, config: AsOfConfig, postgres: PostgresResource
) -> dg.MaterializeResult:
    as_of = config.as_of_datetime()
    results = []
    with postgres.connection() as conn:
        for organization_id in nurture_organizations(conn):
            result = run_organization(conn, organization_id, as_of)
            context.log.info(f"organization {organization_id}: {result.counts()}")
            for problem in result.problems:
                context.log.warning(f"sequence {problem['sequence_id']}: {problem['error']}")
            results.append(result)
    totals = {key: sum(getattr(r, key) for r in results) for key in COUNT_KEYS}
    return dg.MaterializeResult(
        metadata={
            "as_of": dg.MetadataValue.text(as_of.isoformat()),
            "organizations": dg.MetadataValue.int(len(results)),
            **{key: dg.MetadataValue.int(value) for key, value in totals.items()},
            "by_organization": dg.MetadataValue.json(
                {str(r.organization_id): r.counts() for r in results}
            ),
            "invalid_sequences": dg.MetadataValue.json(
                [problem for r in results for problem in r.problems]
            ),
        }
    )


CRM_SEGMENT_ASSETS = [segment_counts, nurture_enrollments]
