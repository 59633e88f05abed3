"""A whole run from a recipe: data, model, optimizer, schedule, callbacks, final test.

``train_recipe`` is what ``cnnlab train`` calls; it only wires the plain pieces together
(``cnnlab.data`` loaders, ``create_model``, ``build_optimizer``, ``build_schedule``,
``fit``, ``evaluate``). ``evaluate_checkpoint`` is what ``cnnlab eval`` calls.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import random
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from ..data import (
    Augment,
    DeviceLoader,
    dataset_info,
    folder_loader,
    image_files,
    load_dataset,
    match_channels,
    open_image,
)
from ..display import RichDisplay
from ..errors import CheckpointError, ConfigError
from ..models import create_model
from ..registry import list_models, model_card
from .callbacks import Callback, Checkpointer, MetricsLogger, ProgressBar, read_jsonl
from .checkpoint import atomic_write, list_checkpoints, load_checkpoint, resume_state, unreadable_reason
from .distributed import cleanup_distributed, init_distributed, training_module, unwrap, wrap_ddp
from .lock import run_lock
from .loop import evaluate, fit
from .metrics import classification_report, confusion_matrix, topk_accuracy
from .multicrop import predict_crops
from .recipes import (
    Recipe,
    apply_overrides,
    build_optimizer,
    dump_recipe,
    load_recipe,
    recipe_from_dict,
    recipe_to_dict,
    validate_recipe,
)
from .schedules import build_schedule
from .signals import RunInterrupted, StopOnSignal, signal_name, stop_on_signals

PrintFn = Callable[[str], None]


@dataclass
class RunResult:
    """What a finished run leaves: its folder, the per-epoch history and the test results."""

    run_dir: Path
    history: list[dict[str, Any]]
    test: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def resolve_device(name: str | None) -> torch.device:
    """``auto``: CUDA, then Apple's MPS, then the CPU."""
    if name in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but torch sees no CUDA device; use --device cpu")
    return torch.device(name)


def fast_defaults(recipe: Recipe, device: torch.device, model: nn.Module | None = None) -> Recipe:
    """The recipe with ``"auto"`` settings resolved for ``device`` (:func:`resolve_auto`)."""
    channels_last, amp = resolve_auto(recipe.channels_last, recipe.amp, device, model)
    return replace(recipe, channels_last=channels_last, amp=amp)


