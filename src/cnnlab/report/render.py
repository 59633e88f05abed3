"""The template engine, set up once: Jinja2 with autoescaping on, templates shipped as package
data, number formats as filters, and the atomic write every page goes through."""

from __future__ import annotations

import base64
import functools
import io
import os
from pathlib import Path
from typing import Any

import jinja2

from ..analysis.report import binary_bytes, count, si, value_text
from ..atomic import atomic_write


def _pct(value: Any, digits: int = 2) -> str:
    return f"{value * 100:.{digits}f}%" if isinstance(value, (int, float)) else "-"


def _count(value: Any) -> str:
    return count(int(value)) if isinstance(value, (int, float)) else "-"


def _fixed(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "-"


def _si(value: Any) -> str:
    return si(value) if isinstance(value, (int, float)) else "-"


def _bytes(value: Any) -> str:
    return binary_bytes(int(value)) if isinstance(value, (int, float)) else "-"


def _ratio(value: Any) -> str:
    """A model's value over the baseline's: ``2.26x``, ``1,020x``."""
    if not isinstance(value, (int, float)):
        return "-"
    return f"{value:.3g}x" if value < 100 else f"{value:,.0f}x"


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("cnnlab.report", "templates"),
        autoescape=True,  # every value is text to show, never markup
        undefined=jinja2.StrictUndefined,  # a misspelt field fails in the tests, not silently on a page
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(pct=_pct, count=_count, fixed=_fixed, si=_si, bytes=_bytes, ratio=_ratio, value=value_text)
    return env


def render(template: str, **context: Any) -> str:
    """The page ``template`` (a file in ``cnnlab/report/templates``) filled with ``context``."""
    return environment().get_template(template).render(**context)


def run_label(run: str, root: str | os.PathLike[str]) -> str:
    """A run folder as a table names it: relative to the folder of runs ``root``."""
    try:
        return Path(run).relative_to(root).as_posix() or Path(run).name
    except ValueError:
        return run


def write_page(path: str | os.PathLike[str], html: str) -> Path:
    """Write ``html`` to ``path`` atomically (a reader never sees half a page), creating its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = html.encode("utf-8")
    return atomic_write(path, lambda f: f.write(data))


# -- figures as data: URLs, so a page carries them inline ---------------------------------------
def _uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _figure_bytes(fig: Any, fmt: str, dpi: int = 100) -> bytes:
    # viz loads with the first figure, not with this module: ``import cnnlab`` imports the
    # notebook renderers (and so this module), and a table needs neither viz nor the engine
    # its training figures build on.
    from ..viz import figure_bytes

    return figure_bytes(fig, fmt, dpi=dpi)


def svg_uri(fig: Any) -> str:
    """A matplotlib figure as an inline SVG image (text stays text: small and sharp)."""
    return _uri("image/svg+xml", _figure_bytes(fig, "svg"))


def png_uri(fig: Any, dpi: int = 80) -> str:
    """A matplotlib figure as an inline PNG image (for images and large grids, where SVG is bigger)."""
    return _uri("image/png", png_bytes(fig, dpi))


def png_bytes(fig: Any, dpi: int = 80) -> bytes:
    """A matplotlib figure as the bytes of a PNG file (closed afterwards)."""
    return _figure_bytes(fig, "png", dpi)


def data_uri(mime: str, data: bytes) -> str:
    """``data`` inline, as a ``data:`` URL of type ``mime``."""
    return _uri(mime, data)


def pixels_uri(pixels: Any) -> str:
    """One image (a ``C x H x W`` tensor in ``[0, 1]``, C 1 or 3) as an inline PNG, at its own size."""
    from PIL import Image

    array = (pixels.detach().float().clamp(0, 1) * 255).round().byte()
    array = array[0].numpy() if array.shape[0] == 1 else array.permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", optimize=True)
    return _uri("image/png", buffer.getvalue())
