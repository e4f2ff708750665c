"""Lead source costs and the budget ledger: parsing and validation (rules.py), reading files
(reading.py, on `leadflow.tabular`), loading (sql.py), the landing folder's costs/ (landing.py)
and the asset `lead_source_costs` with its job and sensor (assets.py, definitions.py), which
`leadflow costs import` runs in its own process."""
