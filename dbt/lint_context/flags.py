"""dbt's `flags` for sqlfluff's jinja templater (.sqlfluff `library_path`): a plain build."""

FULL_REFRESH = False
