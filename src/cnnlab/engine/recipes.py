"""Recipes: typed, cited training settings, one YAML file per experiment.

    >>> from cnnlab.engine.recipes import load_recipe, apply_overrides, list_recipes
    >>> recipe = load_recipe("resnet-cifar10")           # or a path to a .yaml file
    >>> recipe.optimizer.lr, recipe.source[0]
    (0.1, 'He, Zhang, Ren & Sun (2015), Deep Residual Learning ..., Sec. 4.2 ...')
    >>> recipe = apply_overrides(recipe, ["optimizer.lr=0.05", "epochs=10"])

A recipe file is read with ``yaml.safe_load`` only, and every value is checked against the
dataclass field types below before anything is built: an unknown key fails with the list of
valid keys, an ill-typed value fails naming the key, the value and the type it needs.
``--set key=value`` overrides go through the same reader (values are YAML scalars or flow
collections: ``schedule.milestones=[30,60]``, ``model.options={stage4: false}``).

Packaged recipes live in ``cnnlab/recipes/*.yaml``. Each cites its ``source`` (paper section
or course chapter) and lists under ``assumptions`` every setting the source does not give.
"""

from __future__ import annotations

import copy
import difflib
import importlib.resources
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

import torch
import yaml
from torch import nn

from ..data import dataset_info, list_datasets, split_subset
from ..errors import ConfigError
from ..registry import list_models, model_options
from .schedules import ScheduleSpec, check_schedule_spec
from .typed import _convert_item, _hints, _type_name, _unknown_key, from_mapping

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
EVAL_CROPS = (1, 10, 144)


