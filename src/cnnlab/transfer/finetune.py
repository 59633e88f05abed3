"""Fine-tuning: a pretrained body, a new classifier, and a say in which layers train.

The recipe's ``transfer`` section (:class:`~cnnlab.engine.recipes.TransferSpec`) makes a
``train_recipe`` run a fine-tune, so the run directory, curves, checkpoints, resume and the
final test are ``cnnlab train``'s. When the run starts (:func:`start_finetune`):

1. the starting weights are loaded (:mod:`cnnlab.transfer.pretrained`) and their
   preprocessing fixes the run's image size, channel conversion, mean and std;
2. ``reset_classifier`` replaces the classifier for the new classes (the model contract);
3. the model is cut into blocks in forward order (:func:`transfer_blocks`): one per
   ``feature_info`` stage, then ``head`` (the hidden layers between the last stage and the
   classifier: LeNet-5's C5 and F6, VGG's FC6 and FC7) and ``classifier``;
   ``trainable_stages=N`` trains the top N blocks below the classifier, ``freeze_until``
   freezes a named module and everything the forward pass runs before it;
4. for the first ``head_epochs`` epochs only the new classifier trains (a random classifier
   would otherwise send large, noisy gradients into good features); then the chosen body
   layers train too, at their own learning rate ``lr_body`` (the classifier keeps
   ``lr_head``; the schedule scales both).

Frozen parameters have ``requires_grad=False`` and receive no update. Frozen BatchNorm
layers (those in frozen layers, and during the warm-up all of the body's) stay in eval mode:
they normalise with their running statistics and never update them, whatever
``model.train()`` says (:class:`HeadWarmup` holds them there with a forward pre-hook).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from ..data import match_channels
from ..engine.callbacks import Callback, TrainState
from ..engine.recipes import ModelSpec, Recipe, recipe_from_dict, recipe_to_dict, validate_recipe
from ..engine.run import RunResult, default_recipe, train_recipe
from ..errors import ConfigError
from ..explain.access import Preprocess
from ..tracing import left_as_found, meta_call
from .pretrained import (
    DataPreprocessing,
    Pretrained,
    builder_options,
    check_model_name,
    data_preprocessing,
    is_run,
    load_pretrained,
    run_recipe,
)

HEAD_BLOCK = "head"
CLASSIFIER_BLOCK = "classifier"
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


@dataclass(frozen=True)
class Block:
    """Part of a model that freezes as a unit: ``name`` (a stage's module name, ``"head"`` or
    ``"classifier"``) and the modules whose own parameters or buffers it holds."""

    name: str
    modules: tuple[str, ...]


def forward_order(model: nn.Module) -> dict[str, int]:
    """Each module's position in the order the forward pass finishes them (first call),
    from one pass on the meta device: no memory, no arithmetic, the user's hooks set aside."""
    names = {m: n for n, m in model.named_modules()}
    order: dict[str, int] = {}

    def finished(module: nn.Module, args: Any, out: Any) -> None:
        order.setdefault(names[module], len(order))

    size = Preprocess.of(model).input_size
    with left_as_found(model):  # hooks added inside are discarded on exit
        model.eval()
        for module in model.modules():
            module.register_forward_hook(finished)
        meta_call(model, model, torch.empty((2, *size), device="meta"))
    return order


def _owns_state(module: nn.Module) -> bool:
    return any(True for _ in module.parameters(recurse=False)) or any(True for _ in module.buffers(recurse=False))


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def transfer_blocks(model: nn.Module, order: dict[str, int] | None = None) -> list[Block]:
    """The model in freezable blocks, in forward order: each ``feature_info`` stage holds the
    modules that finish after the previous stage's output and by its own; ``head`` the
    modules after the last stage; ``classifier`` the classifier (``get_classifier``) and any
    module the plain forward pass does not call (auxiliary heads). Blocks without parameters
    or buffers are left out."""
    order = forward_order(model) if order is None else order
    stages = [f.module for f in getattr(model, "feature_info", None) or []]
    ends = sorted((order[s], s) for s in stages if s in order)
    classifier = getattr(model, "classifier_name", None)
    members: dict[str, list[str]] = {s: [] for _, s in ends}
    members[HEAD_BLOCK], members[CLASSIFIER_BLOCK] = [], []
    for name, module in model.named_modules():
        if not _owns_state(module):
            continue
        if name not in order or (classifier is not None and _under(name, classifier)):
            members[CLASSIFIER_BLOCK].append(name)
            continue
        stage = next((s for end, s in ends if order[name] <= end), HEAD_BLOCK)
        members[stage].append(name)

    def position(module: str) -> int:  # modules the forward pass does not call go last
        return order.get(module, len(order))

    for mods in members.values():
        mods.sort(key=position)
    return [Block(b, tuple(mods)) for b, mods in members.items() if mods or b == CLASSIFIER_BLOCK]


