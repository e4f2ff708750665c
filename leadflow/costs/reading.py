"""Reading a cost file (CSV with any of , ; TAB |, or the first sheet of an XLSX) into rows.

The file mechanics are `leadflow.tabular`'s, the same as for lead files; XLSX cells are read
typed, because `parse_period` and `parse_cost` take spreadsheet dates and numbers as they are.
"""

from __future__ import annotations

from pathlib import Path

from leadflow.costs.rules import RawCostRow, RowError, map_cost_headers
from leadflow.tabular import (
    MAX_CELL_CHARS,
    FileFormatError,
    Opener,
    inspect_table,
    iter_table_rows,
)

#: the file cannot be read as a cost file at all: the one tabular error, under the costs name
CostFileError = FileFormatError


def read_cost_file(
    path: Path | str, opener: Opener | None = None
) -> tuple[list[RawCostRow], list[RowError]]:
    """Rows of a cost file numbered as in the file (1 = the header row); header errors if any.

    With `opener` (a checked file's `open`), every read of the file goes through it.

    A cell longer than MAX_CELL_CHARS refuses the file (CostFileError): no cost column holds
    anything near it, and repeating it in a row error would bury the message.
    """
    table = inspect_table(path, opener)
    mapping, errors = map_cost_headers(table.headers)
    if errors:
        return [], errors
    rows: list[RawCostRow] = []
    for number, cells in iter_table_rows(table, typed=True):
        longest = max((len(c) for c in cells if isinstance(c, str)), default=0)
        if longest > MAX_CELL_CHARS:
            raise CostFileError(
                f"{table.path}: row {number} cannot be read (a cell has {longest} characters,"
                f" limit {MAX_CELL_CHARS})"
            )
        values = {column: cells[i] if i < len(cells) else None for i, column in mapping.items()}
        rows.append(RawCostRow(number, values))
    return rows, []
