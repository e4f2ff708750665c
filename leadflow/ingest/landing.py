"""The landing folder: where lead files are dropped, and what an import may take from it.

    <landing>/<organization uuid>/<file>   a tenant's upload: imported into that organization only
    <landing>/<file>                       the operator's files that name their organizations in
                                           a column (partition multi_org)
    <landing>/processed/, <landing>/failed/  where imported (or skipped) and failed files go
    <landing>/costs/                       cost files (leadflow/costs/landing.py), not lead files

The landing root is LEADFLOW_LANDING_DIR (default <LEADFLOW_HOME>/landing), a setting of the
deployment: never run config. Tenants write into their folders, so everything below the root is
hostile input. The sensor lists, and a run of `lead_import_job` reads, only what this module
accepts: a lead file (by suffix, not hidden) directly in the root or in a folder named by the
canonical UUID of an organization; reached without following a symbolic link (file or folder),
with exactly one hard link; read through descriptors pinned to the inode that was checked
(leadflow.checked_files); moved away by its listed name only, and only while that name still is
the file that was imported.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from leadflow import settings
from leadflow.checked_files import (
    CheckedFile,
    RefusedFile,
    check_beneath,
    move_beneath,
    open_dir_beneath,
)
from leadflow.leads.ids import canonical_uuid

log = logging.getLogger(__name__)

LEAD_FILE_SUFFIXES = frozenset({".csv", ".tsv", ".txt", ".xlsx", ".xlsm"})
#: folders of the root that hold filed-away files, never imported from
FILED = ("processed", "failed")
#: folders of the root that belong to other kinds of files (costs/: cost files), passed over
#: without a word
OTHER_FOLDERS = ("costs",)


def landing_root() -> Path:
    """LEADFLOW_LANDING_DIR, else <LEADFLOW_HOME>/landing (settings.landing_dir)."""
    return settings.landing_dir()


def is_organization_folder(name: str) -> bool:
    """A folder name that is an organization id in canonical form (lower-case, hyphenated), so
    one organization has exactly one folder."""
    return canonical_uuid(name) == name


def is_lead_file_name(name: str) -> bool:
    return not name.startswith(".") and Path(name).suffix.lower() in LEAD_FILE_SUFFIXES


@dataclass(frozen=True, slots=True)
class LandingPath:
    """A place in the landing layout: (file,) at the root or (organization uuid, file)."""

    root: Path
    parts: tuple[str, ...]

    @property
    def path(self) -> Path:
        return self.root.joinpath(*self.parts)

    @property
    def relative(self) -> str:
        return "/".join(self.parts)

    @property
    def organization_id(self) -> str | None:
        return self.parts[0] if len(self.parts) == 2 else None


def landing_path(root: Path, raw: str) -> LandingPath:
    """Where `raw` is in the landing layout, decided on the text alone (nothing is opened);
    RefusedFile for any path the landing sensor would not list."""
    path = Path(raw)
    below = f"below the landing root {root} (LEADFLOW_LANDING_DIR)"
    if not path.is_absolute() or ".." in path.parts:
        raise RefusedFile(f"{raw}: not an absolute path {below}")
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        raise RefusedFile(
            f"{raw}: not {below}: lead_import_job imports landing files only (the operator "
            "imports other files with `leadflow leads import FILE`)"
        ) from None
    if not parts or len(parts) > 2 or (len(parts) == 2 and parts[0] in FILED):
        raise RefusedFile(
            f"{raw}: not a landing file: they are <landing>/<organization uuid>/<file> or "
            "<landing>/<file>"
        )
    if len(parts) == 2 and not is_organization_folder(parts[0]):
        raise RefusedFile(f"{raw}: the folder {parts[0]} is not named by an organization's UUID")
    if not is_lead_file_name(parts[-1]):
        raise RefusedFile(
            f"{raw}: not a lead file (hidden, or not {', '.join(sorted(LEAD_FILE_SUFFIXES))})"
        )
    return LandingPath(root, parts)


def check_landing_file(raw: str, organization_id: str | None, root: Path) -> CheckedFile:
    """The landing file `raw` for an import into `organization_id` (None: multi_org), checked:
    its folder must be that organization's (a file at the root has none), no link on the way,
    one hard link. RefusedFile otherwise, before a byte of it is read."""
    where = landing_path(root, raw)
    folder = where.organization_id
    if folder != organization_id:
        if folder is None:
            raise RefusedFile(
                f"{raw} is at the top of the landing folder: such files name their "
                "organizations in a column and are not imported into one organization"
            )
        raise RefusedFile(
            f"{raw} is in organization {folder}'s folder: it is imported into that "
            f"organization only, not into {organization_id or 'the multi_org partition'}"
        )
    return check_beneath(root, where.parts)


# -- the sensor's listing -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LandingFile:
    """A file the landing sensor requests an import of."""

    where: LandingPath
    size: int
    mtime_ns: int


def list_landing(
    root: Path, organizations: Collection[str] | None = None
) -> tuple[list[LandingFile], list[str]]:
    """The files below `root` that an import may take, in path order, and what was passed over
    and why (links, hard-linked files, folders that name no organization of `organizations`).
    Nothing is followed through a link; hidden names and other suffixes are ignored silently."""
    found: list[LandingFile] = []
    passed: list[str] = []
    try:
        root_fd = open_dir_beneath(root, ())
    except (FileNotFoundError, NotADirectoryError):
        return found, passed
    try:
        for entry in _entries(root_fd):
            name = entry.name
            if name.startswith(".") or name in FILED or name in OTHER_FOLDERS:
                continue
            if entry.is_symlink():
                if is_organization_folder(name) or is_lead_file_name(name):
                    passed.append(f"{name}: a symbolic link, not followed")
                continue
            if entry.is_dir(follow_symlinks=False):
                if not is_organization_folder(name):
                    passed.append(f"{name}/: not named by an organization's UUID")
                elif organizations is not None and name not in organizations:
                    passed.append(f"{name}/: no organization has this id")
                else:
                    _list_folder(root, root_fd, name, found, passed)
                continue
            _take(LandingPath(root, (name,)), entry, found, passed)
    finally:
        os.close(root_fd)
    return found, passed


def _entries(dir_fd: int) -> list[os.DirEntry]:
    with os.scandir(dir_fd) as entries:
        return sorted(entries, key=lambda entry: entry.name)


def _list_folder(root: Path, root_fd: int, name: str, found: list, passed: list) -> None:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=root_fd)
    except OSError:  # swapped for a link or removed since it was listed
        passed.append(f"{name}/: changed while being listed")
        return
    try:
        for entry in _entries(fd):
            _take(LandingPath(root, (name, entry.name)), entry, found, passed)
    finally:
        os.close(fd)


def _take(where: LandingPath, entry: os.DirEntry, found: list, passed: list) -> None:
    if not is_lead_file_name(entry.name):
        return
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError:  # removed since it was listed
        return
    if stat.S_ISLNK(st.st_mode):
        passed.append(f"{where.relative}: a symbolic link, not followed")
    elif stat.S_ISREG(st.st_mode):
        if st.st_nlink != 1:
            passed.append(f"{where.relative}: {st.st_nlink} hard links, a landing file has one")
        else:
            found.append(LandingFile(where, st.st_size, st.st_mtime_ns))


# -- filing away ------------------------------------------------------------------------------------


def file_away(checked: CheckedFile, failed: bool, batch_id: str | None) -> Path | None:
    """Move the imported landing file into processed/ (or failed/) of its root: the listed
    name itself, renamed within directories opened without following links, and only while
    it still names the file that was imported (else it stays, and None is returned)."""
    return move_beneath(checked, (FILED[1] if failed else FILED[0],), batch_id)
