"""What happens around the training loop: progress, logs, checkpoints, early stopping.

The loop calls five hooks on every callback, in the order the callbacks were given::

    on_fit_start(state)                  before the first epoch (after a resume is loaded)
    on_epoch_start(state)                before each epoch; state.epoch is its 0-based index
    on_batch_end(state, batch_metrics)   after each training step: phase "train", step,
                                         global_step, loss, acc1, batch_size, lr,
                                         running_loss, running_acc1, images_per_s; and after
                                         each evaluation batch: phase "val", step, loss,
                                         batch_size (state is None when evaluate() runs
                                         outside fit)
    on_epoch_end(state, metrics)         after validation and the scheduler's epoch step;
                                         metrics is the epoch's row, already in state.history
    on_fit_end(state)                    always, also when training failed; state.status says
                                         "completed", "stopped" (early), "diverged",
                                         "interrupted" or "failed"

A callback may set ``state.stop_training = True`` to end the run after the current epoch.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from .checkpoint import atomic_copy, atomic_write, checkpoint_dir, rank_rng_states, save_checkpoint, training_checkpoint
from .distributed import unwrap

PrintFn = Callable[[str], None]


class History(list):
    """Per-epoch metric rows (dicts), oldest first."""

    def column(self, key: str) -> list[Any]:
        return [row.get(key) for row in self]

    def best(self, key: str, mode: str = "max") -> dict[str, Any] | None:
        rows = [r for r in self if _finite(r.get(key))]
        if not rows:
            return None
        pick = max if mode == "max" else min
        return pick(rows, key=lambda r: r[key])


@dataclass
class TrainState:
    """What callbacks see of a run. ``epoch`` is the 0-based index of the current (or just
    finished) epoch; rows in ``history`` carry ``epoch`` = index + 1, the epochs completed.
    ``validated``: whether the epoch just finished was validated (``val_every``)."""

    model: nn.Module
    optimizer: torch.optim.Optimizer | None = None
    scheduler: Any = None
    scaler: Any = None
    epoch: int = 0
    epochs: int = 0
    start_epoch: int = 0
    global_step: int = 0
    history: History = field(default_factory=History)
    run_dir: Path | None = None
    rank: int = 0
    world_size: int = 1
    recipe: dict[str, Any] = field(default_factory=dict)
    device: torch.device = torch.device("cpu")
    train_loader: Any = None
    val_loader: Any = None
    steps_per_epoch: int | None = None
    val_every: int = 1
    validated: bool = False
    stop_training: bool = False
    status: str = "running"
    extra: dict[str, Any] = field(default_factory=dict)  # shared scratch space for callbacks

    @property
    def is_main(self) -> bool:
        return self.rank == 0


class Callback:
    """Base class: every hook does nothing."""

    def on_fit_start(self, state: TrainState) -> None:
        pass

    def on_epoch_start(self, state: TrainState) -> None:
        pass

    def on_batch_end(self, state: TrainState, batch_metrics: Mapping[str, Any]) -> None:
        pass

    def on_epoch_end(self, state: TrainState, metrics: Mapping[str, Any]) -> None:
        pass

    def on_fit_end(self, state: TrainState) -> None:
        pass


def call_hook(callbacks: Iterable[Callback], hook: str, *args: Any) -> None:
    for cb in callbacks:
        getattr(cb, hook)(*args)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_mode(mode: str) -> None:
    if mode not in ("min", "max"):
        raise ConfigError(f"mode must be 'min' or 'max', got {mode!r}")


def _improved(value: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    if best is None:
        return True
    return value > best + min_delta if mode == "max" else value < best - min_delta


def _check_monitor(state: TrainState, monitor: str, who: str) -> None:
    if monitor.startswith("val_") and state.val_loader is None:
        raise ConfigError(
            f"{who} monitors {monitor!r} but the run has no validation data; give a validation "
            "loader or monitor a training metric such as 'train_loss'"
        )


# -- progress ---------------------------------------------------------------------------------
def _fmt_epoch_line(state: TrainState, m: Mapping[str, Any]) -> str:
    parts = [f"epoch {m.get('epoch')}/{state.epochs}"]
    if "train_loss" in m:
        parts.append(f"train loss {m['train_loss']:.4f} acc {100 * m['train_acc1']:.2f}%")
    if "val_loss" in m:
        val = f"val loss {m['val_loss']:.4f} acc1 {100 * m['val_acc1']:.2f}%"
        if "val_acc5" in m:
            val += f" acc5 {100 * m['val_acc5']:.2f}%"
        parts.append(val)
    if "lr" in m:
        parts.append(f"lr {m['lr']:.3g}")
    if "train_images_per_s" in m:
        parts.append(f"{m['train_images_per_s']:,.0f} img/s")
    if "epoch_seconds" in m:
        parts.append(f"{m['epoch_seconds']:.1f}s")
    return " | ".join(parts)


class ProgressBar(Callback):
    """A tqdm bar per epoch (loss, accuracy, images/s, ETA) and a one-line summary per epoch.

    The bar shows on rank 0 when ``file`` is a terminal, or always with ``force=True``; the
    summary lines go to ``print_fn`` on rank 0 (``summary=False`` silences them). Other
    keyword arguments go to ``tqdm`` (``mininterval``, ``ncols`` ...).
    """

    def __init__(
        self,
        force: bool = False,
        summary: bool = True,
        file: Any = None,
        print_fn: PrintFn | None = None,
        **tqdm_kwargs: Any,
    ) -> None:
        self.force, self.summary, self.file, self.print_fn = force, summary, file, print_fn
        self.tqdm_kwargs = {"leave": False, "dynamic_ncols": True, **tqdm_kwargs}
        self._bar: Any = None

    def _enabled(self, state: TrainState) -> bool:
        file = self.file or sys.stderr
        return state.is_main and (self.force or (hasattr(file, "isatty") and file.isatty()))

    def on_epoch_start(self, state: TrainState) -> None:
        if not self._enabled(state):
            return
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=state.steps_per_epoch,
            desc=f"epoch {state.epoch + 1}/{state.epochs}",
            unit="step",
            file=self.file or sys.stderr,
            **self.tqdm_kwargs,
        )

    def on_batch_end(self, state: TrainState, batch_metrics: Mapping[str, Any]) -> None:
        if self._bar is None or batch_metrics.get("phase") != "train":
            return
        self._bar.update(1)
        self._bar.set_postfix(
            loss=f"{batch_metrics['running_loss']:.4f}",
            acc=f"{100 * batch_metrics['running_acc1']:.1f}%",
            img_s=f"{batch_metrics['images_per_s']:,.0f}",
            refresh=False,
        )

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def on_epoch_end(self, state: TrainState, metrics: Mapping[str, Any]) -> None:
        self._close()
        if self.summary and state.is_main:
            (self.print_fn or print)(_fmt_epoch_line(state, metrics))

    def on_fit_end(self, state: TrainState) -> None:
        self._close()


# -- metrics files ----------------------------------------------------------------------------
def _write_line(path: Path, line: str) -> None:
    # One line per epoch, on disk before the next epoch starts.
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def _csv_text(rows: list[Mapping[str, Any]], columns: list[str], header: bool) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    if header:
        writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a metrics.jsonl; a torn last line (a crash mid-write) is skipped."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


class MetricsLogger(Callback):
    """Per-epoch rows appended to ``run_dir/metrics.csv`` and ``run_dir/metrics.jsonl`` (rank 0).

    A fresh run (``start_epoch == 0``) starts both files anew. A resumed run rewrites them
    from the checkpoint's history (or, without one, keeps the rows of the epochs completed
    before ``start_epoch``), so epochs redone after a crash are never listed twice.
    """

    CSV, JSONL = "metrics.csv", "metrics.jsonl"

    def __init__(self, run_dir: str | Path | None = None) -> None:
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.columns: list[str] = []
        self.rows: list[dict[str, Any]] = []

    def on_fit_start(self, state: TrainState) -> None:
        if not state.is_main:
            return
        if self.run_dir is None:
            if state.run_dir is None:
                raise ConfigError(
                    "MetricsLogger needs a run directory: MetricsLogger(run_dir) or fit(..., run_dir=...)"
                )
            self.run_dir = Path(state.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        jsonl = self.run_dir / self.JSONL
        if state.start_epoch == 0:
            rows: list[dict[str, Any]] = []
        elif state.history:
            rows = [dict(r) for r in state.history if r.get("epoch", 0) <= state.start_epoch]
        else:
            rows = [r for r in (read_jsonl(jsonl) if jsonl.exists() else []) if r.get("epoch", 0) <= state.start_epoch]
        self._rewrite(rows)

    def _rewrite(self, rows: list[dict[str, Any]]) -> None:
        assert self.run_dir is not None
        self.rows = rows
        self.columns = []
        for row in rows:
            self.columns += [k for k in row if k not in self.columns]
        jsonl_text = "".join(json.dumps(r) + "\n" for r in rows)
        csv_text = _csv_text(rows, self.columns, header=bool(rows))
        atomic_write(self.run_dir / self.JSONL, lambda f: f.write(jsonl_text.encode()))
        atomic_write(self.run_dir / self.CSV, lambda f: f.write(csv_text.encode()))

    def on_epoch_end(self, state: TrainState, metrics: Mapping[str, Any]) -> None:
        if not state.is_main or self.run_dir is None:
            return
        row = dict(metrics)
        if any(k not in self.columns for k in row):
            self._rewrite([*self.rows, row])  # a new column: the header must change
            return
        self.rows.append(row)
        _write_line(self.run_dir / self.JSONL, json.dumps(row) + "\n")
        _write_line(self.run_dir / self.CSV, _csv_text([row], self.columns, header=False))


# -- checkpoints ------------------------------------------------------------------------------
class Checkpointer(Callback):
    """``checkpoints/last.pt`` every epoch, ``epoch_XXX.pt`` every ``every`` epochs (XXX =
    epochs completed; ``every=None`` or 0: none), ``best.pt`` when ``monitor`` improves.

    Rank 0 only. A state with a non-finite loss or non-finite weights is never saved, so the
    last good checkpoint survives a diverging run.
    """

    def __init__(
        self,
        run_dir: str | Path | None = None,
        every: int | None = 5,
        monitor: str | None = "val_acc1",
        mode: str = "max",
        print_fn: PrintFn | None = None,
    ) -> None:
        if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 0):
            raise ConfigError(f"Checkpointer every must be a whole number of epochs (0 or None: never), got {every!r}")
        _check_mode(mode)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.every, self.monitor, self.mode = every, monitor, mode
        self.print_fn = print_fn
        self.best: float | None = None
        self.last_saved: Path | None = None

    @property
    def folder(self) -> Path:
        assert self.run_dir is not None
        return checkpoint_dir(self.run_dir)

    def on_fit_start(self, state: TrainState) -> None:
        if self.run_dir is None:
            if state.run_dir is None:
                raise ConfigError("Checkpointer needs a run directory: Checkpointer(run_dir) or fit(..., run_dir=...)")
            self.run_dir = Path(state.run_dir)
        if self.monitor:
            _check_monitor(state, self.monitor, "Checkpointer")
            best = History(state.history).best(self.monitor, self.mode)
            self.best = None if best is None else best[self.monitor]

    def on_epoch_end(self, state: TrainState, metrics: Mapping[str, Any]) -> None:
        rank_rngs = rank_rng_states()  # a collective under DDP: every rank takes part
        if not state.is_main:
            return
        bad = [k for k, v in metrics.items() if k.endswith("loss") and not _finite(v)]
        if bad or not all(
            torch.isfinite(t).all() for t in unwrap(state.model).state_dict().values() if t.is_floating_point()
        ):
            (self.print_fn or print)(
                f"checkpoint for epoch {metrics.get('epoch')} not saved: non-finite {bad or 'weights'}"
            )
            return
        last = save_checkpoint(self.folder / "last.pt", training_checkpoint(state, metrics, rank_rngs))
        self.last_saved = last
        n = state.epoch + 1
        if self.every and n % self.every == 0:
            atomic_copy(last, self.folder / f"epoch_{n:03d}.pt")
        value = metrics.get(self.monitor) if self.monitor else None
        if _finite(value) and _improved(value, self.best, self.mode):
            self.best = value
            atomic_copy(last, self.folder / "best.pt")


# -- early stopping ---------------------------------------------------------------------------
class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.
    Its count is recomputed from the history on resume. With ``val_every`` > 1 a
    validation metric is watched over the validated epochs only: patience counts those."""

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "min",
        patience: int = 10,
        min_delta: float = 0.0,
        print_fn: PrintFn | None = None,
    ) -> None:
        _check_mode(mode)
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ConfigError(f"EarlyStopping patience must be a positive number of epochs, got {patience!r}")
        self.monitor, self.mode, self.patience, self.min_delta = monitor, mode, patience, float(min_delta)
        self.print_fn = print_fn
        self.best: float | None = None
        self.wait = 0

    def _update(self, value: Any) -> None:
        if _finite(value) and _improved(value, self.best, self.mode, self.min_delta):
            self.best, self.wait = value, 0
        else:
            self.wait += 1

    def on_fit_start(self, state: TrainState) -> None:
        _check_monitor(state, self.monitor, "EarlyStopping")
        self.best, self.wait = None, 0
        for row in state.history:
            if self.monitor in row or not self.monitor.startswith("val_"):
                self._update(row.get(self.monitor))

    def on_epoch_end(self, state: TrainState, metrics: Mapping[str, Any]) -> None:
        if self.monitor not in metrics and self.monitor.startswith("val_") and not state.validated:
            return  # an epoch without validation (val_every): nothing to compare
        if self.monitor not in metrics:
            raise ConfigError(f"EarlyStopping monitors {self.monitor!r}, not among the epoch metrics {sorted(metrics)}")
        self._update(metrics[self.monitor])
        if self.wait >= self.patience:
            state.stop_training = True
            if state.is_main:
                (self.print_fn or print)(
                    f"early stopping after epoch {metrics.get('epoch')}: {self.monitor} has not improved on "
                    f"{self.best:.4g} for {self.wait} epochs"
                )


