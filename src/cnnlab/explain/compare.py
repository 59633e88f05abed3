"""Several attribution methods on the same images, side by side, each with the numbers that
say how faithful its map is: deletion and insertion areas, ROAD, and the sanity checks'
model-randomisation and class-sensitivity scores (``cnnlab explain compare``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from .access import Preprocess, as_batch, model_device, prepared, resolve_targets
from .faithfulness import Curves, RoadResult, deletion_insertion, road
from .methods import METHODS, explain, method
from .result import Explanation
from .sanity import SanityResult, class_sensitivity, model_randomisation, pixel_map


@dataclass
class MethodScores:
    """One method's map and numbers on the compared images."""

    method: str
    explanation: Explanation
    seconds: float
    curves: Curves
    road: RoadResult | None = None
    randomisation: SanityResult | None = None
    sensitivity: SanityResult | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "seconds": self.seconds,
            "deletion_auc": self.curves.deletion_auc,
            "insertion_auc": self.curves.insertion_auc,
            "curves": self.curves.to_dict(),
            "road": self.road.to_dict() if self.road else None,
            "model_randomisation": self.randomisation.to_dict() if self.randomisation else None,
            "class_sensitivity": self.sensitivity.to_dict() if self.sensitivity else None,
            "explanation": self.explanation.manifest(),
        }


@dataclass
class MethodComparison:
    """The compared methods in the order given, on the same images and targets."""

    targets: list[int]
    methods: list[MethodScores] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"targets": self.targets, "methods": [m.to_dict() for m in self.methods]}


ATTRIBUTION_METHODS = tuple(name for name, m in METHODS.items() if m.attribution)


def compare_methods(
    model: nn.Module,
    images: Any,
    methods: Sequence[str],
    target: Any = None,
    *,
    options: dict[str, dict[str, Any]] | None = None,
    steps: int = 50,
    road_fractions: Sequence[float] | None = (0.1, 0.3, 0.5, 0.7, 0.9),
    sanity: bool = True,
    seed: int = 0,
) -> MethodComparison:
    """Run each attribution method of ``methods`` (names of :data:`METHODS`, e.g.
    ``["saliency", "gradcam", "integrated-gradients"]``) on ``images`` for the same targets
    (default: the predicted classes), and score its map: :func:`deletion_insertion` with
    ``steps``, :func:`road` at ``road_fractions`` (None: skipped), and with ``sanity`` the
    cascading model-randomisation and the class-sensitivity checks of
    :mod:`cnnlab.explain.sanity`. ``options`` maps a method name to its keyword arguments."""
    if not methods:
        raise ConfigError(f"compare needs at least one method; choose from {', '.join(ATTRIBUTION_METHODS)}")
    for name in methods:
        if not method(name).attribution:
            raise ConfigError(
                f"{name} does not make an attribution map to compare; choose from {', '.join(ATTRIBUTION_METHODS)}"
            )
    pre = Preprocess.of(model)
    x = as_batch(images, pre)
    with prepared(model), torch.no_grad():
        targets = resolve_targets(target, model(pre.normalize(x.to(model_device(model)))), pre).cpu()
    result = MethodComparison(targets.tolist())
    for name in methods:
        opts = dict((options or {}).get(name, {}))

        def run(m: nn.Module, imgs: Any, t: Any, name: str = name, opts: dict[str, Any] = opts) -> Explanation:
            return explain(name, m, imgs, target=t, **opts)

        run.__name__ = name
        start = time.perf_counter()
        exp = run(model, x, targets)
        seconds = time.perf_counter() - start
        # Occlusion's map is p(class): its important pixels are the low ones.
        ranked: Explanation | torch.Tensor = -pixel_map(exp, x.shape[-2:]) if method(name).low_is_important else exp
        scores = MethodScores(name, exp, seconds, deletion_insertion(model, x, ranked, targets, steps=steps))
        if road_fractions:
            scores.road = road(model, x, ranked, targets, fractions=road_fractions, seed=seed)
        if sanity:
            scores.randomisation = model_randomisation(run, model, x, targets, seed=seed)
            scores.sensitivity = class_sensitivity(run, model, x)
        result.methods.append(scores)
    return result
