"""Opening files that someone else may have written: no link followed, one name, the same file
every time.

A landing folder is written by tenants. Between the moment a file is listed and the moments it is
read (an import opens a file several times: hash, header, sample, rows), its name can be swapped
for a symbolic link to another tenant's upload or to any file the worker can read, and a hard
link makes another tenant's file look like one's own. So a checked file is reached from a trusted
directory one path component at a time with O_NOFOLLOW (a link anywhere on the way fails the
open), the opened descriptor is checked with fstat (a regular file with exactly one hard link),
and its identity (device, inode) is pinned: every later open must reach that same file, and every
byte is read through a descriptor so checked. Nothing is ever resolved through a link.

The operator's own files (`leadflow leads import FILE`) are checked the same way except that the path
may contain links (the operator chose it) and the file may have several names.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from leadflow.tabular import FileFormatError

log = logging.getLogger(__name__)

#: flags of every open: read only, never block on a FIFO, never become a controlling terminal
_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: what open(2) with O_NOFOLLOW reports for a symbolic link (Linux: ELOOP; the BSDs: EMLINK)
_LINK_ERRNOS = frozenset({errno.ELOOP, errno.EMLINK})


class RefusedFile(FileFormatError):
    """A file an import must not read (a link, not a regular file, outside the landing root...);
    the message names the rule and the path, never anything of the file's content."""


def _link_refused(path: Path | str) -> RefusedFile:
    return RefusedFile(
        f"{path} is a symbolic link: landing files and folders are read as themselves, never "
        "through a link"
    )


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def open_dir_beneath(root: Path, parts: tuple[str, ...] | list[str]) -> int:
    """A descriptor of the directory `root`/`parts`, reached without following a link below
    `root` (the root itself is the deployment's setting and may be one). The caller closes it."""
    fd = os.open(root, _DIR_FLAGS & ~os.O_NOFOLLOW)
    try:
        for depth, part in enumerate(parts, start=1):
            if part in ("", ".", "..") or "/" in part:
                raise RefusedFile(f"{root.joinpath(*parts)}: not a plain path below {root}")
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                # O_DIRECTORY | O_NOFOLLOW on a link to a directory: ENOTDIR on Linux
                if exc.errno in _LINK_ERRNOS or _is_link(part, fd):
                    raise _link_refused(root.joinpath(*parts[:depth])) from exc
                raise
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_beneath(root: Path, parts: tuple[str, ...]) -> int:
    if not parts:
        raise RefusedFile(f"{root} is a directory, not a file")
    parent = open_dir_beneath(root, parts[:-1])
    try:
        if parts[-1] in ("", ".", "..") or "/" in parts[-1]:
            raise RefusedFile(f"{root.joinpath(*parts)}: not a plain path below {root}")
        try:
            return os.open(parts[-1], _READ_FLAGS | os.O_NOFOLLOW, dir_fd=parent)
        except OSError as exc:
            if exc.errno in _LINK_ERRNOS:
                raise _link_refused(root.joinpath(*parts)) from exc
            raise
    finally:
        os.close(parent)


def require_plain_file(path: Path | str, st: os.stat_result, single_link: bool) -> None:
    """Refuse what is not a regular file, or (`single_link`) has more than one name."""
    if stat.S_ISLNK(st.st_mode):
        raise _link_refused(path)
    if not stat.S_ISREG(st.st_mode):
        raise RefusedFile(f"{path} is not a regular file")
    if single_link and st.st_nlink != 1:
        raise RefusedFile(
            f"{path} has {st.st_nlink} hard links: a landing file must have exactly one name "
            "(copy it instead of linking it)"
        )


@dataclass(frozen=True, slots=True)
class CheckedFile:
    """A regular file pinned by identity; `open` reaches that same file or raises.

    `beneath` and `parts`: the file is `beneath`/`parts`, walked without following links and
    required to have one hard link (a landing file). Without `beneath`, `path` is opened as
    given (the operator's file)."""

    path: Path
    device: int
    inode: int
    size: int
    beneath: Path | None = None
    parts: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.path.name

    def _open_fd(self) -> int:
        if self.beneath is not None:
            return _open_beneath(self.beneath, self.parts)
        return os.open(self.path, _READ_FLAGS)

    def open(self, buffering: int = -1) -> BinaryIO:
        """A binary file object on the checked file (re-checked: type, links, identity)."""
        fd = self._open_fd()
        try:
            st = os.fstat(fd)
            require_plain_file(self.path, st, single_link=self.beneath is not None)
            if (st.st_dev, st.st_ino) != (self.device, self.inode):
                raise RefusedFile(f"{self.path} was replaced by another file since it was checked")
        except BaseException:
            os.close(fd)
            raise
        return os.fdopen(fd, "rb", buffering=buffering)

    def same_file(self, st: os.stat_result) -> bool:
        return (st.st_dev, st.st_ino) == (self.device, self.inode)


