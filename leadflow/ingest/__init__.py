"""Lead file import: read (reading.py), normalize (normalize.py), stream into PostgreSQL and load
set-based there (sql.py: dedupe, DNC screen, merge), one transaction per file (pipeline.py),
as the `crm_leads` asset (assets.py) with its quality checks (checks.py)."""
