"""Rich display in Jupyter without an upward import: a table of renderers, keyed by kind.

The classes that cnnlab returns live low in the layers (``ModelCard`` in the registry,
``Analysis`` in analysis, ``Explanation`` in explain, ...), and their HTML comes from the
templates of ``cnnlab report``, the layer near the top. So a class names its *kind*
(``"analysis"``) and asks this table for the renderer; :mod:`cnnlab.report.notebook`
registers one renderer per kind, and ``import cnnlab`` imports it, so the table is full
whenever any part of cnnlab is loaded. Nothing here imports the rest of cnnlab.

A renderer takes the object and returns its MIME bundle: ``{"text/html": str}``, with
``"image/png": bytes`` where the result is a picture. IPython asks ``_repr_mimebundle_``
first and then skips the other ``_repr_*_`` methods for the types the bundle holds, so a
figure is drawn once per display; ``repr()`` stays the class's own short text.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, ClassVar

Renderer = Callable[[Any], dict[str, Any]]

_RENDERERS: dict[str, Renderer] = {}


def register(kind: str, renderer: Renderer) -> None:
    """Make ``renderer`` draw every object of ``kind`` (a later registration replaces an
    earlier one: a user may restyle a kind)."""
    _RENDERERS[kind] = renderer


def registered() -> tuple[str, ...]:
    """The kinds that have a renderer."""
    return tuple(_RENDERERS)


def mimebundle(
    kind: str, obj: Any, include: Collection[str] | None = None, exclude: Collection[str] | None = None
) -> dict[str, Any]:
    """``obj``'s MIME bundle from the renderer of ``kind``, filtered by IPython's
    ``include`` and ``exclude``; empty when no renderer is registered (the text repr shows)."""
    renderer = _RENDERERS.get(kind)
    if renderer is None:
        return {}
    bundle = renderer(obj)
    return {
        mime: data
        for mime, data in bundle.items()
        if (include is None or mime in include) and (exclude is None or mime not in exclude)
    }


class RichDisplay:
    """Mixin: ``_repr_html_`` and ``_repr_mimebundle_`` through the renderer of the class's
    ``display_kind``. Adds no fields, so it mixes into frozen dataclasses and lists alike."""

    display_kind: ClassVar[str] = ""

    def _repr_mimebundle_(
        self, include: Collection[str] | None = None, exclude: Collection[str] | None = None
    ) -> dict[str, Any] | None:
        return mimebundle(self.display_kind, self, include, exclude) or None

    def _repr_html_(self) -> str | None:
        return mimebundle(self.display_kind, self, include=("text/html",)).get("text/html")