# -- optional loggers -------------------------------------------------------------------------
class TensorBoardLogger(Callback):
    """Scalars for TensorBoard in ``run_dir/tensorboard`` (rank 0): every epoch's metrics and
    the training loss every ``log_every`` steps. Skipped with a one-line notice when
    ``torch.utils.tensorboard`` cannot be imported (``pip install tensorboard``)."""

    def __init__(self, run_dir: str | Path | None = None, log_every: int = 50, print_fn: PrintFn | None = None) -> None:
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.log_every, self.print_fn = log_every, print_fn
        self.writer: Any = None

    def on_fit_start(self, state: TrainState) -> None:
        if not state.is_main:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            (self.print_fn or print)(f"TensorBoard logging skipped: {err} (pip install tensorboard)")
            return
        root = self.run_dir or (Path(state.run_dir) if state.run_dir is not None else Path("runs"))
        # purge_step drops events a crashed run wrote after its last checkpoint.
        self.writer = SummaryWriter(str(root / "tensorboard"), purge_step=state.global_step or None)

    def on_batch_end(self, state: TrainState, batch_metrics: Mapping[str, Any]) -> None:
        if (
            self.writer is not None
            and batch_metrics.get("phase") == "train"
            and state.global_step % self.log_every == 0
        ):
            self.writer.add_scalar("batch/train_loss", batch_metrics["loss"], state.global_step)
            self.writer.add_scalar("batch/lr", batch_metrics["lr"], state.global_step)

    def on_epoch_end(self, state: TrainState, metrics: Mapping[str, Any]) -> None:
        if self.writer is None:
            return
        for key, value in metrics.items():
            if key != "epoch" and _finite(value):
                self.writer.add_scalar(f"epoch/{key}", value, metrics.get("epoch", state.epoch + 1))
        self.writer.flush()

    def on_fit_end(self, state: TrainState) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class WandbLogger(Callback):
    """Weights & Biases logging (rank 0), when the ``wandb`` package is installed; skipped
    with a one-line notice otherwise. Runs offline unless ``mode`` or ``WANDB_MODE`` says
    otherwise (sync later with ``wandb sync``)."""

    def __init__(
        self,
        project: str = "cnnlab",
        name: str | None = None,
        run_dir: str | Path | None = None,
        mode: str | None = None,
        print_fn: PrintFn | None = None,
    ) -> None:
        self.project, self.name, self.mode, self.print_fn = project, name, mode, print_fn
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.run: Any = None

    def on_fit_start(self, state: TrainState) -> None:
        if not state.is_main:
            return
        try:
            import wandb
        except ImportError:
            (self.print_fn or print)(
                "Weights & Biases logging skipped: the wandb package is not installed (pip install wandb)"
            )
            return
        root = self.run_dir or (Path(state.run_dir) if state.run_dir is not None else None)
        self.run = wandb.init(
            project=self.project,
            name=self.name,
            config=dict(state.recipe or {}),
            dir=str(root) if root is not None else None,
            mode=self.mode or os.environ.get("WANDB_MODE") or "offline",
            resume="allow" if state.start_epoch else None,
        )

    def on_epoch_end(self, state: TrainState, metrics: Mapping[str, Any]) -> None:
        if self.run is not None:
            self.run.log({k: v for k, v in metrics.items() if _finite(v)}, step=state.global_step)

    def on_fit_end(self, state: TrainState) -> None:
        if self.run is not None:
            self.run.finish(exit_code=0 if state.status in ("completed", "stopped") else 1)
            self.run = None
