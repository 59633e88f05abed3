"""The training loop: :func:`train_one_epoch`, :func:`evaluate` and :func:`fit`.

Plain functions over any iterable of ``(images, labels)`` batches; progress bars, logs,
checkpoints and early stopping are callbacks (:mod:`cnnlab.engine.callbacks`). A loader
with ``set_epoch(epoch)`` (or a sampler with it) is told each epoch, so its shuffle can
depend on the epoch alone and a resumed run sees the same order.

A scheduler is any object with ``step_batch()`` (called after every optimizer step),
``step_epoch(metrics)`` (after each epoch's validation, with the epoch's row) and
``state_dict()``/``load_state_dict()``; PyTorch's own schedulers are stepped once per epoch
(``ReduceLROnPlateau`` on ``val_loss``, only after epochs that were validated).

Models with auxiliary classifiers (``forward_aux`` and enabled heads) train on
``loss(main) + sum(w_i * loss(aux_i))`` with ``w = model.aux_weights`` (GoogLeNet: 0.3, 0.3).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, TrainingDivergedError
from ..tracing import modes_kept
from .callbacks import Callback, History, TrainState, call_hook
from .checkpoint import load_checkpoint, own_rng_state, restore_training_state, resume_state, set_rng_state
from .distributed import all_reduce_metrics, any_rank, get_rank, get_world_size, unwrap, uses_aux
from .metrics import topk_correct
from .schedules import Schedule

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# -- small pieces -----------------------------------------------------------------------------
def autocast_dtype(amp: bool | str | None, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp``: False/None none; True or "bf16" bfloat16 (float16 on
    a CUDA GPU without bfloat16); "fp16" float16 (GPU only, with a gradient scaler on CUDA)."""
    if amp is None or amp is False or amp in ("off", "none", "no"):
        return None
    if amp is True:
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            return torch.float16
        return torch.bfloat16
    if amp in ("bf16", "bfloat16"):
        return torch.bfloat16
    if amp in ("fp16", "float16", "half"):
        if device.type == "cpu":
            raise ConfigError(f"amp={amp!r} (float16) needs a GPU; on the CPU use amp='bf16' or amp=True")
        return torch.float16
    raise ConfigError(f"amp must be True, False, 'bf16' or 'fp16', got {amp!r}")


def make_scaler(amp: bool | str | None, device: str | torch.device) -> torch.amp.GradScaler | None:
    """A gradient scaler where float16 autocast on CUDA needs one, else None."""
    device = torch.device(device)
    if device.type == "cuda" and autocast_dtype(amp, device) == torch.float16:
        return torch.amp.GradScaler("cuda")
    return None


def _autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def set_loader_epoch(loader: Any, epoch: int) -> None:
    """Tell a loader (or its sampler) which epoch starts, for per-epoch shuffling."""
    for obj in (loader, getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)):
        if callable(getattr(obj, "set_epoch", None)):
            obj.set_epoch(epoch)
            return


