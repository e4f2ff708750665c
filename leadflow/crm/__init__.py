"""CRM intelligence: lead scoring, assignment, segments and nurture sequences, each a pure
`<topic>.py` with its `<topic>_sql.py`; the assets are in assets.py."""
