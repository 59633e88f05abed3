"""Writing a figure atomically: a reader never sees half a PNG, a crash leaves the old one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def save_figure(fig: object, path: str | os.PathLike, dpi: int = 150, close: bool = False) -> Path:
    """Save a matplotlib ``Figure`` to ``path`` through a temporary file renamed into place;
    the format follows the suffix (``.png`` when there is none). ``close`` closes the figure
    afterwards, written or not (callers outside ``viz`` never touch matplotlib)."""
    try:
        return _save(fig, Path(path), dpi)
    finally:
        if close:
            import matplotlib.pyplot as plt

            plt.close(fig)


def _save(fig: object, path: Path, dpi: int) -> Path:
    parent = path.parent if str(path.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix.lstrip(".").lower() or "png"
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        fig.savefig(tmp, format=fmt, dpi=dpi)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
