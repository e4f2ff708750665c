"""leadflow: a lead pipeline for a recruiting CRM, one folder per domain.

    leads/          shared lead vocabulary: records and statuses, phone numbers, cleaning rules
    ingest/         lead files -> normalized, deduplicated, DNC-screened leads in PostgreSQL
    activities/     MongoDB activity events -> lead_activities
    crm/            scoring, assignment, segments, nurture
    costs/          lead source costs and the budget ledger
    graph/          the CRM graph in Neo4j
    analytics/      the dbt project as assets, and the HTML report
    orchestration/  the nightly job, its schedule, failure alerts
    cli/            the `leadflow` command line and the in-process runner
    platform/       local servers, migrations, seed (never used by the product itself)

Inside a domain, pure rules and SQL live side by side (`rules.py` / `sql.py`, or `<topic>.py` /
`<topic>_sql.py`); Dagster objects are in `assets.py` / `checks.py` and `definitions.py`.
"""