def _checked(
    fd: int,
    path: Path,
    single_link: bool,
    *,
    beneath: Path | None = None,
    parts: tuple[str, ...] = (),
) -> CheckedFile:
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    require_plain_file(path, st, single_link)
    return CheckedFile(path, st.st_dev, st.st_ino, st.st_size, beneath=beneath, parts=parts)


def check_beneath(root: Path, parts: tuple[str, ...]) -> CheckedFile:
    """The landing file `root`/`parts`: no link on the way below `root`, one hard link."""
    path = root.joinpath(*parts)
    fd = _open_beneath(root, parts)
    return _checked(fd, path, True, beneath=root, parts=tuple(parts))


def check_path(path: Path) -> CheckedFile:
    """The operator's file `path` (links in it followed): a regular file, pinned."""
    return _checked(os.open(path, _READ_FLAGS), path, False)


# -- listing and filing away a folder below a trusted root -------------------------------------


@dataclass(frozen=True, slots=True)
class ListedFile:
    """A regular file with one name found directly in a folder below a root: `root`/`parts`."""

    root: Path
    parts: tuple[str, ...]
    size: int
    mtime_ns: int

    @property
    def path(self) -> Path:
        return self.root.joinpath(*self.parts)

    @property
    def relative(self) -> str:
        return "/".join(self.parts)


def list_plain_files(
    root: Path, folder: tuple[str, ...], wanted: Callable[[str], bool]
) -> tuple[list[ListedFile], list[str]]:
    """The files directly in `root`/`folder` whose names are `wanted`, in name order, and what
    was passed over and why (links, files with several hard links). The folder is reached
    without following a link below `root`; a missing folder lists nothing; sub-folders and
    unwanted names are ignored silently."""
    found: list[ListedFile] = []
    passed: list[str] = []
    try:
        fd = open_dir_beneath(root, folder)
    except (FileNotFoundError, NotADirectoryError):
        return found, passed
    except RefusedFile as exc:
        return found, [str(exc)]
    try:
        with os.scandir(fd) as scanned:
            entries = sorted(scanned, key=lambda entry: entry.name)
        for entry in entries:  # stat relative to `fd`: it stays open until the end
            if wanted(entry.name):
                _take_listed(root, (*folder, entry.name), entry, found, passed)
    finally:
        os.close(fd)
    return found, passed


def _take_listed(
    root: Path, parts: tuple[str, ...], entry: os.DirEntry, found: list, passed: list
) -> None:
    relative = "/".join(parts)
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError:  # removed since it was listed
        return
    if stat.S_ISLNK(st.st_mode):
        passed.append(f"{relative}: a symbolic link, not followed")
    elif stat.S_ISREG(st.st_mode):
        if st.st_nlink != 1:
            passed.append(f"{relative}: {st.st_nlink} hard links, a landing file has one")
        else:
            found.append(ListedFile(root, parts, st.st_size, st.st_mtime_ns))


def move_beneath(checked: CheckedFile, folder: tuple[str, ...], tag: str | None) -> Path | None:
    """Move a file checked beneath a root into `root`/`folder` (created): the listed name
    itself, renamed within directories opened without following links, and only while it still
    names the file that was checked (else it stays, and None is returned). A name already
    filed there gets `.<tag>` (then `.<tag>.<n>`) before its suffix."""
    if checked.beneath is None:
        raise ValueError("only files checked beneath a root are filed away")
    root, parts = checked.beneath, checked.parts
    source_fd = open_dir_beneath(root, parts[:-1])
    try:
        try:
            current = os.stat(parts[-1], dir_fd=source_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(current.st_mode) or not checked.same_file(current):
            log.warning("%s was replaced since it was imported: left where it is", checked.path)
            return None
        target_fd = _folder_beneath(root, folder)
        try:
            target = _free_name(target_fd, parts[-1], tag)
            os.rename(parts[-1], target, src_dir_fd=source_fd, dst_dir_fd=target_fd)
        finally:
            os.close(target_fd)
    finally:
        os.close(source_fd)
    return root.joinpath(*folder, target)


def _folder_beneath(root: Path, folder: tuple[str, ...]) -> int:
    """A descriptor of `root`/`folder`, its last component created when missing."""
    parent_fd = open_dir_beneath(root, folder[:-1])
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder[-1], dir_fd=parent_fd)
    finally:
        os.close(parent_fd)
    return open_dir_beneath(root, folder)


def _free_name(dir_fd: int, name: str, tag: str | None) -> str:
    """`name`, or `<stem>.<tag>[.n]<suffix>` when a file of that name was filed before."""
    path = Path(name)
    candidates = [name, f"{path.stem}.{tag or 'x'}{path.suffix}"]
    n = 2
    while True:
        for candidate in candidates:
            try:
                os.stat(candidate, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                return candidate
        candidates = [f"{path.stem}.{tag or 'x'}.{n}{path.suffix}"]
        n += 1