def _length(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


def _to_device(
    x: torch.Tensor, y: torch.Tensor, device: torch.device, channels_last: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.to(device, non_blocking=True)
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y.to(device, non_blocking=True)


def _hard_labels(y: torch.Tensor) -> torch.Tensor:
    return y.argmax(1) if y.dim() > 1 else y  # soft or one-hot targets: their top class


def _aux_weights(net: nn.Module, n_aux: int) -> tuple[float, ...]:
    weights = getattr(net, "aux_weights", None)
    name = getattr(getattr(net, "card", None), "name", type(net).__name__)
    if weights is None:
        raise ConfigError(
            f"{name}.forward_aux returned {n_aux} auxiliary output(s) but the model has no aux_weights; "
            f"set model.aux_weights = {(0.3,) * n_aux} (or the paper's weights), or build it without auxiliary heads"
        )
    if len(weights) != n_aux:
        raise ConfigError(
            f"{name}.aux_weights {tuple(weights)} has {len(weights)} entries for {n_aux} auxiliary outputs"
        )
    return tuple(weights)


def training_loss(
    out: torch.Tensor | tuple, y: torch.Tensor, loss_fn: LossFn, net: nn.Module
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logits, loss)`` of a training forward: with ``(logits, aux)`` outputs the loss is
    ``loss_fn(logits) + sum(w_i * loss_fn(aux_i))`` with ``w = net.aux_weights``."""
    if not isinstance(out, tuple):
        return out, loss_fn(out, y)
    logits, aux = out
    aux = (aux,) if isinstance(aux, torch.Tensor) else tuple(aux)
    loss = loss_fn(logits, y)
    for w, a in zip(_aux_weights(net, len(aux)), aux):
        loss = loss + w * loss_fn(a, y)
    return logits, loss


def _forward_train(model: nn.Module, net: nn.Module, x: torch.Tensor) -> torch.Tensor | tuple:
    # A wrapper (DDP, torch.compile) was built around training_module(model) and returns
    # what it returns; a bare model with enabled auxiliary heads trains through forward_aux.
    if model is net and uses_aux(net):
        return net.forward_aux(x)
    return model(x)


def _lr(optimizer: torch.optim.Optimizer | None) -> float:
    return float(optimizer.param_groups[0]["lr"]) if optimizer is not None and optimizer.param_groups else float("nan")


def _step_batch(scheduler: Any) -> None:
    if scheduler is not None and callable(getattr(scheduler, "step_batch", None)):
        scheduler.step_batch()


def _step_epoch(scheduler: Any, metrics: Mapping[str, Any], validated: bool = True) -> None:
    # An epoch without validation (val_every > 1) moves no plateau counter.

    if scheduler is None:
        return
    if isinstance(scheduler, Schedule):
        scheduler.step_epoch(dict(metrics), validated=validated)
    elif callable(getattr(scheduler, "step_epoch", None)):
        scheduler.step_epoch(dict(metrics))
    elif isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        if validated:
            scheduler.step(metrics.get("val_loss", metrics.get("train_loss")))
    elif isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler):
        scheduler.step()


def _diverged(value: float, epoch: int, step: int, global_step: int, lr: float, where: str) -> TrainingDivergedError:
    return TrainingDivergedError(
        f"training diverged: the {where} loss is {value} at epoch {epoch + 1}, step {step + 1} "
        f"(global step {global_step}, lr {lr:.3g}); the step was not applied and no checkpoint was "
        "written for this epoch. Resume from the last checkpoint with a lower learning rate "
        "(--lr), gradient clipping (grad_clip), or amp off; check the data for NaNs",
        epoch=epoch,
        step=step,
        value=value,
    )


# -- one epoch --------------------------------------------------------------------------------
def train_one_epoch(
    model: nn.Module,
    loader: Iterable,
    optimizer: torch.optim.Optimizer,
    *,
    device: str | torch.device,
    loss_fn: LossFn | None = None,
    scheduler: Any = None,
    epoch: int = 0,
    amp: bool | str = False,
    scaler: torch.amp.GradScaler | None = None,
    channels_last: bool = False,
    grad_clip: float | None = None,
    callbacks: Sequence[Callback] = (),
    state: TrainState | None = None,
    max_steps: int | None = None,
) -> dict[str, float]:
    """Train ``model`` on one pass over ``loader``; returns ``loss`` (mean per image of the
    loss optimised, auxiliary terms included), ``acc1`` (of the main head), ``images``,
    ``steps``, ``seconds`` and ``images_per_s``, over all ranks under DDP.

    ``loss_fn(logits, labels)`` must return the batch mean (default: cross-entropy).
    ``scheduler.step_batch()`` runs after every optimizer step; ``state`` (made if not
    given) counts ``global_step`` and is what ``callbacks`` receive. Raises
    :class:`TrainingDivergedError` on a NaN or infinite loss, before that step is applied.
    """
    device = torch.device(device)
    net = unwrap(model)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    dtype = autocast_dtype(amp, device)
    if scaler is None:
        scaler = make_scaler(amp, device)
    if state is None:
        state = TrainState(model=model, optimizer=optimizer, scheduler=scheduler, epoch=epoch, device=device)
    set_loader_epoch(loader, epoch)
    model.train()
    loss_sum = correct = 0.0
    images = steps = 0
    start = time.perf_counter()
    for step, (x, y) in enumerate(loader):
        if max_steps is not None and step >= max_steps:
            break
        x, y = _to_device(x, y, device, channels_last)
        with _autocast(device, dtype):
            logits, loss = training_loss(_forward_train(model, net, x), y, loss_fn, net)
        batch_loss, batch_correct = torch.stack(
            [loss.detach().float(), (logits.argmax(1) == _hard_labels(y)).sum().float()]
        ).tolist()  # one device sync per step
        if any_rank(not math.isfinite(batch_loss)):
            raise _diverged(batch_loss, epoch, step, state.global_step, _lr(optimizer), "training")
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            if grad_clip:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            if grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
        _step_batch(scheduler)
        state.global_step += 1
        n = y.shape[0]
        loss_sum += batch_loss * n
        correct += batch_correct
        images += n
        steps += 1
        if callbacks:
            elapsed = time.perf_counter() - start
            call_hook(
                callbacks,
                "on_batch_end",
                state,
                {
                    "phase": "train",
                    "step": step,
                    "global_step": state.global_step,
                    "loss": batch_loss,
                    "acc1": batch_correct / n,
                    "batch_size": n,
                    "lr": _lr(optimizer),
                    "running_loss": loss_sum / images,
                    "running_acc1": correct / images,
                    "images_per_s": images / elapsed if elapsed > 0 else 0.0,
                },
            )
    totals = all_reduce_metrics({"loss_sum": loss_sum, "correct": correct, "images": images}, op="sum")
    seconds = all_reduce_metrics({"s": time.perf_counter() - start}, op="mean")["s"]
    total = max(totals["images"], 1)
    return {
        "loss": totals["loss_sum"] / total,
        "acc1": totals["correct"] / total,
        "images": int(totals["images"]),
        "steps": steps,
        "seconds": seconds,
        "images_per_s": totals["images"] / seconds if seconds > 0 else 0.0,
    }


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable,
    *,
    device: str | torch.device,
    loss_fn: LossFn | None = None,
    topk: Sequence[int] = (1, 5),
    amp: bool | str = False,
    channels_last: bool = False,
    callbacks: Sequence[Callback] = (),
    state: TrainState | None = None,
    return_outputs: bool = False,
    max_steps: int | None = None,
) -> dict[str, Any]:
    """Loss and top-k accuracy of ``model`` (in eval mode) over ``loader``: ``loss``,
    ``acc1``, ``acc5`` (each k in ``topk`` up to the number of classes), ``images``,
    ``seconds``, ``images_per_s``; summed over ranks under DDP. ``return_outputs=True`` adds
    ``logits`` (float32, on the CPU) and ``labels``, this rank's only."""
    device = torch.device(device)
    net = unwrap(model)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    dtype = autocast_dtype(amp, device)
    sums: dict[str, float] = {"loss_sum": 0.0, "images": 0.0, **{f"correct{k}": 0.0 for k in topk}}
    num_classes = None
    outputs: list[torch.Tensor] = []
    labels: list[torch.Tensor] = []
    start = time.perf_counter()
    with modes_kept(net):
        net.eval()
        for step, (x, y) in enumerate(loader):
            if max_steps is not None and step >= max_steps:
                break
            x, y = _to_device(x, y, device, channels_last)
            with _autocast(device, dtype):
                logits = net(x)
                loss = loss_fn(logits, y)
            n = y.shape[0]
            num_classes = logits.shape[1]
            target = _hard_labels(y)
            correct = topk_correct(logits, target, topk)
            sums["loss_sum"] += float(loss) * n
            sums["images"] += n
            for k in topk:
                sums[f"correct{k}"] += float(correct[k])
            if return_outputs:
                outputs.append(logits.float().cpu())
                labels.append(y.cpu())
            if callbacks:
                call_hook(
                    callbacks,
                    "on_batch_end",
                    state,
                    {"phase": "val", "step": step, "loss": float(loss), "batch_size": n},
                )
    seconds = time.perf_counter() - start
    sums = all_reduce_metrics(sums, op="sum")
    total = max(sums["images"], 1)
    result: dict[str, Any] = {"loss": sums["loss_sum"] / total}
    for k in topk:
        if num_classes is None or k <= num_classes:
            result[f"acc{k}"] = sums[f"correct{k}"] / total
    result.update(
        images=int(sums["images"]), seconds=seconds, images_per_s=sums["images"] / seconds if seconds > 0 else 0.0
    )
    if return_outputs:
        result["logits"] = torch.cat(outputs) if outputs else torch.empty(0)
        result["labels"] = torch.cat(labels) if labels else torch.empty(0, dtype=torch.long)
    return result


# -- the run ----------------------------------------------------------------------------------
def fit(
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable | None,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    device: str | torch.device,
    scheduler: Any = None,
    start_epoch: int = 0,
    callbacks: Sequence[Callback] = (),
    amp: bool | str = False,
    scaler: torch.amp.GradScaler | None = None,
    channels_last: bool = False,
    grad_clip: float | None = None,
    loss_fn: LossFn | None = None,
    val_loss_fn: LossFn | None = None,
    recipe: Mapping[str, Any] | None = None,
    run_dir: str | Path | None = None,
    history: Iterable[Mapping[str, Any]] | None = None,
    global_step: int = 0,
    resume_from: str | Path | None = None,
    lr: float | None = None,
    topk: Sequence[int] = (1, 5),
    max_steps_per_epoch: int | None = None,
    val_every: int = 1,
) -> History:
    """Train for epochs ``start_epoch .. epochs - 1``, validating after each; returns the
    :class:`History` of per-epoch rows: ``epoch`` (epochs completed), ``lr`` (at the epoch's
    last step), ``train_loss``, ``train_acc1``, ``train_images_per_s``, ``train_seconds``,
    ``val_loss``, ``val_acc1``, ``val_acc5``, ``val_seconds``, ``epoch_seconds``.

    ``val_every=N`` validates after every N-th epoch and the last one only (Keras'
    ``validation_freq``): the other rows have no ``val_*`` entries, and the best checkpoint,
    early stopping and plateau schedules count validated epochs only.

    ``model`` is the cnnlab model, or a DDP/compiled wrapper of it (see
    :func:`~cnnlab.engine.distributed.wrap_ddp`). ``resume_from`` (a run directory or a
    checkpoint file) restores model, optimizer, scheduler, scaler, loader, history and
    random generators and continues after the last completed epoch; ``lr`` then replaces
    the learning rate. The caller has already moved the model to ``device``.

    ``loss_fn`` is the training loss (e.g. cross-entropy with label smoothing);
    validation uses ``val_loss_fn``, plain cross-entropy unless given, so validation
    losses stay comparable across recipes.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"epochs must be a positive whole number, got {epochs!r}")
    if isinstance(val_every, bool) or not isinstance(val_every, int) or val_every < 1:
        raise ConfigError(
            f"val_every must be a positive whole number of epochs (1: validate after every epoch), got {val_every!r}"
        )
    device = torch.device(device)
    net = unwrap(model)
    if channels_last:
        net.to(memory_format=torch.channels_last)
    if scaler is None:
        scaler = make_scaler(amp, device)
    ckpt = None
    if resume_from is not None:
        path = Path(resume_from)
        ckpt = (
            load_checkpoint(path, map_location=device)
            if path.is_file()
            else resume_state(path, map_location=device, note=lambda text: None)[1]
        )
        start_epoch = restore_training_state(ckpt, net, optimizer, scheduler, scaler, train_loader, lr=lr, rng=False)
        global_step = int(ckpt.get("global_step", 0))
        history = ckpt.get("history") or []
    if not 0 <= start_epoch <= epochs:
        raise ConfigError(f"start_epoch {start_epoch} is outside 0..epochs ({epochs}); raise --epochs to train further")
    state = TrainState(
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=scaler,
        epoch=start_epoch,
        epochs=epochs,
        start_epoch=start_epoch,
        global_step=global_step,
        history=History(dict(r) for r in (history or []) if r.get("epoch", 0) <= start_epoch),
        run_dir=Path(run_dir) if run_dir is not None else None,
        rank=get_rank(),
        world_size=get_world_size(),
        recipe=dict(recipe or {}),
        device=device,
        train_loader=train_loader,
        val_loader=val_loader,
        steps_per_epoch=_steps(train_loader, max_steps_per_epoch),
        val_every=val_every,
    )
    common = dict(device=device, amp=amp, channels_last=channels_last)
    try:
        call_hook(callbacks, "on_fit_start", state)
        if ckpt is not None and ckpt.get("rng"):
            set_rng_state(own_rng_state(ckpt))  # last, so nothing above draws from the restored generators
        for epoch in range(start_epoch, epochs):
            state.epoch = epoch
            epoch_start = time.perf_counter()
            call_hook(callbacks, "on_epoch_start", state)
            train = train_one_epoch(
                model,
                train_loader,
                optimizer,
                loss_fn=loss_fn,
                scheduler=scheduler,
                epoch=epoch,
                scaler=scaler,
                grad_clip=grad_clip,
                callbacks=callbacks,
                state=state,
                max_steps=max_steps_per_epoch,
                **common,
            )
            row: dict[str, Any] = {"epoch": epoch + 1, "lr": _lr(optimizer)}
            row.update({f"train_{k}": v for k, v in train.items() if k in ("loss", "acc1", "images_per_s", "seconds")})
            state.validated = val_loader is not None and validates(epoch, epochs, val_every)
            if state.validated:
                val = evaluate(
                    model, val_loader, loss_fn=val_loss_fn, topk=topk, callbacks=callbacks, state=state, **common
                )
                if not math.isfinite(val["loss"]):
                    raise _diverged(
                        val["loss"], epoch, train["steps"] - 1, state.global_step, _lr(optimizer), "validation"
                    )
                row.update({f"val_{k}": v for k, v in val.items() if k not in ("images", "images_per_s")})
            row["epoch_seconds"] = time.perf_counter() - epoch_start
            _step_epoch(scheduler, row, validated=state.validated or val_loader is None)
            state.history.append(row)
            call_hook(callbacks, "on_epoch_end", state, row)
            if state.stop_training:
                state.status = "stopped"
                break
        else:
            state.status = "completed"
    except TrainingDivergedError:
        state.status = "diverged"
        raise
    except KeyboardInterrupt:
        state.status = "interrupted"
        raise
    except BaseException:
        state.status = "failed"
        raise
    finally:
        call_hook(callbacks, "on_fit_end", state)
    return state.history


def validates(epoch: int, epochs: int, val_every: int = 1) -> bool:
    """Whether the epoch with 0-based index ``epoch`` of ``epochs`` ends with validation:
    every ``val_every``-th epoch and always the last."""
    return (epoch + 1) % val_every == 0 or epoch + 1 == epochs


def _steps(loader: Any, max_steps: int | None) -> int | None:
    n = _length(loader)
    if max_steps is None:
        return n
    return max_steps if n is None else min(n, max_steps)
