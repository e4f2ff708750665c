"""Lead source costs and the budget ledger: parsing and validation (rules.py), reading files
(reading.py, on `leadflow.tabular`), loading (sql.py). No Dagster asset: costs arrive through
`leadflow costs import`, and the marts read the table."""