@dataclass
class ModelSpec:
    """The network: a registered name and builder options (``cnnlab.model_options(name)``).
    ``num_classes`` and ``in_chans`` come from the dataset unless given here."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class AugmentSpec:
    """Training-time augmentation (test images are never augmented). The first seven fields
    are :class:`cnnlab.data.Augment`'s, applied to whole batches on the training device:

    - ``crop_padding``: pad each side by this many zero pixels, crop back at random
      (He et al. 2015 Sec. 4.2: 4).
    - ``hflip``: flip left-right with probability 0.5.
    - ``shift``: translate by up to this many whole pixels on each axis (Keras'
      ``width/height_shift_range``, which the course gives as a fraction: 0.1 of 32 is 3).
    - ``rotation`` (degrees), ``zoom`` (fraction), ``shear`` (degrees): one random affine map
      per image, Keras' ``rotation_range``, ``zoom_range``, ``shear_range``.
    - ``fill``: what fills the border a shift or an affine map uncovers: ``"nearest"``
      (Keras' default ``fill_mode``) or ``"zero"``.

    The last three are for folder datasets (ImageNet's layout), where images are decoded
    and cropped per image: ``random_crop``: train on random ``image_size`` crops of the
    image resized to ``dataset.resize_shorter`` (AlexNet's 224 of 256) instead of its centre;
    ``scale``: random-resized crops over this range of image area, aspect ratio 3/4 to 4/3
    (Szegedy et al. 2014 Sec. 6: [0.08, 1.0]); ``pca_lighting``: AlexNet's PCA colour
    noise, the std of the eigenvalue weights (Krizhevsky et al. 2012 Sec. 4.1: 0.1).
    """

    crop_padding: int = 0
    hflip: bool = False
    shift: int = 0
    rotation: float = 0.0
    zoom: float = 0.0
    shear: float = 0.0
    fill: Literal["nearest", "zero"] = "nearest"
    random_crop: bool = False
    scale: tuple[float, float] | None = None
    pca_lighting: float = 0.0


@dataclass
class DatasetSpec:
    """The data (``cnnlab.data``):

    - ``name``: a dataset name (``cnnlab.data.list_datasets()``), optionally with a class
      selection: ``mnist[5-9]``, ``cifar10[0,1,8,9]`` (relabelled 0, 1, ... in that order).
    - ``image_size``: the side length the model sees (None: the dataset's own). In-memory
      sets are resized to it once, by ``resize_mode``: ``"bilinear"`` or ``"pad"`` (centred
      in a field of zeros, as LeCun et al. 1998 Sec. III.A put 28x28 MNIST digits in 32x32).
      Folder sets crop it from the image resized to ``resize_shorter``.
    - ``resize_shorter``: folder sets: the shorter side images are resized to before
      cropping (AlexNet, 2012 Sec. 2: 256).
    - ``val_split``: the fraction of the training split held out for validation, per class
      (stratified) and drawn with the recipe's seed, when the recipe's ``validate_on`` is
      ``"holdout"`` (the default); not used with ``validate_on: test``.
    - ``normalise``: ``"model"``: the model card's mean and std; ``"dataset"``: the training
      split's per-channel statistics; ``"none"``: pixels in [0, 1].
    - ``augment``: training-time augmentation; ``data_dir``: where the files are (None:
      cnnlab's search path).
    - ``train_size``: train on this many training images only, drawn at random with the
      recipe's seed (:func:`cnnlab.engine.run.train_subset`), for little-data experiments;
      in-memory sets only.
    """

    name: str
    image_size: int | None = None
    resize_mode: Literal["bilinear", "pad"] = "bilinear"
    resize_shorter: int | None = None
    val_split: float = 0.1
    normalise: Literal["model", "dataset", "none"] = "model"
    augment: AugmentSpec = field(default_factory=AugmentSpec)
    data_dir: str | None = None
    train_size: int | None = None


@dataclass
class OptimizerSpec:
    """The optimizer. ``weight_decay_on`` says which parameters decay: ``"all"`` (PyTorch's
    default, and Caffe's/cuda-convnet's ``decay_mult`` defaults) or ``"weights"`` (conv and
    linear kernels, the parameters with two or more dimensions: not biases, not
    normalisation scales and shifts; Keras' ``kernel_regularizer`` in the course).
    ``weight_decay`` is PyTorch's coupled L2 term (``grad += wd * w``): Keras' ``l2(r)`` is
    ``weight_decay = 2 r``. ``alpha`` is RMSprop's smoothing constant (TensorFlow's "decay")."""

    name: Literal["sgd", "adam", "adamw", "rmsprop"] = "sgd"
    lr: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    weight_decay_on: Literal["all", "weights"] = "all"
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    alpha: float = 0.99


@dataclass
class LossSpec:
    """Cross-entropy; ``label_smoothing`` as in Szegedy et al. 2015 (Inception-v3) Sec. 7."""

    label_smoothing: float = 0.0


@dataclass
class TransferSpec:
    """Fine-tuning from pretrained weights (:mod:`cnnlab.transfer.finetune`).

    - ``init``: where the starting weights come from: a cnnlab run directory or checkpoint
      (then ``model`` must be the run's), ``"torchvision"`` (ImageNet weights) or a weights
      file for ``model``.
    - ``freeze_until``: a module name; it and every layer the forward pass runs before it
      stay frozen. ``trainable_stages``: train the top N blocks below the classifier (the
      model's ``feature_info`` stages, then the head's hidden layers); 0 trains the new
      classifier only. Neither given: every layer trains.
    - ``head_epochs``: the first N epochs train the new classifier alone, the body frozen.
    - ``lr_head``: the new classifier's learning rate (None: ``optimizer.lr``);
      ``lr_body``: the unfrozen pretrained layers' (None: ``optimizer.lr / 10``). The
      schedule scales both alike.
    - ``mean``, ``std``: the weights' preprocessing (pixel / 255 units, one value per input
      channel of the model); None: filled in from the weights when the run starts. They
      replace ``dataset.normalise``, which must stay ``"model"``.

    The new classifier always trains; frozen BatchNorm layers stay in eval mode (their
    running statistics do not move).
    """

    init: str
    freeze_until: str | None = None
    trainable_stages: int | None = None
    head_epochs: int = 1
    lr_head: float | None = None
    lr_body: float | None = None
    mean: list[float] | None = None
    std: list[float] | None = None


def _szegedy_scales() -> list[int]:
    return [256, 288, 320, 352]


@dataclass
class EvalSpec:
    """Test-time evaluation: 1, 10 or 144 crops (``cnnlab.engine.evaluate``); ``scales`` are
    the shorter sides for 144 crops (Szegedy et al. 2014 Sec. 7)."""

    crops: Literal[1, 10, 144] = 1
    scales: list[int] = field(default_factory=_szegedy_scales)


@dataclass
class Recipe:
    """Everything one training run needs, with its sources.

    ``aux_weights``: loss weights of the auxiliary classifiers (``forward_aux``); None uses
    the model's own ``aux_weights`` (GoogLeNet: 0.3 each). ``grad_clip_norm``: clip the
    gradient norm to this (None: no clipping). ``checkpoint_every``: epochs between
    numbered checkpoints (0: only last and best). ``val_every``: validate after every N-th
    epoch and the last (1: every epoch; Keras' ``validation_freq``); the best checkpoint,
    early stopping and plateau schedules then count validated epochs. ``device``: ``"auto"`` picks CUDA, then
    MPS, then CPU. ``amp`` and ``channels_last``: ``"auto"`` (the default) takes the fast
    setting measured for the device (:func:`cnnlab.engine.run.fast_defaults`); true or
    false forces it. ``transfer``: start from pretrained weights and fine-tune
    (:class:`TransferSpec`); None trains from scratch. ``source``: where each setting comes from;
    ``assumptions``: the settings no source gives; ``reported``: what the source reports reaching.
    ``validate_on``: ``"holdout"`` (the default) validates, selects ``best.pt`` and stops early
    on ``dataset.val_split`` of the training images, so the test split is seen once, at the
    end; ``"test"`` validates on the test split, as many sources did: every report of such a
    run says its checkpoint was chosen on the test images.
    """

    name: str
    model: ModelSpec
    dataset: DatasetSpec
    epochs: int
    batch_size: int
    optimizer: OptimizerSpec = field(default_factory=OptimizerSpec)
    schedule: ScheduleSpec = field(default_factory=ScheduleSpec)
    loss: LossSpec = field(default_factory=LossSpec)
    aux_weights: list[float] | None = None
    grad_clip_norm: float | None = None
    checkpoint_every: int = 5
    val_every: int = 1
    eval: EvalSpec = field(default_factory=EvalSpec)
    seed: int = 0
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    amp: bool | Literal["auto"] = "auto"
    channels_last: bool | Literal["auto"] = "auto"
    transfer: TransferSpec | None = None
    description: str = ""
    source: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    reported: str | None = None
    validate_on: Literal["holdout", "test"] = "holdout"


# ---------------------------------------------------------------------------------------
# Reading typed data


def recipe_from_dict(data: Mapping[str, Any], *, name: str | None = None) -> Recipe:
    """A validated :class:`Recipe` from plain data (a parsed YAML document)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"a recipe is a mapping of keys (name, model, dataset, ...), got {type(data).__name__}")
    data = dict(data)
    if name is not None and "name" not in data:
        data["name"] = name
    recipe = from_mapping(Recipe, data)
    validate_recipe(recipe)
    return recipe


def recipe_to_dict(recipe: Recipe) -> dict[str, Any]:
    """Plain data (lists, dicts, numbers, strings) for YAML or JSON."""

    def plain(x: Any) -> Any:
        if is_dataclass(x) and not isinstance(x, type):
            return {f.name: plain(getattr(x, f.name)) for f in fields(x)}
        if isinstance(x, (list, tuple)):
            return [plain(v) for v in x]
        if isinstance(x, Mapping):
            return {k: plain(v) for k, v in x.items()}
        return x

    return plain(recipe)


def dump_recipe(recipe: Recipe) -> str:
    """The recipe as YAML text that :func:`load_recipe` reads back to an equal recipe."""
    return yaml.safe_dump(recipe_to_dict(recipe), sort_keys=False, allow_unicode=True, width=100)


# ---------------------------------------------------------------------------------------
# Packaged recipes


def _recipes_dir() -> Traversable:
    return importlib.resources.files("cnnlab").joinpath("recipes")


def list_recipes() -> list[str]:
    """Names of the packaged recipes (``cnnlab/recipes/*.yaml``)."""
    folder = _recipes_dir()
    if not folder.is_dir():
        return []
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_recipe(name_or_path: str | Path) -> Recipe:
    """A packaged recipe by name (``"lenet5-digits"``) or a YAML file by path."""
    text, name, where = _read_recipe_text(name_or_path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where} is not valid YAML: {exc}") from None
    try:
        return recipe_from_dict(data, name=name)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _read_recipe_text(name_or_path: str | Path) -> tuple[str, str, str]:
    path = Path(name_or_path)
    looks_like_path = isinstance(name_or_path, Path) or path.suffix in (".yaml", ".yml") or len(path.parts) > 1
    if path.is_file():
        return path.read_text(encoding="utf-8"), path.stem, str(path)
    if looks_like_path:
        raise ConfigError(
            f"recipe file {str(name_or_path)!r} does not exist; give a YAML path or one of: {', '.join(list_recipes())}"
        )
    name = str(name_or_path)
    resource = _recipes_dir().joinpath(f"{name}.yaml")
    if not resource.is_file():
        known = list_recipes()
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(
            f"no recipe named {name!r}.{hint} Packaged recipes: {', '.join(known)}; or give a path to a .yaml file"
        )
    return resource.read_text(encoding="utf-8"), name, f"recipe {name!r}"


def recipes_for(model: str | None = None, dataset: str | None = None) -> list[str]:
    """Packaged recipe names for a model and/or dataset name (``recipes_for("lenet5")``)."""
    out = []
    for name in list_recipes():
        r = load_recipe(name)
        if (model is None or r.model.name == model) and (dataset is None or r.dataset.name == dataset):
            out.append(name)
    return out


# ---------------------------------------------------------------------------------------
# Overrides


def parse_override(text: str) -> tuple[str, Any]:
    """``"optimizer.lr=0.01"`` -> ``("optimizer.lr", 0.01)``; the value is read as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not key=value; e.g. --set optimizer.lr=0.01")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override {text!r} has no key before '='; e.g. --set epochs=5")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw  # a plain string with YAML-looking characters
    return key, value


def apply_overrides(recipe: Recipe, overrides: Iterable[str] | Mapping[str, Any]) -> Recipe:
    """A new recipe with dotted-key overrides applied and the result validated.

    ``overrides`` are ``"key=value"`` strings (the CLI's ``--set``) or a mapping of dotted
    keys to values. Keys reach into nested settings (``optimizer.lr``,
    ``dataset.augment.hflip``) and into mappings (``model.options.stage4``,
    ``schedule.table.25``). A dataclass-valued key given a mapping is replaced as a whole
    from defaults (``schedule={name: cosine}``).
    """
    items = list(overrides.items()) if isinstance(overrides, Mapping) else [parse_override(o) for o in overrides]
    new = copy.deepcopy(recipe)
    for key, value in items:
        _set_path(new, key, value)
    validate_recipe(new)
    return new


def _set_path(root: Any, key: str, value: Any) -> None:
    parts = key.split(".")
    obj: Any = root
    prefix = ""
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        here = f"{prefix}.{part}" if prefix else part
        if is_dataclass(obj):
            cls = type(obj)
            if part not in {f.name for f in fields(cls)}:
                raise _unknown_key(part, cls, prefix)
            tp = _hints(cls)[part]
            if last:
                if is_dataclass(tp) and isinstance(value, Mapping):
                    setattr(obj, part, from_mapping(tp, value, here))
                else:
                    setattr(obj, part, _convert_item(value, tp, here))
                return
            child = getattr(obj, part)
            if child is None or not (is_dataclass(child) or isinstance(child, dict)):
                raise ConfigError(
                    f"{here} is {_type_name(tp)}, not a group of settings, so {key!r} does not exist; set {here}=VALUE"
                )
            obj, prefix = child, here
            obj_type = tp
        elif isinstance(obj, dict):
            kt, vt = typing.get_args(obj_type) or (str, Any)
            k = _convert_item(part, kt, f"{prefix} key")
            if last:
                obj[k] = _convert_item(value, vt, here)
                return
            child = obj.get(k)
            if not isinstance(child, dict):
                child = {}
                obj[k] = child
            obj, prefix, obj_type = child, here, dict[str, Any]
        else:  # pragma: no cover - guarded above
            raise ConfigError(f"cannot set {key!r}")


# ---------------------------------------------------------------------------------------
# Validation


def validate_recipe(recipe: Recipe) -> None:
    """Raise :class:`ConfigError` for settings that cannot run, before any training:
    unknown model or dataset, model options the builder does not take, out-of-range
    numbers, a schedule that does not fit."""

    models = list_models()
    name = recipe.model.name
    if name not in models:
        close = difflib.get_close_matches(name, models, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"model.name={name!r} is not a registered model{hint}; `cnnlab list` shows them all")
    opts = model_options(name)
    allowed = set(opts) | {"num_classes", "in_chans"}
    unknown = sorted(set(recipe.model.options) - allowed)
    if unknown:
        raise ConfigError(
            f"model.options has {', '.join(repr(u) for u in unknown)}, which {name} does not take; "
            f"its options are: {', '.join(sorted(opts)) or 'none'}"
        )
    datasets = list_datasets()
    base = split_subset(recipe.dataset.name)[0]
    if base not in datasets:
        close = difflib.get_close_matches(base, datasets, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(
            f"dataset.name={recipe.dataset.name!r} is not a known dataset{hint}; known: {', '.join(datasets)}"
        )
    dataset_info(recipe.dataset.name)  # a class selection that does not parse says why

    def need(ok: bool, msg: str) -> None:
        if not ok:
            raise ConfigError(msg)

    need(recipe.epochs >= 1, f"epochs={recipe.epochs!r} must be at least 1")
    need(recipe.batch_size >= 1, f"batch_size={recipe.batch_size!r} must be at least 1")
    need(
        recipe.checkpoint_every >= 0,
        f"checkpoint_every={recipe.checkpoint_every!r} must be >= 0 (0: only last and best)",
    )
    need(recipe.val_every >= 1, f"val_every={recipe.val_every!r} must be at least 1 (1: validate after every epoch)")
    d = recipe.dataset
    need(
        d.image_size is None or d.image_size >= 1, f"dataset.image_size={d.image_size!r} must be a positive side length"
    )
    need(
        d.resize_shorter is None or d.resize_shorter >= 1,
        f"dataset.resize_shorter={d.resize_shorter!r} must be a positive side length",
    )
    need(
        d.resize_shorter is None or d.image_size is None or d.resize_shorter >= d.image_size,
        f"dataset.resize_shorter={d.resize_shorter!r} is smaller than dataset.image_size={d.image_size!r}; "
        f"crops are taken from the resized image",
    )
    need(
        0 <= d.val_split < 1,
        f"dataset.val_split={d.val_split!r} must be in [0, 1), e.g. 0.1 for He et al.'s 45k/5k split",
    )
    need(
        recipe.validate_on == "test" or d.val_split > 0,
        f"dataset.val_split={d.val_split!r} holds out no validation images, but validate_on is 'holdout'; "
        "give a fraction (dataset.val_split=0.1), or validate_on=test to validate on the test split as the "
        "sources did (the run then says so in every report)",
    )
    need(
        d.train_size is None or d.train_size >= 1,
        f"dataset.train_size={d.train_size!r} must be a positive number of images, or null for the whole split",
    )
    a = d.augment
    need(a.crop_padding >= 0, f"dataset.augment.crop_padding={a.crop_padding!r} must be >= 0")
    need(a.shift >= 0, f"dataset.augment.shift={a.shift!r} must be >= 0 pixels (Keras' 0.1 of a 32-pixel image is 3)")
    need(0 <= a.zoom < 1, f"dataset.augment.zoom={a.zoom!r} must be in [0, 1)")
    need(0 <= a.rotation <= 180, f"dataset.augment.rotation={a.rotation!r} must be degrees from 0 to 180")
    need(0 <= a.shear < 90, f"dataset.augment.shear={a.shear!r} must be degrees from 0 to below 90")
    need(a.pca_lighting >= 0, f"dataset.augment.pca_lighting={a.pca_lighting!r} must be >= 0")
    if a.scale is not None:
        lo, hi = a.scale
        need(
            0 < lo <= hi <= 1, f"dataset.augment.scale={list(a.scale)!r} must be [low, high] with 0 < low <= high <= 1"
        )
    o = recipe.optimizer
    need(o.lr > 0, f"optimizer.lr={o.lr!r} must be positive")
    need(0 <= o.momentum < 1, f"optimizer.momentum={o.momentum!r} must be in [0, 1)")
    need(o.weight_decay >= 0, f"optimizer.weight_decay={o.weight_decay!r} must be >= 0")
    if o.nesterov:
        need(
            o.name == "sgd" and o.momentum > 0,
            f"optimizer.nesterov=true needs optimizer.name=sgd and momentum > 0 (got {o.name}, momentum {o.momentum})",
        )
    need(all(0 <= b < 1 for b in o.betas), f"optimizer.betas={list(o.betas)!r} must both be in [0, 1)")
    need(o.eps > 0, f"optimizer.eps={o.eps!r} must be positive")
    need(0 < o.alpha < 1, f"optimizer.alpha={o.alpha!r} must be in (0, 1)")
    need(
        0 <= recipe.loss.label_smoothing < 1, f"loss.label_smoothing={recipe.loss.label_smoothing!r} must be in [0, 1)"
    )
    if recipe.aux_weights is not None:
        need(all(w >= 0 for w in recipe.aux_weights), f"aux_weights={recipe.aux_weights!r} must be >= 0")
    need(
        recipe.grad_clip_norm is None or recipe.grad_clip_norm > 0,
        f"grad_clip_norm={recipe.grad_clip_norm!r} must be positive, or null for no clipping",
    )
    need(
        all(s >= 1 for s in recipe.eval.scales) and bool(recipe.eval.scales),
        f"eval.scales={recipe.eval.scales!r} must be positive side lengths",
    )
    if recipe.transfer is not None:
        _validate_transfer(recipe.transfer, recipe)
    check_schedule_spec(recipe.schedule, epochs=recipe.epochs)
    s = recipe.schedule
    if s.name == "epochs":
        first = s.table[min(s.table)]
        need(
            abs(first - o.lr) <= 1e-12 * max(first, o.lr),
            f"optimizer.lr={o.lr!r} but schedule.table starts at {first!r}: the table gives the learning rate "
            f"of every epoch, so set schedule.table.0={o.lr!r} too (or leave optimizer.lr at {first!r})",
        )


def _validate_transfer(t: TransferSpec, recipe: Recipe) -> None:
    problems = [
        (bool(t.init), "transfer.init is empty; give a cnnlab run directory, 'torchvision' or a weights file"),
        (
            t.freeze_until is None or t.trainable_stages is None,
            f"transfer.freeze_until={t.freeze_until!r} and transfer.trainable_stages={t.trainable_stages!r} "
            "both say what trains; give one of them",
        ),
        (
            t.trainable_stages is None or t.trainable_stages >= 0,
            f"transfer.trainable_stages={t.trainable_stages!r} must be >= 0 (0: the new classifier only)",
        ),
        (
            0 <= t.head_epochs <= recipe.epochs,
            f"transfer.head_epochs={t.head_epochs!r} must be from 0 to epochs ({recipe.epochs})",
        ),
        (
            t.lr_head is None or t.lr_head > 0,
            f"transfer.lr_head={t.lr_head!r} must be positive, or null for optimizer.lr",
        ),
        (
            t.lr_body is None or t.lr_body > 0,
            f"transfer.lr_body={t.lr_body!r} must be positive, or null for optimizer.lr / 10",
        ),
        (
            (t.mean is None) == (t.std is None)
            and (t.mean is None or (len(t.mean) == len(t.std) and all(v > 0 for v in t.std))),
            f"transfer.mean={t.mean!r} and transfer.std={t.std!r} must both be null (the weights' own) "
            "or both one value per input channel, std positive",
        ),
        (
            recipe.dataset.normalise == "model",
            f"dataset.normalise={recipe.dataset.normalise!r} with a transfer section: fine-tuning normalises with the "
            "pretrained weights' mean and std (transfer.mean, transfer.std); set dataset.normalise=model",
        ),
    ]
    for ok, message in problems:
        if not ok:
            raise ConfigError(message)


# ---------------------------------------------------------------------------------------
# Optimizers


def weight_decay_groups(
    model: nn.Module | Iterable[nn.Parameter], weight_decay: float, on: str = "all"
) -> list[dict[str, Any]]:
    """Parameter groups for an optimizer, over a model's trainable parameters or the
    given ones. ``on="all"``: one group, every parameter decays.
    ``on="weights"``: parameters with two or more dimensions (conv and linear kernels) decay;
    one-dimensional ones (biases, BatchNorm/LayerNorm scales and shifts, per-map
    coefficients) do not."""
    params = [p for p in model.parameters() if p.requires_grad] if isinstance(model, nn.Module) else list(model)
    if on == "all" or weight_decay == 0:
        return [{"params": params, "weight_decay": weight_decay}]
    if on != "weights":
        raise ConfigError(f"optimizer.weight_decay_on={on!r} must be 'all' or 'weights'")
    decay = [p for p in params if p.ndim >= 2]
    rest = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if rest:
        groups.append({"params": rest, "weight_decay": 0.0})
    return groups


def build_optimizer(
    model: nn.Module,
    recipe: Recipe | OptimizerSpec | Mapping[str, Any],
    *,
    lr_groups: Sequence[tuple[Sequence[nn.Parameter], float]] | None = None,
) -> torch.optim.Optimizer:
    """The optimizer a recipe (or its ``optimizer`` block) describes, over ``model``'s
    trainable parameters, with weight decay on the parameters ``weight_decay_on`` names.
    ``lr_groups``: ``(parameters, learning rate)`` pairs to optimise instead, each with its
    own rate (fine-tuning: a new classifier and pretrained layers, some still frozen)."""
    if isinstance(recipe, Recipe):
        spec = recipe.optimizer
    elif isinstance(recipe, OptimizerSpec):
        spec = recipe
    else:
        spec = from_mapping(OptimizerSpec, recipe, "optimizer")
    if lr_groups is None:
        groups = weight_decay_groups(model, spec.weight_decay, spec.weight_decay_on)
    else:
        groups = [
            {**g, "lr": lr}
            for params, lr in lr_groups
            if params
            for g in weight_decay_groups(params, spec.weight_decay, spec.weight_decay_on)
        ]
    if not any(g["params"] for g in groups):
        raise ConfigError("the model has no trainable parameters; unfreeze some (requires_grad=True) before training")
    # Fused kernels (one launch for every parameter) on CUDA: the same update, faster.
    fused = {"fused": True} if all(p.is_cuda for g in groups for p in g["params"]) else {}
    if spec.name == "sgd":
        return torch.optim.SGD(groups, lr=spec.lr, momentum=spec.momentum, nesterov=spec.nesterov, **fused)
    if spec.name == "adam":
        return torch.optim.Adam(groups, lr=spec.lr, betas=spec.betas, eps=spec.eps, **fused)
    if spec.name == "adamw":
        return torch.optim.AdamW(groups, lr=spec.lr, betas=spec.betas, eps=spec.eps, **fused)
    if spec.name == "rmsprop":
        return torch.optim.RMSprop(groups, lr=spec.lr, alpha=spec.alpha, eps=spec.eps, momentum=spec.momentum)
    raise ConfigError(f"optimizer.name={spec.name!r} is not one of {', '.join(OPTIMIZERS)}")
