"""The costs landing folder: cost files dropped for import, and what an import may take from it.

    <landing>/costs/<file>                    a cost file: imported by a run of cost_import_job
    <landing>/costs/processed/, .../failed/   where imported (or unchanged) and refused files go

<landing> is LEADFLOW_LANDING_DIR (default <LEADFLOW_HOME>/landing), the deployment's setting,
never run config. costs/ sits beside the organizations' lead folders, at the root, which only the
operator writes: a cost file names users of any organization (like `leadflow costs import FILE`),
so it is not a tenant's upload. The rules are the lead landing folder's (leadflow.checked_files):
a file is listed and read only if it is reached without following a link and has one hard link,
every read goes through a descriptor pinned to the file that was checked, and it is filed away by
its listed name only while that name still is the file that was imported.
"""

from __future__ import annotations

from pathlib import Path

from leadflow import settings
from leadflow.checked_files import (
    CheckedFile,
    ListedFile,
    RefusedFile,
    check_beneath,
    list_plain_files,
    move_beneath,
)

COSTS_FOLDER = "costs"
#: what the sensor lists (cost files are read by content, but an upload in progress under a
#: temporary name must not be taken)
COST_FILE_SUFFIXES = frozenset({".csv", ".tsv", ".txt", ".xlsx", ".xlsm"})
PROCESSED, FAILED = "processed", "failed"


def costs_landing_root() -> Path:
    """The landing root (settings.landing_dir): cost files are in its costs/ folder."""
    return settings.landing_dir()


def is_cost_file_name(name: str) -> bool:
    return not name.startswith(".") and Path(name).suffix.lower() in COST_FILE_SUFFIXES


def list_cost_files(root: Path) -> tuple[list[ListedFile], list[str]]:
    """The cost files in <root>/costs/ an import may take, and what was passed over and why."""
    return list_plain_files(root, (COSTS_FOLDER,), is_cost_file_name)


def check_cost_landing_file(raw: str, root: Path) -> CheckedFile:
    """The cost file `raw`, which must be <root>/costs/<file>, checked: no link on the way, one
    hard link. RefusedFile otherwise, before a byte of it is read."""
    path = Path(raw)
    where = f"<{root}>/{COSTS_FOLDER}/<file> (LEADFLOW_LANDING_DIR)"
    if not path.is_absolute() or ".." in path.parts:
        raise RefusedFile(f"{raw}: not an absolute path of a landing cost file {where}")
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        parts = ()
    if len(parts) != 2 or parts[0] != COSTS_FOLDER:
        raise RefusedFile(
            f"{raw}: not a landing cost file {where}: cost_import_job imports landing files "
            "only (the operator imports other files with `leadflow costs import FILE`)"
        )
    if not is_cost_file_name(parts[1]):
        raise RefusedFile(
            f"{raw}: not a cost file (hidden, or not {', '.join(sorted(COST_FILE_SUFFIXES))})"
        )
    return check_beneath(root, parts)


def file_away(checked: CheckedFile, failed: bool, tag: str | None) -> Path | None:
    """Move an imported landing cost file into costs/processed/ (or costs/failed/)."""
    return move_beneath(checked, (COSTS_FOLDER, FAILED if failed else PROCESSED), tag)