@dataclass
class FreezePlan:
    """Which modules (by name) train: ``classifier`` always, ``body`` after the head
    warm-up, ``frozen`` never; ``blocks`` for descriptions."""

    classifier: list[str]
    body: list[str]
    frozen: list[str]
    blocks: list[Block]

    def describe(self, names: Sequence[str]) -> str:
        """``names`` by block: a block's name when whole, else ``block (k of n modules)``."""
        chosen = set(names)
        parts = []
        for block in self.blocks:
            k = sum(m in chosen for m in block.modules)
            if k:
                parts.append(
                    block.name if k == len(block.modules) else f"{block.name} ({k} of {len(block.modules)} modules)"
                )
        return ", ".join(parts) or "nothing"


def plan_freezing(model: nn.Module, freeze_until: str | None = None, trainable_stages: int | None = None) -> FreezePlan:
    """What trains when fine-tuning ``model``: see :class:`~cnnlab.engine.recipes.TransferSpec`.
    Neither argument: every layer."""
    if freeze_until is not None and trainable_stages is not None:
        raise ConfigError(
            f"freeze_until={freeze_until!r} and trainable_stages={trainable_stages!r} both say what trains; give one"
        )
    order = forward_order(model)
    blocks = transfer_blocks(model, order)
    body_blocks, classifier = blocks[:-1], list(blocks[-1].modules)
    body = [m for b in body_blocks for m in b.modules]
    name = getattr(getattr(model, "card", None), "name", type(model).__name__)
    if trainable_stages is not None:
        n = len(body_blocks)
        if (
            isinstance(trainable_stages, bool)
            or not isinstance(trainable_stages, int)
            or not 0 <= trainable_stages <= n
        ):
            raise ConfigError(
                f"trainable_stages={trainable_stages!r} but {name} has {n} blocks below its classifier "
                f"({', '.join(b.name for b in body_blocks)}); use 0 (the new classifier only) to {n} (every layer)"
            )
        frozen = [m for b in body_blocks[: n - trainable_stages] for m in b.modules]
    elif freeze_until is not None:
        if freeze_until not in order:
            known = [n for n in order if n and "." not in n]
            raise ConfigError(
                f"freeze_until={freeze_until!r} is not a module the forward pass of {name} runs; use a stage "
                f"({', '.join(b.name for b in body_blocks if b.name != HEAD_BLOCK)}) or a module name such as "
                f"{', '.join(known[:30])} (`cnnlab transfer blocks {name}` lists the blocks and their modules)"
            )
        if any(_under(freeze_until, c) for c in classifier):
            raise ConfigError(
                f"freeze_until={freeze_until!r} is in the new classifier, which always trains; "
                "trainable_stages=0 trains the classifier alone"
            )
        frozen = [m for m in body if order[m] <= order[freeze_until]]
    else:
        frozen = []
    held = set(frozen)
    return FreezePlan(classifier, [m for m in body if m not in held], frozen, blocks)


def _hold_eval(module: nn.Module, args: Any) -> None:
    # A frozen BatchNorm normalises with its running statistics and never updates them,
    # even inside model.train(), which the training loop calls every epoch.
    module.training = False


class HeadWarmup(Callback):
    """Keeps frozen layers frozen and, for the first ``head_epochs`` epochs, the body too:
    from epoch ``head_epochs`` on the plan's ``body`` modules train (their BatchNorm layers
    back in training mode). The phase follows the epoch index, so a resumed run is in the
    right one."""

    def __init__(self, model: nn.Module, plan: FreezePlan, head_epochs: int) -> None:
        modules = dict(model.named_modules())
        self.head_epochs = head_epochs
        self.body = [p for m in plan.body for p in modules[m].parameters(recurse=False)]
        self.body_norms = [modules[m] for m in plan.body if isinstance(modules[m], NORMS)]
        self._held: list[RemovableHandle] = []
        for m in plan.frozen:
            for p in modules[m].parameters(recurse=False):
                p.requires_grad_(False)
            if isinstance(modules[m], NORMS):
                modules[m].register_forward_pre_hook(_hold_eval)
        for m in plan.classifier:
            for p in modules[m].parameters(recurse=False):
                p.requires_grad_(True)
        self.set_phase(0)

    def set_phase(self, epoch: int) -> None:
        body_trains = epoch >= self.head_epochs
        for p in self.body:
            p.requires_grad_(body_trains)
        if body_trains:
            for handle in self._held:
                handle.remove()
            self._held = []
        elif not self._held:
            self._held = [m.register_forward_pre_hook(_hold_eval) for m in self.body_norms]

    def on_fit_start(self, state: TrainState) -> None:
        if state.world_size > 1 and self.body and self.head_epochs > 0:
            raise ConfigError(
                f"a head warm-up (transfer.head_epochs={self.head_epochs}) cannot unfreeze layers under DDP, which "
                "registers the trainable parameters once, when it wraps the model; set transfer.head_epochs=0 for a "
                "distributed fine-tune"
            )

    def on_epoch_start(self, state: TrainState) -> None:
        self.set_phase(state.epoch)


