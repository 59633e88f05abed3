"""Writes that must not be lost, in one place: a temporary file beside the target, flushed
to disk, renamed over it. A reader sees the old file or the complete new one, never a part;
a failure (a full disk, Ctrl-C) leaves the old file and no temporary one. Ground floor."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from .errors import WriteError


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# What a disk can refuse: the message names the folder and the errno's meaning, never a traceback.
DISK_ERRORS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EFBIG}


def disk_error(err: OSError, path: Path) -> WriteError:
    """A :class:`WriteError` naming the file, its folder and what the disk said."""
    name = errno.errorcode.get(err.errno or 0, "")
    what = err.strerror or str(err)
    fix = {
        errno.ENOSPC: "free some space",
        errno.EDQUOT: "free some space",
        errno.EROFS: "write somewhere writable",
        errno.EFBIG: "write somewhere else",
    }.get(err.errno or 0, "fix its permissions")
    return WriteError(
        f"cannot write {path.name} in {path.parent}: {what} ({name}); {fix}, or choose another folder; "
        "no earlier file was changed"
    )


def fsync_file(path: Path) -> None:
    """Flush ``path``'s data to the disk."""
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


@contextlib.contextmanager
def _refusals_named(path: Path) -> Iterator[None]:
    """A disk's refusal (full, read-only, no permission) inside the block raised again as
    :class:`WriteError` naming ``path``; other errors pass unchanged."""
    try:
        yield
    except OSError as err:
        if isinstance(err, WriteError) or err.errno not in DISK_ERRORS:
            raise
        raise disk_error(err, path) from err


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary file beside ``path`` (with the usual permissions, not mkstemp's 0600) for
    the block to write; renamed to ``path`` when the block succeeds, removed when it fails.
    A disk that refuses (full, read-only, no permission) raises :class:`WriteError`."""
    path = Path(path)
    tmp: Path | None = None
    try:
        with _refusals_named(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
            os.close(fd)
            tmp = Path(name)
            os.chmod(tmp, 0o666 & ~_umask())
            yield tmp
            fsync_file(tmp)
            os.replace(tmp, path)
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(file)`` on a binary temporary file beside ``path``, then rename it there."""
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        write(f)
    return Path(path)


def atomic_copy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Path:
    """Copy ``src`` to ``dst`` with the same guarantee."""
    with open(src, "rb") as f_src:
        return atomic_write(dst, lambda f: shutil.copyfileobj(f_src, f))


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary folder beside ``path`` for the block to fill; when the block succeeds its
    files are flushed and the folder renamed to ``path`` (a folder already there is moved
    aside first, and removed only once the new one is in place; put back if the rename
    fails), when it fails the folder is removed. A reader sees the old folder, none, or the
    complete new one; a process killed mid-write leaves only a hidden ``.NAME.*.tmp`` folder
    (or ``.NAME.*.old``), never a partial one at ``path``. A disk that refuses raises
    :class:`WriteError`."""
    path = Path(path)
    tmp: Path | None = None
    try:
        with _refusals_named(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent))
            os.chmod(tmp, 0o777 & ~_umask())
            yield tmp
            for file in tmp.iterdir():
                if file.is_file():
                    fsync_file(file)
            fsync_dir(tmp)
            _swap_in(tmp, path)
            tmp = None
            fsync_dir(path.parent)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _swap_in(tmp: Path, path: Path) -> None:
    """Rename the folder ``tmp`` to ``path``. A folder at ``path`` is moved aside first and
    removed once ``tmp`` is in place; if the rename fails (or is interrupted) while nothing
    is at ``path``, the earlier folder is moved back. Another writer may put its folder in
    place between the two renames: then its folder is replaced, up to three times."""
    for _ in range(3):
        old: Path | None = None
        try:
            if path.is_dir() and not path.is_symlink():
                old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
                os.replace(path, old)  # a folder may replace an empty one, never a full one
            elif path.exists() or path.is_symlink():
                path.unlink()
            os.replace(tmp, path)
        except BaseException as err:
            if old is not None and not os.path.lexists(path):
                os.replace(old, path)  # the earlier folder back in place
                old = None
            if isinstance(err, OSError) and err.errno in (errno.ENOTEMPTY, errno.EEXIST):
                continue  # another writer's folder arrived between our renames: try again
            raise
        finally:
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        return
    raise OSError(errno.EEXIST, f"{path} kept being replaced by another writer")
