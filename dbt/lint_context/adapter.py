"""dbt's `adapter` for sqlfluff's jinja templater (.sqlfluff `library_path`): quoting only."""


def quote(identifier: object) -> str:
    return f'"{identifier}"'
