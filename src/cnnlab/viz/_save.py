"""Writing a figure atomically: a reader never sees half a PNG, a crash leaves the old one."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from ..atomic import atomic_output


def pyplot() -> Any:
    """``matplotlib.pyplot``, drawing off-screen (Agg) unless a backend is already chosen: by
    an earlier ``pyplot`` import (Jupyter's inline backend, a user's window) or by
    ``$MPLBACKEND`` (which Jupyter kernels set). A figure drawn for a file, a page or a
    notebook display then never switches a notebook's own plots away from inline."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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
    fmt = path.suffix.lstrip(".").lower() or "png"
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)
    return path


def figure_bytes(fig: object, fmt: str = "svg", dpi: int = 100, close: bool = True) -> bytes:
    """A matplotlib ``Figure`` as the bytes of an ``"svg"`` or ``"png"`` file, for a page
    that carries its figures inline (``cnnlab report``). SVG text stays text (no glyph
    outlines: smaller, searchable) and carries no date, so the same figure gives the same
    bytes. ``close`` closes a pyplot figure afterwards."""
    import io

    import matplotlib

    if fmt not in ("svg", "png"):
        raise ValueError(f"fmt={fmt!r}: a page figure is 'svg' or 'png'")
    buffer = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {}
    try:
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "cnnlab"}):
            fig.savefig(buffer, format=fmt, dpi=dpi, metadata=metadata)
    finally:
        if close:
            import matplotlib.pyplot as plt

            plt.close(fig)
    return buffer.getvalue()