def resolve_auto(
    channels_last: bool | str, amp: bool | str, device: torch.device | str, model: nn.Module | None = None
) -> tuple[bool, bool]:
    """``"auto"`` channels-last and autocast settings resolved for ``device``, as measured in
    docs/performance.md: channels-last memory for convolutional nets on CPUs and CUDA GPUs
    (MiniVGG and LeNet-5 training on the 2-core CPU: see the table there), bf16 autocast on
    CUDA GPUs that support it, full precision elsewhere. Explicit true/false are kept."""
    device = torch.device(device)
    if channels_last == "auto":
        channels_last = (model is None or any(isinstance(m, nn.Conv2d) for m in model.modules())) and device.type in (
            "cpu",
            "cuda",
        )
    if amp == "auto":
        amp = device.type == "cuda" and torch.cuda.is_bf16_supported()
    for name, value in (("channels_last", channels_last), ("amp", amp)):
        if not isinstance(value, bool):
            raise ConfigError(f"{name}={value!r} must be true, false or 'auto'")
    return channels_last, amp


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _normalisation(
    recipe: Recipe, model_mean: Sequence[float], model_std: Sequence[float], info: Any, channels: int
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    how = recipe.dataset.normalise
    if how == "none":
        return (0.0,) * channels, (1.0,) * channels
    mean, std = (model_mean, model_std) if how == "model" else (info.mean, info.std)
    if len(mean) != channels:  # a 3-channel card on grey images: the mean of its channels
        mean, std = (float(np.mean(mean)),) * channels, (float(np.mean(std)),) * channels
    return tuple(mean), tuple(std)


def folder_options(recipe: Recipe) -> dict[str, Any]:
    """The recipe's augmentation for a folder dataset, as :func:`~cnnlab.data.folder_transform`
    options (in-memory sets augment whole batches on the device with
    :class:`~cnnlab.data.Augment`; folder sets apply the same maps image by image)."""
    spec, a = recipe.dataset, recipe.dataset.augment
    affine = Augment(shift=a.shift, rotation=a.rotation, zoom=a.zoom, shear=a.shear, fill=a.fill)
    return {
        "resize_shorter": spec.resize_shorter,
        "random_crop": a.random_crop,
        "scale": a.scale,
        "hflip": a.hflip,
        "pca_lighting": a.pca_lighting,
        "crop_padding": a.crop_padding,
        "augment": None if affine.is_identity else affine,
    }


def test_split(dataset: str) -> str:
    """The split a run is tested on: ``"test"``, or ``"val"`` for the sets whose test labels
    are withheld (Tiny ImageNet, ImageNet) and for image folders (ImageNet's layout)."""
    return "test" if dataset_info(dataset).in_memory else "val"  # Tiny ImageNet, ImageNet and folders: val


def build_loaders(
    recipe: Recipe,
    rank: int = 0,
    world_size: int = 1,
    split: str | None = None,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> tuple[Any, Any, Any]:
    """The training loader, the validation loader (a held-out part of the training split,
    or the ``split`` set) and the dataset's facts. Folder datasets get DataLoaders that
    apply the recipe's augmentation and normalise with ``mean`` and ``std``; in-memory
    sets come back as tensors (the device loaders normalise them)."""
    spec = recipe.dataset
    info = dataset_info(spec.name)
    kw = {"data_dir": spec.data_dir, "image_size": spec.image_size}
    if info.in_memory:
        kw["resize"] = spec.resize_mode
    train = load_dataset(spec.name, "train", **kw)
    evaluation = load_dataset(spec.name, split or test_split(spec.name), **kw)
    if not info.in_memory:
        if recipe.validate_on == "holdout" and split is None:
            # The held-out images are read like the test split's: centre crop, no augmentation.
            held, kept = _held_out(torch.tensor(train.targets, dtype=torch.long), recipe)
            evaluation, train = train.subset(held), train.subset(kept)
        if spec.train_size is not None:
            raise ConfigError(
                f"dataset.train_size={spec.train_size} works on in-memory datasets (digits, mnist, fashion-mnist, "
                f"cifar10, cifar100); {spec.name} is read from disk: give a smaller folder instead"
            )
        common = {
            "image_size": spec.image_size or 224,
            "mean": mean,
            "std": std,
            "rank": rank,
            "world_size": world_size,
        }
        options = folder_options(recipe)
        train_loader = folder_loader(train, recipe.batch_size, True, seed=recipe.seed, options=options, **common)
        eval_loader = folder_eval_loader(recipe, evaluation, rank, world_size, mean=mean, std=std)
        return train_loader, eval_loader, train.info  # an image folder's classes are its sub-folders
    if recipe.validate_on == "holdout" and split is None:
        held, kept = _held_out(train.labels, recipe)
        evaluation, train = _subset(train, held), _subset(train, kept)
    if spec.train_size is not None:
        train = _subset(train, train_subset(len(train), spec.train_size, recipe.seed))
    return train, evaluation, info


def _held_out(labels: torch.Tensor, recipe: Recipe) -> tuple[torch.Tensor, torch.Tensor]:
    """The indices held out for validation and the indices kept for training."""
    spec = recipe.dataset
    held = holdout_indices(labels, spec.val_split, recipe.seed)
    if held.numel() == 0 or held.numel() == len(labels):
        raise ConfigError(
            f"dataset.val_split={spec.val_split} holds out {held.numel():,} of the {len(labels):,} training images of "
            f"{spec.name} (round(val_split x images) of each class): choose a val_split that leaves images on both "
            "sides, or validate_on=test"
        )
    kept = torch.ones(len(labels), dtype=torch.bool)
    kept[held] = False
    labels = torch.as_tensor(labels)
    emptied = sorted(set(labels.tolist()) - set(labels[kept].tolist()))
    if emptied:
        raise ConfigError(
            f"dataset.val_split={spec.val_split} holds out every training image of class(es) "
            f"{', '.join(map(str, emptied[:10]))} of {spec.name} (round(val_split x images) of each class): "
            "choose a smaller val_split, or validate_on=test"
        )
    return held, kept.nonzero()[:, 0]


def folder_eval_loader(
    recipe: Recipe,
    data: Any,
    rank: int = 0,
    world_size: int = 1,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> Any:
    """A folder dataset's evaluation loader: its images resized and centre-cropped to the
    recipe's size, in order, normalised with ``mean`` and ``std``."""
    spec = recipe.dataset
    return folder_loader(
        data,
        recipe.batch_size,
        False,
        options={"resize_shorter": spec.resize_shorter},
        image_size=spec.image_size or 224,
        mean=mean,
        std=std,
        rank=rank,
        world_size=world_size,
    )


def holdout_indices(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """The training images held out for validation: ``round(fraction x n_c)`` of each class
    ``c`` (stratified), drawn with ``seed``, in stored order."""
    labels = torch.as_tensor(labels)
    generator = torch.Generator().manual_seed(seed)
    held = []
    for c in torch.unique(labels).tolist():
        members = (labels == c).nonzero()[:, 0]
        take = int(round(fraction * len(members)))
        held.append(members[torch.randperm(len(members), generator=generator)[:take]])
    return torch.cat(held).sort().values if held else torch.empty(0, dtype=torch.long)


def train_subset(count: int, size: int, seed: int) -> torch.Tensor:
    """Indices, in stored order, of ``size`` of ``count`` training images drawn at random
    with ``seed``: the images a ``dataset.train_size`` run trains on (and a linear probe
    with the same size and seed fits on)."""
    if size < 1:
        raise ConfigError(f"train_size={size} must be a positive number of images, at most {count:,}")
    if size > count:
        raise ConfigError(f"train_size={size} but the training split has {count:,} images; use at most {count}")
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    return order[:size].sort().values


def _subset(data: Any, index: torch.Tensor) -> Any:
    return type(data)(data.images[index], data.labels[index], data.info)


def _device_loaders(
    recipe: Recipe,
    train: Any,
    evaluation: Any,
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device,
    rank: int,
    world_size: int,
) -> tuple[DeviceLoader, DeviceLoader]:
    a = recipe.dataset.augment
    augment = Augment(
        crop_padding=a.crop_padding,
        hflip=a.hflip,
        shift=a.shift,
        rotation=a.rotation,
        zoom=a.zoom,
        shear=a.shear,
        fill=a.fill,
    )
    common = {
        "device": device,
        "mean": mean,
        "std": std,
        "rank": rank,
        "world_size": world_size,
        "channels_last": recipe.channels_last,
    }
    train_loader = DeviceLoader(
        train, recipe.batch_size, train=True, augment=augment, seed=recipe.seed, drop_last=False, **common
    )
    eval_loader = DeviceLoader(evaluation, recipe.batch_size, train=False, **common)
    return train_loader, eval_loader


def default_run_dir(recipe: Recipe, root: str | Path = "runs") -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{path_safe(recipe.name)}-{stamp}"


def path_safe(text: str) -> str:
    """``text`` as a file name shells need not quote: ``"finetune-lenet5-mnist[5-9]"`` ->
    ``"finetune-lenet5-mnist_5-9"``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text.replace("]", "")).strip("_") or "run"


class Start(Protocol):
    """A prepared starting point for a run (``cnnlab.transfer.FineTune``): the ``recipe``
    completed from the starting weights, their ``mean``/``std``, the ``adapt``-ed data, the
    model for the dataset's classes, its parameter groups with their learning rates, the
    ``notes`` for the run's log and an optional ``callback``."""

    recipe: Recipe
    notes: list[str]
    callback: Callback | None

    @property
    def mean(self) -> tuple[float, ...]: ...

    @property
    def std(self) -> tuple[float, ...]: ...

    def adapt(self, data: Any) -> Any: ...

    def model_for(self, num_classes: int) -> nn.Module: ...

    def lr_groups(self) -> list[tuple[list[nn.Parameter], float]]: ...


StartFactory = Callable[[Recipe], Start]


def train_recipe(
    recipe: Recipe | str | Path,
    *,
    overrides: Sequence[str] | Mapping[str, Any] = (),
    run_dir: str | Path | None = None,
    resume: str | Path | None = None,
    lr_on_resume: float | None = None,
    device: str | None = None,
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
    compile: bool = False,
    print_fn: PrintFn = print,
    start: StartFactory | None = None,
) -> RunResult:
    """Train what ``recipe`` (a ``Recipe``, a packaged recipe's name or a YAML path) says,
    in ``run_dir`` (default ``runs/<recipe>-<UTC time>``), then test the final weights on
    the test split and write ``report.json``.
    ``resume``: a run directory to continue exactly where it stopped (its own recipe, with
    ``overrides`` applied on top); ``lr_on_resume`` changes the learning rate from there
    (the course's way of continuing after an interruption).
    ``start``: for a recipe with a ``transfer`` section, the function that builds its prepared
    start from the resolved recipe (``cnnlab.transfer.start_finetune``; see :class:`Start`)."""
    if lr_on_resume is not None and resume is None:
        raise ConfigError(
            f"lr_on_resume={lr_on_resume} (--lr-on-resume) sets the rate of a resumed run; give --resume RUN "
            f"with it, or --lr {lr_on_resume} (--set optimizer.lr=...) for a new run"
        )
    if resume is not None:
        _, ckpt = resume_state(resume)
        recipe = recipe_from_dict(ckpt["recipe"]["recipe"]) if "recipe" in (ckpt.get("recipe") or {}) else recipe
        run_dir = Path(resume) if Path(resume).is_dir() else Path(resume).parent.parent
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    planned = recipe.epochs  # the resumed run's own length, before --epochs changes it
    recipe = apply_overrides(recipe, overrides) if overrides else recipe
    validate_recipe(recipe)
    if resume is not None:
        _resume_notes(ckpt, run_dir, planned, recipe.epochs, lr_on_resume, print_fn)
    elif run_dir is not None and Path(run_dir).exists() and not Path(run_dir).is_dir():
        raise ConfigError(f"--run-dir {run_dir} is a file; give a folder for the run (it is created if absent)")
    # A resumed run's report counts the epochs trained before too, not only this command's.
    earlier = (
        0.0
        if resume is None
        else sum(
            r.get("epoch_seconds") or 0.0
            for r in ckpt.get("history") or []
            if r.get("epoch", 0) <= (ckpt.get("epoch") or 0)
        )
    )
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(recipe)
    dist = init_distributed(device)
    try:
        # One run per folder: rank 0 holds the folder's lock for the whole run.
        with run_lock(run_dir, print_fn) if dist.is_main else contextlib.nullcontext():
            if resume is None and dist.is_main:
                _check_new_run_dir(run_dir)  # under the lock: a run in progress is named by its process
            return _train(
                recipe,
                dist,
                run_dir,
                resume,
                lr_on_resume,
                device,
                callbacks,
                progress,
                compile,
                print_fn,
                earlier,
                start,
            )
    finally:
        cleanup_distributed()


def _check_new_run_dir(run_dir: Path) -> None:
    # Checked before anything is written: a new run never mixes its files with another's.
    if (run_dir / "recipe.yaml").is_file():
        raise ConfigError(
            f"--run-dir {run_dir} already holds a run (its recipe.yaml); continue it with "
            f"`cnnlab train --resume {run_dir}`, or give another folder"
        )


def _resume_notes(
    ckpt: dict[str, Any], run_dir: Any, planned: int | None, epochs: int, lr_on_resume: float | None, print_fn: PrintFn
) -> None:
    # Checked before the run's recipe.yaml is rewritten, so a refused resume changes nothing.
    done = ckpt.get("epoch")
    if isinstance(done, int) and done > epochs:
        raise ConfigError(
            f"{run_dir} has trained {done} epochs, more than the {epochs} asked for; resume with "
            f"--epochs {done} to test its final weights, or more to train on"
        )
    if isinstance(done, int) and done >= epochs:
        print_fn(
            f"{run_dir} already trained {done} of {epochs} epochs: testing its final weights "
            f"(to train on, resume with more epochs: --epochs {done + 10}, or --set epochs=...)"
        )
    elif planned is not None and epochs > planned and lr_on_resume is None:
        lrs = (ckpt.get("scheduler") or {}).get("main_lrs") or [None]
        at = f" at lr {lrs[0]:.3g}" if isinstance(lrs[0], float) else ""
        print_fn(
            f"the run was planned for {planned} epochs and now runs to {epochs}: its schedule goes on from where it "
            f"stopped{at} over the new length; --lr-on-resume X restarts it from the rate X"
        )


def _train(
    recipe: Recipe,
    dist: Any,
    run_dir: str | Path | None,
    resume: str | Path | None,
    lr_on_resume: float | None,
    device_name: str | None,
    callbacks: Sequence[Callback],
    progress: bool,
    compile: bool,
    print_fn: PrintFn,
    earlier_seconds: float = 0.0,
    start: StartFactory | None = None,
) -> RunResult:
    started = time.perf_counter()
    device = dist.device if dist.distributed else resolve_device(device_name or recipe.device)
    seed_everything(recipe.seed)
    info = dataset_info(recipe.dataset.name)
    channels = info.image_size[0] if info.image_size else 3
    tuning = None
    if recipe.transfer is not None:
        # Fine-tuning: the model, its input channels and its preprocessing come with the
        # pretrained weights, in the prepared start cnnlab.transfer builds (passed in: the
        # engine does not import transfer).
        if start is None:
            raise ConfigError(
                f"recipe {recipe.name!r} fine-tunes (it has a transfer section): pass "
                "start=cnnlab.transfer.start_finetune to train_recipe, or run it with `cnnlab train`, which does"
            )
        tuning = start(recipe)
        recipe, mean, std = tuning.recipe, tuning.mean, tuning.std
    else:
        card = model_card(recipe.model.name)
        mean, std = _normalisation(recipe, card.mean, card.std, info, channels)
    train, evaluation, info = build_loaders(recipe, dist.rank, dist.world_size, mean=mean, std=std)
    count = _size(train)
    if count is not None and recipe.batch_size > count and dist.is_main:
        print_fn(
            f"note: batch size {recipe.batch_size:,} is larger than the {count:,} training images of "
            f"{recipe.dataset.name}: every epoch is one step on all of them; --batch-size {count} or less "
            "gives several steps per epoch"
        )
    if tuning is not None:
        train, evaluation = tuning.adapt(train), tuning.adapt(evaluation)
        model = tuning.model_for(info.num_classes)
    else:
        model = create_model(recipe.model.name, num_classes=info.num_classes, in_chans=channels, **recipe.model.options)
    if recipe.aux_weights is not None and hasattr(model, "aux_weights"):
        model.aux_weights = tuple(recipe.aux_weights)
    recipe = fast_defaults(recipe, device, model)
    if info.in_memory:
        train_loader, eval_loader = _device_loaders(
            recipe, train, evaluation, mean, std, device, dist.rank, dist.world_size
        )
    else:
        train_loader, eval_loader = train, evaluation
    model = model.to(device)
    if recipe.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, recipe, lr_groups=tuning.lr_groups() if tuning is not None else None)
    schedule = build_schedule(optimizer, recipe.schedule, epochs=recipe.epochs, steps_per_epoch=len(train_loader))
    trained: nn.Module = wrap_ddp(model, device) if dist.distributed else model
    if compile:  # compile what trains: the auxiliary path where the model has one
        trained = torch.compile(trained if dist.distributed else training_module(trained))

    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(recipe)
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(run_dir / "recipe.yaml", lambda f: f.write(dump_recipe(recipe).encode()))
        print_fn(f"run directory: {run_dir}")
        if recipe.validate_on == "test":
            print_fn(
                f"validating on the {test_split(recipe.dataset.name)} split, the one the run is tested on "
                "(validate_on: test, as the recipe's source did), so best.pt is chosen on it and its test number "
                "is optimistic; --set validate_on=holdout holds out dataset.val_split of the training images instead"
            )
        for note in tuning.notes if tuning is not None else ():
            print_fn(note)
    # The bar needs a terminal; without one (or with progress=False) one line per epoch.
    bar = ProgressBar(print_fn=print_fn) if progress else ProgressBar(print_fn=print_fn, file=io.StringIO())
    run_callbacks: list[Callback] = [bar, MetricsLogger(run_dir), Checkpointer(run_dir, every=recipe.checkpoint_every)]
    if tuning is not None:
        run_callbacks.append(tuning.callback)
    # Ctrl-C / SIGTERM stop at the next step boundary (one process; under torchrun the ranks
    # would stop at different steps and wait on each other, so the signal keeps its default).
    stopper = StopOnSignal()
    guard = stop_on_signals(stopper) if not dist.distributed else contextlib.nullcontext()
    with guard, _said_when_interrupted(run_dir, print_fn):
        history = fit(
            trained,
            train_loader,
            eval_loader,
            optimizer,
            epochs=recipe.epochs,
            device=device,
            scheduler=schedule,
            callbacks=[*run_callbacks, *callbacks, stopper],  # last: the epoch's checkpoint is written first
            amp=recipe.amp,
            channels_last=recipe.channels_last,
            grad_clip=recipe.grad_clip_norm,
            loss_fn=nn.CrossEntropyLoss(label_smoothing=recipe.loss.label_smoothing),
            recipe={"recipe": recipe_to_dict(recipe)},
            run_dir=run_dir,
            resume_from=resume,
            lr=lr_on_resume,
            val_every=recipe.val_every,
        )
    # The test report covers the whole split on every rank (a shard per rank would report a
    # part); under DDP evaluate() all-reduces, so every rank must take part. Rank 0 keeps it.
    whole = {"device": device, "mean": mean, "std": std, "channels_last": recipe.channels_last}  # every rank: all
    if info.in_memory and dist.distributed:
        eval_loader = DeviceLoader(evaluation, recipe.batch_size, train=False, **whole)
    # The test split, once: with the checkpoint chosen on the validation images (best.pt).
    if dist.distributed:
        torch.distributed.barrier()  # rank 0 has written the last best.pt before any rank reads it
    chosen = _load_best(unwrap(trained), run_dir, device)
    if recipe.validate_on == "holdout" or (dist.distributed and not info.in_memory):
        # The test split; under DDP a folder's validation loader is a shard per rank, so the
        # test report reads the whole split on every rank, as in-memory sets do above.
        spec = recipe.dataset
        kw = {"resize": spec.resize_mode} if info.in_memory else {}
        test_data = load_dataset(
            spec.name, test_split(spec.name), data_dir=spec.data_dir, image_size=spec.image_size, **kw
        )
        if not info.in_memory:
            test_data = folder_eval_loader(recipe, test_data, mean=mean, std=std)  # rank 0 of 1: every image
        if tuning is not None:
            test_data = tuning.adapt(test_data)  # converted as the validation images were
        eval_loader = DeviceLoader(test_data, recipe.batch_size, train=False, **whole) if info.in_memory else test_data
    test = final_report(unwrap(trained), eval_loader, device, info)
    test["checkpoint"] = chosen
    test["selected_on"] = _selection(recipe, evaluation)
    seconds = time.perf_counter() - started
    if not dist.is_main:
        return RunResult(run_dir, [dict(h) for h in history], {}, seconds)
    if dist.is_main:
        report = {
            "recipe": recipe.name,
            "model": recipe.model.name,
            "dataset": recipe.dataset.name,
            "epochs": recipe.epochs,
            "seconds": round(seconds + earlier_seconds, 1),
            "device": str(device),
            # What a reader of the run needs beside the numbers (cnnlab report shows them):
            # the machine, the versions, when it finished and how many images each split held.
            "machine": machine_name(device),
            "torch": str(torch.__version__),
            "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "splits": {
                "train": _images(train),
                "validation": _images(evaluation) if recipe.validate_on == "holdout" else None,
                "test": test["images"],
            },
            "test": {k: v for k, v in test.items() if k != "confusion"},
            "confusion": test["confusion"],
        }
        atomic_write(run_dir / "report.json", lambda f: f.write(json.dumps(report, indent=2).encode()))
    return RunResult(run_dir, [dict(h) for h in history], test, seconds)


def machine_name(device: torch.device | str) -> str:
    """The machine a run or a measurement ran on, in words: the GPU's name, or the CPU's
    architecture and the cores this process may use."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{platform.processor() or platform.machine()}, {cores} cores"


def _load_best(model: nn.Module, run_dir: Path, device: torch.device) -> str:
    """Put ``best.pt``'s weights into ``model`` (the final weights stay where there is none);
    returns what the test numbers come from."""
    best = run_dir / "checkpoints" / "best.pt"
    if not best.is_file():
        return "final weights (no best.pt)"
    ckpt = load_checkpoint(best, map_location=device)
    model.load_state_dict(ckpt["model"])
    return f"best.pt (epoch {ckpt.get('epoch')})"


def _selection(recipe: Recipe, validation: Any) -> str:
    """Which images chose the checkpoint, in words for every report."""
    if recipe.validate_on == "test":
        return (
            f"the {test_split(recipe.dataset.name)} split itself (validate_on: test, the source's practice): the "
            "checkpoint was chosen on the images it is tested on, so this number is optimistic"
        )
    n = _images(validation)
    count = f"{n:,} " if n is not None else ""
    return (
        f"a validation split of {count}training images ({recipe.dataset.val_split:.0%} of each class, seed "
        f"{recipe.seed}); the test split was seen once, here"
    )


@contextlib.contextmanager
def _said_when_interrupted(run_dir: Path, print_fn: PrintFn):
    try:
        yield
    except RunInterrupted as stop:
        last = run_dir / "checkpoints" / "last.pt"
        kept = f"checkpoint {last} (epoch {stop.epoch})" if last.is_file() else "no epoch finished, so no checkpoint"
        print_fn(
            f"interrupted after epoch {stop.epoch}, step {stop.step} ({signal_name(stop.signum)}); {kept}; "
            f"resume with `cnnlab train --resume {run_dir}`"
        )
        raise


def final_report(model: nn.Module, loader: Any, device: torch.device, info: Any) -> dict[str, Any]:
    """Rank-1 and rank-5 accuracy, the per-class report and the confusion matrix."""
    result = evaluate(model, loader, device=device, return_outputs=True)
    logits, labels = result["logits"], result["labels"]
    acc = topk_accuracy(logits, labels, ks=tuple(k for k in (1, 5) if k <= logits.shape[1]))
    preds = logits.argmax(dim=1)
    classes = _class_names(None, info, logits.shape[1])
    return {
        "images": int(labels.numel()),
        "loss": result["loss"],
        "acc1": acc[1],
        "acc5": acc.get(5),
        "report": classification_report(labels, preds, classes),
        "confusion": confusion_matrix(labels, preds, len(classes)).tolist(),
        "classes": classes,
    }


def _images(data: Any) -> int | None:
    """Images in a split: an image folder's DataLoader counts its dataset's, not its batches."""
    return _size(data.dataset) if isinstance(data, torch.utils.data.DataLoader) else _size(data)


def _size(data: Any) -> int | None:
    try:
        return len(data)
    except TypeError:
        return None


def read_run_checkpoint(
    run_dir: str | Path, which: str = "best", map_location: str = "cpu", note: PrintFn | None = None
) -> tuple[Path, dict[str, Any]]:
    """A run's checkpoint for reading its model: ``which`` (``best.pt``), else ``last.pt``,
    else the newest readable ``epoch_XXX.pt``, as ``--resume`` falls back; a fallback is said
    in one line (``note``, default stderr). When none is readable, one reason per file."""
    folder = Path(run_dir) / "checkpoints"
    first = folder / f"{which}.pt"
    candidates = [first, *(p for p in list_checkpoints(folder) if p != first)]
    candidates = [p for p in candidates if p.is_file()]
    if not candidates:
        raise ConfigError(f"no checkpoint in {folder}: expected best.pt or last.pt; is {run_dir} a run directory?")
    failures: list[str] = []
    for path in candidates:
        try:
            ckpt = load_checkpoint(path, map_location)
        except CheckpointError as err:
            failures.append(unreadable_reason(path, err))
            continue
        if failures:
            say = note or (lambda text: print(text, file=sys.stderr))
            say(f"note: using {path} (epoch {ckpt.get('epoch')}) because " + "; ".join(failures))
        return path, ckpt
    raise CheckpointError(f"no readable checkpoint in {folder}: " + "; ".join(failures))


def load_run_model(
    run_or_checkpoint: str | Path, which: str = "best", map_location: str = "cpu"
) -> tuple[nn.Module, Recipe, dict[str, Any]]:
    """The model of a run directory (its ``best.pt``, else ``last.pt``) or of a checkpoint
    file, rebuilt from the checkpoint's recipe; weights loaded without executing code."""
    path = Path(run_or_checkpoint)
    if not path.exists():
        named = (
            f"; {path} is a model's name: train it first (cnnlab train {path})" if str(path) in list_models() else ""
        )
        raise ConfigError(
            f"{str(path)!r} does not exist: give a run directory (`cnnlab runs` lists them) or a checkpoint file{named}"
        )
    if path.is_dir():
        path, ckpt = read_run_checkpoint(path, which, map_location)
    else:
        ckpt = load_checkpoint(path, map_location)
    recipe_data = (ckpt.get("recipe") or {}).get("recipe")
    if recipe_data is None:
        raise ConfigError(f"{path} holds no recipe; it was not written by `cnnlab train`")
    recipe = recipe_from_dict(recipe_data)
    cfg = ckpt.get("model_config") or {}
    model = create_model(
        recipe.model.name, num_classes=cfg.get("num_classes"), in_chans=cfg.get("in_chans"), **recipe.model.options
    )
    model.load_state_dict(ckpt["model"])
    model.eval()
    model.pretrained_cfg = run_preprocessing(model, recipe, source=str(path))
    return model, recipe, ckpt


def run_preprocessing(model: nn.Module, recipe: Recipe, source: str | None = None) -> dict[str, Any]:
    """The preprocessing a run trained with, in the form of ``model.pretrained_cfg``: input
    size, per-channel mean and std (in units of pixel / 255), class names and the dataset.
    It travels with the model so explanation, transfer and export feed it what it saw."""
    info = dataset_info(recipe.dataset.name)
    channels = model.in_chans
    tuned = (
        recipe.transfer if recipe.transfer is not None and recipe.transfer.mean is not None else None
    )  # the weights' own
    model_mean, model_std = (
        (tuned.mean, tuned.std) if tuned is not None else (model.pretrained_cfg["mean"], model.pretrained_cfg["std"])
    )
    mean, std = _normalisation(recipe, model_mean, model_std, info, channels)
    size = recipe.dataset.image_size or (
        info.image_size[1] if info.image_size else model.pretrained_cfg["input_size"][-1]
    )
    return {
        **model.pretrained_cfg,
        "input_size": (channels, size, size),
        "mean": mean,
        "std": std,
        "classes": list(info.classes) or None,
        "dataset": recipe.dataset.name,
        "resize_mode": recipe.dataset.resize_mode,
        "source": source,
    }


def evaluate_checkpoint(
    run_or_checkpoint: str | Path,
    *,
    dataset: str | None = None,
    split: str | None = None,
    crops: int = 1,
    ensemble: Sequence[str | Path] = (),
    device: str | None = None,
    data_dir: str | None = None,
) -> dict[str, Any]:
    """Rank-1 / rank-5 accuracy, classification report and confusion matrix of a run (or a
    checkpoint) on ``split``; ``crops`` 1, 10 or 144 averages softmax over crops;
    ``ensemble`` adds more runs whose probabilities are averaged with this one's."""
    dev = resolve_device(device)
    runs = [run_or_checkpoint, *ensemble]
    probs, labels, info = [], None, None
    for run in runs:
        model, recipe, _ = load_run_model(run)
        if dataset is not None or data_dir is not None:
            recipe = replace(
                recipe,
                dataset=replace(
                    recipe.dataset, name=dataset or recipe.dataset.name, data_dir=data_dir or recipe.dataset.data_dir
                ),
            )
        info = dataset_info(recipe.dataset.name)
        split = split or test_split(recipe.dataset.name)
        data = load_dataset(
            recipe.dataset.name,
            split,
            data_dir=recipe.dataset.data_dir,
            image_size=recipe.dataset.image_size,
            **({"resize": recipe.dataset.resize_mode} if info.in_memory else {}),
        )
        _check_same_classes(run, model, data, info)
        channels = model.in_chans
        if recipe.transfer is not None:  # fine-tuned on images converted to the pretrained model's channels
            data = match_channels(data, channels)
        mean, std = _normalisation(recipe, model.pretrained_cfg["mean"], model.pretrained_cfg["std"], info, channels)
        model = model.to(dev)
        run_probs, run_labels = [], []
        if not info.in_memory:
            for x, y in _folder_eval_batches(data, recipe, crops, mean, std):
                x = x.to(dev)
                size = recipe.dataset.image_size or 224
                run_probs.append(predict_crops(model, x, crops, crop_size=size, scales=recipe.eval.scales).cpu())
                run_labels.append(y)
            probs.append(torch.cat(run_probs))
            labels = torch.cat(run_labels)
            continue
        loader = DeviceLoader(data, 256, train=False, device=dev, mean=mean, std=std)
        for x, y in loader:
            size = None
            if crops > 1 and x.shape[-1] < 64:
                # Small images have no margin to crop from: crop the image padded with black
                # (0 before normalisation) by the shift training used (crop_padding or shift).
                size, pad = x.shape[-1], max(recipe.dataset.augment.crop_padding, recipe.dataset.augment.shift)
                if pad == 0:
                    raise ConfigError(
                        f"{crops}-crop testing of {size}x{size} images needs the margin training used, and "
                        f"{recipe.name} trained without crop_padding or shift; evaluate with --crops 1"
                    )
                black = (-torch.tensor(mean) / torch.tensor(std)).to(x).view(1, -1, 1, 1)
                padded = black.expand(x.shape[0], -1, x.shape[2] + 2 * pad, x.shape[3] + 2 * pad).clone()
                padded[..., pad:-pad, pad:-pad] = x
                x = padded
            run_probs.append(predict_crops(model, x, crops, crop_size=size).cpu())
            run_labels.append(y.cpu())
        probs.append(torch.cat(run_probs))
        labels = torch.cat(run_labels)
    mean_probs = torch.stack(probs).mean(dim=0)
    acc = topk_accuracy(mean_probs, labels, ks=tuple(k for k in (1, 5) if k <= mean_probs.shape[1]))
    preds = mean_probs.argmax(dim=1)
    classes = _class_names(data, info, mean_probs.shape[1])
    return {
        "runs": [str(r) for r in runs],
        "split": split,
        "crops": crops,
        "images": int(labels.numel()),
        "acc1": acc[1],
        "acc5": acc.get(5),
        "report": classification_report(labels, preds, classes),
        "confusion": confusion_matrix(labels, preds, len(classes)).tolist(),
        "classes": classes,
    }


def _check_same_classes(run: str | Path, model: nn.Module, data: Any, info: Any) -> None:
    # Label i must mean the model's output i: another dataset is only scored with the same
    # classes in the same order (mnist for a digits run, not mnist[5-9] or fashion-mnist).
    trained = list((getattr(model, "pretrained_cfg", None) or {}).get("classes") or [])
    given = list(getattr(data, "classes", None) or info.classes)
    if trained and given and trained != given:

        def show(names: list[str]) -> str:
            return ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")

        raise ConfigError(
            f"{run} was trained on {len(trained)} classes ({show(trained)}); {info.name} has {len(given)} "
            f"({show(given)}), so its labels would not mean the model's outputs; evaluate on a dataset with "
            f"the same classes in the same order, or fine-tune on this one (cnnlab transfer finetune)"
        )


def _class_names(data: Any, info: Any, count: int) -> list[str]:
    # An image folder's classes are its sub-folders; the catalogue knows the others'.
    names = list(getattr(data, "classes", None) or info.classes)
    return names if len(names) == count else [str(i) for i in range(count)]


def _folder_eval_batches(data: Any, recipe: Recipe, crops: int, mean: Sequence[float], std: Sequence[float]) -> Any:
    """Evaluation batches of a folder dataset for 1, 10 or 144 crops: the centre crop, the
    centre square ``ten_crop`` cuts, or (144) the image at its own aspect ratio, one image
    per batch unless the set's images share one size."""
    size = recipe.dataset.image_size or 224
    fixed = data.info.image_size is not None
    batch = recipe.batch_size if crops != 144 or fixed else 1
    options = {"resize_shorter": recipe.dataset.resize_shorter, "crops": crops}
    return folder_loader(data, batch, False, image_size=size, mean=mean, std=std, options=options)


def default_recipe(model: str, dataset: str) -> Recipe:
    """A plain starting point for a model and dataset no packaged recipe covers: SGD with
    Nesterov momentum 0.9, lr 0.01 cosine-annealed over 10 epochs, batch 64, weight decay
    5e-4 on the kernels. Not from a paper: ``assumptions`` says so."""
    return recipe_from_dict(
        {
            "name": f"{model}-{dataset}",
            "model": {"name": model},
            "dataset": {"name": dataset},
            "epochs": 10,
            "batch_size": 64,
            "optimizer": {
                "name": "sgd",
                "lr": 0.01,
                "momentum": 0.9,
                "nesterov": True,
                "weight_decay": 5e-4,
                "weight_decay_on": "weights",
            },
            "schedule": {"name": "cosine"},
            "description": f"cnnlab's generic starting point for {model} on {dataset} (no packaged recipe)",
            "assumptions": ["every setting: a generic default, not from a paper"],
        }
    )


def predict_images(
    run_or_checkpoint: str | Path, images: Sequence[str | Path], k: int = 5
) -> list[tuple[str, list[tuple[str, float]]]]:
    """The top ``k`` classes and probabilities of each image file (folders: the images in
    them), with a run's model: the image converted to the model's channels, resized to its
    input size, normalised as in training."""
    from PIL import Image

    if k < 1:
        raise ConfigError(f"top k={k}: give the number of classes to show, 1 or more (e.g. --top 5)")
    model, recipe, _ = load_run_model(run_or_checkpoint)
    info = dataset_info(recipe.dataset.name)
    channels = model.in_chans
    size = recipe.dataset.image_size or (info.image_size[1] if info.image_size else 224)
    mean, std = _normalisation(recipe, model.pretrained_cfg["mean"], model.pretrained_cfg["std"], info, channels)
    out = []
    for p in image_files(images):
        img = open_image(p, "L" if channels == 1 else "RGB").resize((size, size), Image.BILINEAR)
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)
        x = x.unsqueeze(0) if channels == 1 else x.permute(2, 0, 1)
        x = (x - torch.tensor(mean).view(-1, 1, 1)) / torch.tensor(std).view(-1, 1, 1)
        with torch.no_grad():
            probs = model(x.unsqueeze(0)).softmax(dim=1)[0]
        top = probs.topk(min(k, probs.numel()))
        out.append((str(p), [(info.classes[i], float(v)) for v, i in zip(top.values.tolist(), top.indices.tolist())]))
    return out


class RunTable(RichDisplay, list):
    """What :func:`list_runs` returns: a list of one plain dict per run (``json.dumps``,
    sorting and indexing work as on any list) that knows the folder it lists (``root``).
    In Jupyter it displays as the table of ``cnnlab report DIR``; ``repr()`` is one line."""

    display_kind = "runs"

    def __init__(self, runs: Iterable[dict[str, Any]] = (), root: str | Path = "runs") -> None:
        super().__init__(runs)
        self.root = str(root)

    def __repr__(self) -> str:
        finished = sum(r.get("status") == "finished" for r in self)
        return f"<RunTable of {self.root}: {len(self):,} runs, {finished:,} finished>"


def list_runs(root: str | Path = "runs") -> RunTable:
    """Every run directory under ``root`` (``root`` itself and two levels down), newest first, as plain
    data: folder, recipe, model, dataset, epochs done and planned, best validation rank-1
    (and its epoch), test rank-1 and rank-5 when the run finished, seconds, status
    (``finished``: it wrote its report; ``unfinished``: epochs and checkpoints but no report,
    so ``cnnlab train --resume`` can continue it) and when it was last written; a
    :class:`RunTable`, a list of dicts."""
    import yaml

    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"{root} is not a folder of runs; pass the folder cnnlab train wrote into (default runs/)")
    # root itself may be a run, or hold runs one or two levels down
    found = sorted(
        {p.parent for pattern in ("recipe.yaml", "*/recipe.yaml", "*/*/recipe.yaml") for p in root.glob(pattern)}
    )
    runs = []
    for folder in found:
        try:
            recipe = yaml.safe_load((folder / "recipe.yaml").read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            recipe = {}
        rows = read_jsonl(folder / "metrics.jsonl") if (folder / "metrics.jsonl").is_file() else []
        report_path = folder / "report.json"
        try:
            report = json.loads(report_path.read_text()) if report_path.is_file() else None
        except (OSError, ValueError):
            report = None
        scored = [r for r in rows if isinstance(r.get("val_acc1"), (int, float))]
        best = max(scored, key=lambda r: r["val_acc1"], default=None)
        test = (report or {}).get("test") or {}
        newest = max((p.stat().st_mtime for p in folder.rglob("*") if p.is_file()), default=folder.stat().st_mtime)
        runs.append(
            {
                "run": str(folder),
                "recipe": recipe.get("name"),
                "model": (recipe.get("model") or {}).get("name"),
                "dataset": (recipe.get("dataset") or {}).get("name"),
                "epochs": rows[-1].get("epoch", 0) if rows else 0,
                "planned": recipe.get("epochs"),
                "best_val_acc1": best["val_acc1"] if best else None,
                "best_epoch": best["epoch"] if best else None,
                "test_acc1": test.get("acc1"),
                "test_acc5": test.get("acc5"),
                "seconds": (report or {}).get("seconds"),
                "status": "finished" if report else "unfinished",
                "modified": datetime.fromtimestamp(newest, UTC).strftime("%Y-%m-%d %H:%M"),
            }
        )
    return RunTable(sorted(runs, key=lambda r: r["modified"], reverse=True), root)
