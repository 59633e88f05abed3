"""What a training command resolves to before it trains: the recipe (:func:`resolve_recipe`),
what it means on this machine (:func:`dry_run`), and what a resumed run may change
(:func:`resume_overrides`). The CLI parses flags into these calls and renders their results;
the decisions live here, where the library's users reach them too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..data import dataset_info, split_subset
from ..errors import ConfigError
from ..models import create_model
from .recipes import Recipe, apply_overrides, dump_recipe, load_recipe, parse_override, recipes_for, validate_recipe
from .run import default_recipe, resolve_auto, resolve_device

DEFAULT_MODEL = "lenet5"
DEFAULT_DATASET = "digits"  # scikit-learn's bundled digits: no download


def _typed_items(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """The settings that were given (None means 'not given')."""
    return {k: v for k, v in (settings or {}).items() if v is not None}


def resolve_recipe(
    model: str | None = None,
    dataset: str | None = None,
    recipe: str | Recipe | None = None,
    settings: Mapping[str, Any] | None = None,
    sets: Iterable[str] = (),
) -> Recipe:
    """The recipe a new run trains with.

    ``recipe`` (a packaged name, a YAML file or a :class:`Recipe`) is taken as written, with
    ``model`` and ``dataset`` replacing its own where given. Without one, the model's packaged
    recipe for ``dataset`` is chosen (a class subset such as ``mnist[0-4]`` uses ``mnist``'s),
    else :func:`~cnnlab.engine.run.default_recipe`; the model defaults to LeNet-5 and the
    dataset to scikit-learn's digits. ``settings`` maps dotted keys to typed values
    (``{"optimizer.lr": 0.01}``; None values are skipped); ``sets`` are ``KEY=VALUE`` strings
    (the CLI's ``--set``), applied last. A run renamed by nothing but its dataset is named
    after what it trains on: lenet5-mnist on ``mnist[0-4]`` runs as ``lenet5-mnist[0-4]``.
    """
    changes: dict[str, Any] = {}
    if recipe is not None:
        base = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
        if model and model != base.model.name:
            changes["model.name"] = model
        if dataset and dataset != base.dataset.name:
            changes["dataset.name"] = dataset
    else:
        model = model or DEFAULT_MODEL
        dataset = dataset or (DEFAULT_DATASET if not recipes_for(model) else None)
        names = recipes_for(model, split_subset(dataset)[0] if dataset else None)
        base = load_recipe(names[0]) if names else default_recipe(model, dataset or DEFAULT_DATASET)
        if dataset and base.dataset.name != dataset:
            changes["dataset.name"] = dataset
    changes.update(_typed_items(settings))
    changes.update(parse_override(s) for s in sets)
    resolved = apply_overrides(base, changes)
    if resolved.dataset.name != base.dataset.name and resolved.name == base.name:
        stem = base.name.removesuffix(base.dataset.name).rstrip("-") or base.name
        resolved = replace(resolved, name=f"{stem}-{resolved.dataset.name}")
    return resolved


# What a resumed run may change, and the flags that would change what it resumes from.
RESUMABLE = ("epochs", "val_every", "dataset.data_dir", "amp", "channels_last")


def resume_overrides(
    run_dir: str,
    settings: Mapping[str, Any] | None = None,
    sets: Iterable[str] = (),
    refused: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The overrides a resumed run takes: ``settings`` limited to :data:`RESUMABLE` keys and
    ``--set`` strings. ``refused`` maps flags that would change what the run resumes from
    (``{"--batch-size": 128}``) to their values: any given one is an error naming the way out."""
    given = [flag for flag, value in (refused or {}).items() if value is not None]
    if given:
        raise ConfigError(
            f"--resume continues {run_dir} with its own recipe; {', '.join(given)} would change what it "
            "resumed from: start a new run instead, or change a setting with --set KEY=VALUE"
        )
    typed = _typed_items(settings)
    other = sorted(set(typed) - set(RESUMABLE))
    if other:
        raise ConfigError(f"a resumed run may change only {', '.join(RESUMABLE)}; got {', '.join(other)}")
    return {**typed, **dict(parse_override(s) for s in sets)}


@dataclass(frozen=True)
class DryRun:
    """What a recipe resolves to on this machine, without training."""

    recipe: Recipe
    recipe_yaml: str
    device: str
    channels_last: bool
    amp: bool
    params: int
    num_classes: int | None
    dataset: str
    sizes: str

    def summary(self) -> str:
        r = self.recipe
        return (
            f"# on this machine: device {self.device}, channels_last {r.channels_last} -> {self.channels_last}, "
            f"amp {r.amp} -> {self.amp}; {r.model.name} with {self.params:,} parameters for "
            f"{self.num_classes or '?'} classes; {self.dataset}: {self.sizes}; nothing was trained (--dry-run)"
        )


def dry_run(recipe: Recipe, device: str | None = None) -> DryRun:
    """Resolve ``recipe`` on this machine as a run would (device, the ``auto`` fast paths, the
    model for the dataset's classes and channels) and return it, training nothing."""
    validate_recipe(recipe)
    info = dataset_info(recipe.dataset.name)
    dev = resolve_device(device or recipe.device)
    channels = info.image_size[0] if info.image_size else 3  # as the run builds it
    model = create_model(
        recipe.model.name, num_classes=info.num_classes or None, in_chans=channels, **recipe.model.options
    )
    channels_last, amp = resolve_auto(recipe.channels_last, recipe.amp, dev, model)
    sizes = (
        ", ".join(f"{split} {n:,}" for split, n in info.num_samples) + " images"
        if info.num_samples
        else ("some classes of the full set" if info.class_subset else "images read from disk")
    )
    return DryRun(
        recipe=recipe,
        recipe_yaml=dump_recipe(recipe),
        device=str(dev),
        channels_last=channels_last,
        amp=amp,
        params=sum(p.numel() for p in model.parameters()),
        num_classes=info.num_classes,
        dataset=info.name,
        sizes=sizes,
    )
