"""The one return type of every explanation method: data, never a figure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..display import RichDisplay, mimebundle


@dataclass(repr=False)
class Explanation(RichDisplay):
    """What a method computed, at its raw scale, with everything needed to redo it.

    ``maps`` holds one result per image (``N x ...``: an ``N x H x W`` saliency map, an
    ``N x C x H x W`` image for synthesis and attacks, ``N x h x w`` occlusion
    probabilities); ``units`` says what its values are (``"|d score / d pixel|"``,
    ``"probability"``, ``"pixel [0, 1]"``). ``target`` holds the class (or channel) each
    map explains, ``logits`` the model's logits for the input, ``layer`` the layer used,
    ``params`` every setting (JSON-able), ``seed`` the seed of a stochastic method, and
    ``extras`` method-specific results (occlusion's most-probable-class map, an attack's
    success and iterations, ...). ``images`` are the inputs the methods that read images
    were given (pixels in ``[0, 1]``, ``N x C x H x W``, on the CPU), so the maps can be
    drawn over them; ``None`` for methods without input images (filters, synthesis).

    In Jupyter an explanation displays as ``cnnlab.viz`` draws it (the maps over their
    images, colour bars in ``units``) beside its facts; ``_repr_png_`` is the figure alone.
    """

    display_kind = "explanation"

    method: str
    maps: torch.Tensor
    units: str
    target: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    layer: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    images: torch.Tensor | None = field(default=None, compare=False)

    def __len__(self) -> int:
        return int(self.maps.shape[0])

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.maps.shape))
        parts = [f"{self.method}: maps {shape} in {self.units}"]
        if self.layer:
            parts.append(f"layer {self.layer}")
        if self.target is not None:
            targets = self.target.tolist()
            parts.append(f"targets {targets[:8]}{' ...' if len(targets) > 8 else ''}")
        return f"<Explanation {', '.join(parts)}>"

    def _repr_png_(self) -> bytes | None:
        return mimebundle(self.display_kind, self, include=("image/png",)).get("image/png")

    def manifest(self) -> dict[str, Any]:
        """Plain, JSON-able facts: the method, its settings and per-image scalars (tensors
        are summarised by shape; small ones are listed)."""
        return {
            "method": self.method,
            "units": self.units,
            "layer": self.layer,
            "params": _plain(self.params),
            "seed": self.seed,
            "target": None if self.target is None else self.target.tolist(),
            "maps_shape": list(self.maps.shape),
            "maps_range": [float(self.maps.min()), float(self.maps.max())] if self.maps.numel() else None,
            "extras": _plain(self.extras),
        }


def _plain(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        if value.numel() <= 64:
            return value.tolist()
        return {"tensor_shape": list(value.shape), "dtype": str(value.dtype).removeprefix("torch.")}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)
