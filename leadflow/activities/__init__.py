"""Activity events from MongoDB in lead_activities: parsing rules (rules.py), extraction and
loading (sql.py), the `lead_activities` asset (assets.py)."""
