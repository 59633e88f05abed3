"""One run per folder: a lock file that the training process holds while it runs.

``fcntl.flock`` on ``RUN/.lock``: a second ``cnnlab train`` (or ``--resume``) on the same
folder is refused with the process holding it; the kernel releases the lock when that
process ends however it ends, so a lock left by a killed process is simply taken over
(and said so). The file keeps the holder's PID for the message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import RunInUseError

LOCK_NAME = ".lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _recorded_pid(fd: int) -> int | None:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 64).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike[str], print_fn: Callable[[str], None] = print) -> Iterator[Path]:
    """Hold ``run_dir``'s lock for the block; :class:`RunInUseError` names the process that
    holds it. Yields the lock file's path."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _recorded_pid(fd)
            who = f"process {holder}" if holder is not None else "another process"
            raise RunInUseError(
                f"{run_dir} is in use: {who} is training in it (lock {path}); wait for it to finish, or stop it "
                f"(kill {holder if holder is not None else 'PID'}) and resume with `cnnlab train --resume {run_dir}`"
            ) from None
        stale = _recorded_pid(fd)
        if stale is not None and stale != os.getpid() and not _alive(stale):
            print_fn(f"{run_dir}: taking over the lock left by process {stale}, which is no longer running")
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)  # released: no PID left to misreport
    finally:
        os.close(fd)  # closing releases the flock