@dataclass
class FineTune:
    """A fine-tune run being set up by ``train_recipe``: the ``recipe`` with the weights'
    preprocessing and learning rates filled in, the ``pretrained`` model, the data
    ``preprocessing`` and ``notes`` for the run's log."""

    recipe: Recipe
    pretrained: Pretrained
    preprocessing: DataPreprocessing
    notes: list[str] = field(default_factory=list)
    callback: HeadWarmup | None = None
    plan: FreezePlan | None = None

    @property
    def mean(self) -> tuple[float, ...]:
        return tuple(self.recipe.transfer.mean)

    @property
    def std(self) -> tuple[float, ...]:
        return tuple(self.recipe.transfer.std)

    def adapt(self, data: Any) -> Any:
        """``data`` converted to the pretrained model's input channels."""
        return match_channels(data, self.preprocessing.channels)

    def model_for(self, num_classes: int) -> nn.Module:
        """The pretrained model with a new classifier for ``num_classes`` and the recipe's
        freezing applied (the head warm-up's first phase)."""
        t, model = self.recipe.transfer, self.pretrained.model
        model.reset_classifier(num_classes)
        plan = plan_freezing(model, t.freeze_until, t.trainable_stages)
        if plan.body and t.head_epochs >= self.recipe.epochs:
            raise ConfigError(
                f"transfer.head_epochs={t.head_epochs} leaves no epoch of the {self.recipe.epochs} to train "
                f"{plan.describe(plan.body)}; raise epochs, lower transfer.head_epochs, or train the new classifier "
                "alone with transfer.trainable_stages=0"
            )
        self.plan, self.callback = plan, HeadWarmup(model, plan, t.head_epochs)
        epochs = "epoch 1" if t.head_epochs == 1 else f"epochs 1-{t.head_epochs}"
        warmup = f"{epochs}: the new classifier alone, then " if plan.body and t.head_epochs else ""
        modules = dict(model.named_modules())
        norms = (
            " (its BatchNorm layers in eval mode)" if any(isinstance(modules[m], NORMS) for m in plan.frozen) else ""
        )
        self.notes.append(
            f"fine-tuning: new classifier {model.classifier_name!r} for {num_classes} classes (lr {t.lr_head:g}); "
            + (f"{warmup}{plan.describe(plan.body)} too (lr {t.lr_body:g})" if plan.body else "nothing else trains")
            + (f"; frozen: {plan.describe(plan.frozen)}{norms}" if plan.frozen else "")
        )
        return model

    def lr_groups(self) -> list[tuple[list[nn.Parameter], float]]:
        """The classifier's parameters at ``lr_head``, the trainable body's at ``lr_body``."""
        if self.plan is None:
            raise ConfigError("call model_for(num_classes) before lr_groups()")
        modules = dict(self.pretrained.model.named_modules())
        t = self.recipe.transfer

        def params(names: Sequence[str]) -> list[nn.Parameter]:
            return [p for n in names for p in modules[n].parameters(recurse=False)]

        return [(params(self.plan.classifier), t.lr_head), (params(self.plan.body), t.lr_body)]


def _load_init(init: str, spec: ModelSpec) -> Pretrained:
    if is_run(init):
        pretrained = load_pretrained(init)
        if (pretrained.name, pretrained.options) != (spec.name, dict(spec.options)):
            raise ConfigError(
                f"transfer.init={init!r} is a run of {pretrained.name} "
                f"with options {pretrained.options}, but the recipe's "
                f"model is {spec.name} with {dict(spec.options)}; set model.name={pretrained.name} (and its options)"
            )
        return pretrained
    return load_pretrained(spec.name, weights=init, options=spec.options)


def start_finetune(recipe: Recipe) -> FineTune:
    """Load the recipe's starting weights and complete its ``transfer`` and ``dataset``
    sections from them: ``mean``/``std`` (the weights' unless given), ``image_size`` and
    ``resize_mode`` (the weights' input size unless ``image_size`` is given), ``lr_head``
    (``optimizer.lr``) and ``lr_body`` (``optimizer.lr / 10``)."""
    t = recipe.transfer
    if t is None:
        raise ConfigError(f"recipe {recipe.name!r} has no transfer section; set transfer.init to fine-tune")
    pretrained = _load_init(t.init, recipe.model)
    pre = data_preprocessing(pretrained.model, recipe.dataset.name)
    mean, std = (list(t.mean), list(t.std)) if t.mean is not None else (list(pre.mean), list(pre.std))
    if len(mean) != pre.channels:
        raise ConfigError(
            f"transfer.mean={mean!r} has {len(mean)} values but {pretrained.name} reads {pre.channels} channel(s)"
        )
    dataset = recipe.dataset
    if dataset.image_size is None:
        dataset = replace(dataset, image_size=pre.image_size, resize_mode=pre.resize_mode)
    lr = recipe.optimizer.lr
    transfer = replace(t, mean=mean, std=std, lr_head=t.lr_head or lr, lr_body=t.lr_body or lr / 10)
    recipe = replace(recipe, dataset=dataset, transfer=transfer)
    validate_recipe(recipe)
    pre = replace(pre, mean=tuple(mean), std=tuple(std), image_size=dataset.image_size, resize_mode=dataset.resize_mode)
    size = f"{pre.channels}x{pre.image_size}x{pre.image_size}"
    notes = [
        f"starting point: {pretrained.source} ({pretrained.name}); input {size} ({pre.resize_mode}), "
        f"mean {_fmt(mean)}, std {_fmt(std)}"
    ]
    if pre.note:
        notes.append(pre.note)
    return FineTune(recipe, pretrained, pre, notes)


def _fmt(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"


def finetune_recipe(
    source: str | Path,
    dataset: str,
    *,
    weights: str | None = None,
    options: dict[str, Any] | None = None,
    data_dir: str | None = None,
    freeze_until: str | None = None,
    trainable_stages: int | None = None,
    head_epochs: int = 1,
    lr_head: float = 0.01,
    lr_body: float | None = None,
    epochs: int = 10,
    batch_size: int = 64,
    train_size: int | None = None,
    seed: int = 0,
) -> Recipe:
    """A fine-tune recipe: ``source`` (a cnnlab run, or a model name with ``weights``:
    ``"torchvision"`` or a file) moved to ``dataset``, on cnnlab's generic optimizer
    (:func:`~cnnlab.engine.run.default_recipe`: SGD, Nesterov momentum 0.9, weight decay
    5e-4 on kernels, cosine schedule) with ``lr_head`` as its base rate."""
    if is_run(source):
        if weights is not None or options:
            raise ConfigError(
                f"{str(source)!r} is a cnnlab run: it brings its own model and weights; drop weights/options"
            )
        spec, init = run_recipe(source).model, str(source)
    else:
        if weights is None:
            raise ConfigError(
                f"fine-tuning {str(source)!r} needs pretrained weights: weights='torchvision', a weights file, "
                f"or a cnnlab run instead of the model name; to train it from scratch use `cnnlab train {source}`"
            )
        name = check_model_name(str(source))
        spec, init = ModelSpec(name, builder_options(name, weights, options)), weights
    base = recipe_to_dict(default_recipe(spec.name, dataset))
    return recipe_from_dict(
        {
            **base,
            "name": f"finetune-{spec.name}-{dataset}",
            "model": {"name": spec.name, "options": dict(spec.options)},
            "dataset": {"name": dataset, "data_dir": data_dir, "train_size": train_size},
            "epochs": epochs,
            "batch_size": batch_size,
            "seed": seed,
            "optimizer": {**base["optimizer"], "lr": lr_head},
            "transfer": {
                "init": init,
                "freeze_until": freeze_until,
                "trainable_stages": trainable_stages,
                "head_epochs": head_epochs,
                "lr_head": lr_head,
                "lr_body": lr_body,
            },
            "description": f"{spec.name} from {init} fine-tuned on {dataset}",
            "source": [
                "cnnlab transfer finetune: the lectures' transfer-learning recipe (new classifier, warm-up, "
                "smaller learning rate for pretrained layers)"
            ],
            "assumptions": [
                "optimizer, schedule, epochs and learning rates: cnnlab's generic defaults, not from a paper"
            ],
        }
    )


def finetune(
    source: str | Path,
    dataset: str,
    *,
    run_dir: str | Path | None = None,
    device: str | None = None,
    overrides: Sequence[str] = (),
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
    print_fn: Callable[[str], None] = print,
    **settings: Any,
) -> RunResult:
    """Fine-tune ``source`` on ``dataset`` (``settings``: :func:`finetune_recipe`'s keywords)
    through :func:`~cnnlab.engine.run.train_recipe`; ``overrides`` are ``--set`` strings."""
    recipe = finetune_recipe(source, dataset, **settings)
    return train_recipe(
        recipe,
        overrides=overrides,
        run_dir=run_dir,
        device=device,
        callbacks=callbacks,
        progress=progress,
        print_fn=print_fn,
        start=start_finetune,
    )
