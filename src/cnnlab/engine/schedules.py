"""Learning-rate schedules: the papers' and the course's, behind one small protocol.

The training loop drives every schedule the same way::

    schedule = build_schedule(optimizer, recipe.schedule, epochs=E, steps_per_epoch=S)
    for epoch in range(E):
        for batch in loader:
            ...; optimizer.step()
            schedule.step_batch()          # after every optimizer step
        metrics = evaluate(...)
        schedule.step_epoch(metrics)       # after each epoch's validation

and checkpoints ``schedule.state_dict()``. Each schedule changes the learning rate either per
epoch or per optimizer step (``ScheduleSpec.per``); the other call does nothing for it. The
PyTorch scheduler classes do the arithmetic where one fits (``StepLR``, ``MultiStepLR``,
``CosineAnnealingLR``, ``OneCycleLR``, ``ReduceLROnPlateau``; ``LambdaLR`` with small picklable
factor objects for the epoch table, polynomial and inverse-time decay).

Warmup is an overlay on absolute time, as in Goyal et al. (2017, Sec. 2.2) and He et al.
(2015, Sec. 4.2): for the first ``warmup_steps`` optimizer steps the main schedule's
learning rate is multiplied by a factor that rises linearly from ``warmup_factor`` to 1
(``warmup_mode="linear"``) or stays at ``warmup_factor`` (``"constant"``: ResNet-110's 0.01
before 0.1). The main schedule's own clock is not shifted, so milestones stay where the
paper put them. A warmup given in epochs is converted to steps and ramps per step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import torch
from torch.optim import Optimizer, lr_scheduler

from ..errors import ConfigError
from .typed import from_mapping

SCHEDULES = ("constant", "step", "multistep", "epochs", "poly", "cosine", "onecycle", "plateau", "inverse_time")

# When each schedule changes the learning rate unless ScheduleSpec.per says otherwise.
DEFAULT_PER = {
    "constant": "epoch",
    "step": "epoch",
    "multistep": "epoch",
    "epochs": "epoch",
    "poly": "epoch",  # the course's LearningRateScheduler(poly_decay) is called per epoch
    "cosine": "step",
    "onecycle": "step",
    "plateau": "epoch",
    "inverse_time": "step",  # Keras' SGD(decay=...) decays per update, not per epoch
}
# Schedules that only make sense at one granularity.
FIXED_PER = {"epochs": "epoch", "plateau": "epoch", "onecycle": "step"}


@dataclass
class ScheduleSpec:
    """What a learning-rate schedule is, as plain data (a recipe's ``schedule:`` block).

    ``name`` picks the schedule; each uses only its own fields:

    - ``constant``: the optimizer's lr throughout.
    - ``step``: multiply by ``gamma`` every ``step_size`` epochs (or steps).
    - ``multistep``: multiply by ``gamma`` at each of ``milestones`` (epochs or steps).
    - ``epochs``: ``table`` maps the first epoch (0-based) of each stage to its lr,
      ``{0: 1e-2, 25: 1e-3, 35: 1e-4}``; the optimizer's lr should equal ``table[0]``
      (otherwise the table scales it proportionally).
    - ``poly``: ``lr0 * (1 - t / T) ** power`` down to ``min_lr``, T = all epochs (or steps).
    - ``cosine``: cosine annealing from lr0 to ``min_lr`` over the run.
    - ``onecycle``: Smith's one cycle up to ``max_lr`` (``pct_start``, ``div_factor``,
      ``final_div_factor``, ``cycle_momentum`` as ``torch.optim.lr_scheduler.OneCycleLR``).
    - ``plateau``: multiply by ``factor`` when ``monitor`` has not improved (``mode``
      ``"min"`` or ``"max"``, by ``threshold``) for ``patience`` epochs, then wait
      ``cooldown`` epochs; never below ``min_lr``.
    - ``inverse_time``: Keras' ``SGD(decay=d)``: ``lr0 / (1 + decay * t)``, t = updates done.

    ``per`` is ``"epoch"`` or ``"step"`` (None: the schedule's usual one, ``DEFAULT_PER``).
    ``warmup_epochs`` or ``warmup_steps`` (not both) add a warmup before any of them.
    """

    name: Literal[
        "constant", "step", "multistep", "epochs", "poly", "cosine", "onecycle", "plateau", "inverse_time"
    ] = "constant"
    per: Literal["epoch", "step"] | None = None
    step_size: int | None = None
    gamma: float = 0.1
    milestones: list[int] = field(default_factory=list)
    table: dict[int, float] = field(default_factory=dict)
    power: float = 1.0
    min_lr: float = 0.0
    max_lr: float | None = None
    pct_start: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    cycle_momentum: bool = True
    factor: float = 0.1
    patience: int = 10
    monitor: str = "val_loss"
    mode: Literal["min", "max"] = "min"
    threshold: float = 1e-4
    cooldown: int = 0
    decay: float = 0.0
    warmup_epochs: float = 0.0
    warmup_steps: int = 0
    warmup_factor: float = 0.1
    warmup_mode: Literal["linear", "constant"] = "linear"

    @property
    def interval(self) -> str:
        """``"epoch"`` or ``"step"``: when this schedule changes the learning rate."""
        return self.per or DEFAULT_PER[self.name]


def check_schedule_spec(spec: ScheduleSpec, *, epochs: int | None = None, prefix: str = "schedule") -> None:
    """Raise :class:`ConfigError` for a spec that cannot run; ``prefix`` names it in messages."""
    p = prefix
    if spec.name not in SCHEDULES:
        raise ConfigError(f"{p}.name={spec.name!r} is not a schedule; use one of {', '.join(SCHEDULES)}")
    fixed = FIXED_PER.get(spec.name)
    if spec.per is not None and fixed and spec.per != fixed:
        raise ConfigError(
            f"{p}.per={spec.per!r} does not fit the {spec.name!r} schedule, which works per {fixed}; "
            f"remove {p}.per or set it to {fixed!r}"
        )
    if spec.name == "step" and (spec.step_size is None or spec.step_size < 1):
        raise ConfigError(
            f"{p}.step_size={spec.step_size!r}: the step schedule needs a positive step_size "
            f"(epochs or steps between decays), e.g. {p}.step_size=30"
        )
    if spec.name in ("step", "multistep") and not 0 < spec.gamma <= 1:
        raise ConfigError(f"{p}.gamma={spec.gamma!r} must be in (0, 1]; the usual value is 0.1")
    if spec.name == "multistep":
        ms = spec.milestones
        if not ms or any(m < 1 for m in ms) or any(b <= a for a, b in zip(ms, ms[1:])):
            raise ConfigError(
                f"{p}.milestones={ms!r} must be a non-empty, strictly increasing list of positive "
                f"epochs (or steps), e.g. {p}.milestones=[30,60,80]"
            )
    if spec.name == "epochs":
        t = spec.table
        if not t or min(t) != 0 or any(k < 0 for k in t):
            raise ConfigError(
                f"{p}.table={t!r} must map epochs (from 0) to learning rates and start at epoch 0, "
                f"e.g. {{0: 0.01, 25: 0.001, 35: 0.0001}}"
            )
        bad = {k: v for k, v in t.items() if not v > 0}
        if bad:
            raise ConfigError(f"{p}.table has learning rates that are not positive: {bad!r}")
    if spec.name == "poly" and spec.power < 0:
        raise ConfigError(f"{p}.power={spec.power!r} must be >= 0 (1.0 is linear decay)")
    if spec.min_lr < 0:
        raise ConfigError(f"{p}.min_lr={spec.min_lr!r} must be >= 0")
    if spec.name == "onecycle":
        if spec.max_lr is None or not spec.max_lr > 0:
            raise ConfigError(
                f"{p}.max_lr={spec.max_lr!r}: the onecycle schedule needs a positive max_lr, e.g. {p}.max_lr=0.1"
            )
        if not 0 < spec.pct_start < 1:
            raise ConfigError(f"{p}.pct_start={spec.pct_start!r} must be in (0, 1), e.g. 0.3")
    if spec.name == "plateau":
        if not 0 < spec.factor < 1:
            raise ConfigError(f"{p}.factor={spec.factor!r} must be in (0, 1); AlexNet divides by 10: 0.1")
        if spec.patience < 0 or spec.cooldown < 0:
            raise ConfigError(f"{p}.patience={spec.patience!r} and {p}.cooldown={spec.cooldown!r} must be >= 0")
        if not spec.monitor:
            raise ConfigError(f"{p}.monitor is empty; name the validation metric to watch, e.g. val_loss")
    if spec.name == "inverse_time" and spec.decay < 0:
        raise ConfigError(f"{p}.decay={spec.decay!r} must be >= 0 (Keras' SGD decay, e.g. 0.01 / 40)")
    if spec.warmup_epochs < 0 or spec.warmup_steps < 0:
        raise ConfigError(f"{p}.warmup_epochs and {p}.warmup_steps must be >= 0")
    if spec.warmup_epochs > 0 and spec.warmup_steps > 0:
        raise ConfigError(
            f"{p}.warmup_epochs={spec.warmup_epochs!r} and {p}.warmup_steps={spec.warmup_steps!r} are both "
            f"set; give the warmup in one unit and set the other to 0"
        )
    if not 0 < spec.warmup_factor <= 1:
        raise ConfigError(
            f"{p}.warmup_factor={spec.warmup_factor!r} must be in (0, 1]: the fraction of the lr warmup starts at"
        )
    if epochs is not None and spec.warmup_epochs > epochs:
        raise ConfigError(f"{p}.warmup_epochs={spec.warmup_epochs!r} is longer than the run ({epochs} epochs)")


# Picklable factor objects for LambdaLR: LambdaLR.state_dict() stores their __dict__, which
# holds only numbers, so a checkpoint of them loads with weights_only=True.


class _Constant:
    def __call__(self, t: int) -> float:
        return 1.0


class _EpochTable:
    """lr(t) / lr(0) from a table of the first epoch of each stage to its learning rate."""

    def __init__(self, table: Mapping[int, float]) -> None:
        self.starts = sorted(int(k) for k in table)
        self.lrs = [float(table[k]) for k in self.starts]

    def __call__(self, t: int) -> float:
        lr = self.lrs[0]
        for start, value in zip(self.starts, self.lrs):
            if t >= start:
                lr = value
        return lr / self.lrs[0]


class _Poly:
    """(1 - t / total) ** power, scaled between 1 and min_factor; flat after ``total``."""

    def __init__(self, total: int, power: float, min_factor: float) -> None:
        self.total, self.power, self.min_factor = int(total), float(power), float(min_factor)

    def __call__(self, t: int) -> float:
        frac = max(0.0, 1.0 - min(t, self.total) / self.total)
        return self.min_factor + (1.0 - self.min_factor) * frac**self.power


class _InverseTime:
    """Keras 2's SGD decay: 1 / (1 + decay * t), t the number of updates already made."""

    def __init__(self, decay: float) -> None:
        self.decay = float(decay)

    def __call__(self, t: int) -> float:
        return 1.0 / (1.0 + self.decay * t)


class Schedule:
    """A learning-rate schedule driven by the training loop; see the module docstring.

    ``lr`` is the learning rate the next optimizer step will use (first parameter group).
    ``scheduler`` is the PyTorch scheduler doing the arithmetic.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        scheduler: lr_scheduler.LRScheduler,
        spec: ScheduleSpec,
        *,
        warmup_steps: int = 0,
        planned: int | None = None,
    ) -> None:
        self.optimizer, self.scheduler, self.spec = optimizer, scheduler, spec
        self.name, self.interval = spec.name, spec.interval
        # planned: the run's length in the schedule's own unit (epochs or steps); the main
        # scheduler is not stepped past it, so the lr stays at its end value (cosine would
        # climb again, OneCycleLR would raise) when a loader yields a batch more than planned.
        self.warmup_steps, self.planned = int(warmup_steps), planned
        self.steps_done = 0  # optimizer steps seen through step_batch
        self.epochs_done = 0  # epochs seen through step_epoch
        self._main_lrs = [float(g["lr"]) for g in optimizer.param_groups]
        self._apply_warmup()

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    @property
    def lrs(self) -> list[float]:
        """The learning rate of every parameter group."""
        return [float(g["lr"]) for g in self.optimizer.param_groups]

    def warmup_multiplier(self) -> float:
        n, t = self.warmup_steps, self.steps_done
        if n <= 0 or t >= n:
            return 1.0
        start = self.spec.warmup_factor
        if self.spec.warmup_mode == "constant":
            return start
        return start + (1.0 - start) * t / n

    def step_batch(self) -> None:
        """Call after every optimizer step."""
        self._restore_main()
        self.steps_done += 1
        if self.interval == "step" and (self.planned is None or self.steps_done < self.planned):
            self.scheduler.step()
        self._main_lrs = [float(g["lr"]) for g in self.optimizer.param_groups]
        self._apply_warmup()

    def step_epoch(self, metrics: Mapping[str, Any] | None = None, *, validated: bool = True) -> None:
        """Call after each epoch's validation; a plateau schedule reads ``metrics[monitor]``.
        ``validated=False`` (an epoch that skipped validation, ``val_every``) leaves a
        plateau schedule's patience where it was when it watches a validation metric."""
        self._restore_main()
        self.epochs_done += 1
        if isinstance(self.scheduler, lr_scheduler.ReduceLROnPlateau):
            if validated or not self.spec.monitor.startswith("val_"):
                self.scheduler.step(self._monitored(metrics))
        elif self.interval == "epoch" and (self.planned is None or self.epochs_done < self.planned):
            self.scheduler.step()
        self._main_lrs = [float(g["lr"]) for g in self.optimizer.param_groups]
        self._apply_warmup()

    def set_lr(self, lr: float) -> None:
        """Change the learning rate now, as the course does when it resumes an interrupted
        run with a new rate: the rest of the schedule is scaled by the same ratio."""
        if not lr > 0:
            raise ConfigError(f"learning rate must be positive, got {lr!r}")
        ratio = lr / self._main_lrs[0]
        self._main_lrs = [x * ratio for x in self._main_lrs]
        sched = self.scheduler
        if hasattr(sched, "base_lrs"):
            sched.base_lrs = [x * ratio for x in sched.base_lrs]
        if isinstance(sched, lr_scheduler.OneCycleLR):
            for group in self.optimizer.param_groups:
                for key in ("initial_lr", "max_lr", "min_lr"):
                    if key in group:
                        group[key] *= ratio
        if hasattr(sched, "_last_lr"):
            sched._last_lr = list(self._main_lrs)
        self._apply_warmup()

    def state_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "interval": self.interval,
            "scheduler": self.scheduler.state_dict(),
            "steps_done": self.steps_done,
            "epochs_done": self.epochs_done,
            "main_lrs": list(self._main_lrs),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("name") != self.name:
            raise ConfigError(
                f"the checkpoint's learning-rate schedule is {state.get('name')!r} but this run's is "
                f"{self.name!r}; resume with the recipe the run was started with"
            )
        fresh = self.scheduler.state_dict()
        self.scheduler.load_state_dict(dict(state["scheduler"]))
        # The run's length is this run's own: a run resumed with more epochs goes on along a
        # schedule planned for them (a cosine would otherwise climb again past its old end).
        for key in ("T_max", "total_steps", "_schedule_phases"):
            if key in fresh:
                setattr(self.scheduler, key, fresh[key])
        if isinstance(self.scheduler, lr_scheduler.LambdaLR):
            for fn, plan in zip(self.scheduler.lr_lambdas, fresh.get("lr_lambdas") or ()):
                if plan is not None:
                    fn.__dict__.update(plan)
        self.steps_done = int(state["steps_done"])
        self.epochs_done = int(state["epochs_done"])
        self._main_lrs = [float(x) for x in state["main_lrs"]]
        # A run that reached its planned end skipped its last scheduler step (nothing was left
        # to train); resumed with more epochs, it takes the steps it is behind.
        sched, done = self.scheduler, self.steps_done if self.interval == "step" else self.epochs_done
        if self.planned is not None and not isinstance(sched, lr_scheduler.ReduceLROnPlateau):
            target = min(done, self.planned - 1)
            if sched.last_epoch < target:
                self._restore_main()
                while sched.last_epoch < target:
                    sched.step()
                self._main_lrs = [float(g["lr"]) for g in self.optimizer.param_groups]
        self._apply_warmup()

    def __repr__(self) -> str:
        return (
            f"Schedule({self.name!r}, per {self.interval}, lr={self.lr:.6g}, "
            f"steps={self.steps_done}, epochs={self.epochs_done})"
        )

    # The main scheduler sees its own learning rates, never the warmed-up ones: chainable
    # schedulers (StepLR, ReduceLROnPlateau ...) compute the next lr from the current one.
    def _restore_main(self) -> None:
        for group, lr in zip(self.optimizer.param_groups, self._main_lrs):
            group["lr"] = lr

    def _apply_warmup(self) -> None:
        m = self.warmup_multiplier()
        for group, lr in zip(self.optimizer.param_groups, self._main_lrs):
            group["lr"] = lr * m

    def _monitored(self, metrics: Mapping[str, Any] | None) -> float:
        key = self.spec.monitor
        if not metrics or key not in metrics:
            have = ", ".join(sorted(metrics)) if metrics else "none"
            raise ConfigError(
                f"the plateau schedule watches {key!r}, but step_epoch() got metrics: {have}; "
                f"set schedule.monitor to one of them or pass the validation metrics"
            )
        value = metrics[key]
        value = float(value.item() if isinstance(value, torch.Tensor) else value)
        if math.isnan(value):
            raise ConfigError(f"the plateau schedule's monitored metric {key!r} is NaN")
        return value


def spec_from(spec: ScheduleSpec | Mapping[str, Any]) -> ScheduleSpec:
    """A :class:`ScheduleSpec` from itself or a plain mapping (keys and types checked)."""
    if isinstance(spec, ScheduleSpec):
        return spec
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"a schedule is a ScheduleSpec or a mapping such as {{'name': 'step', 'step_size': 30}}, got {spec!r}"
        )
    return from_mapping(ScheduleSpec, spec, "schedule")


def build_schedule(
    optimizer: Optimizer,
    spec: ScheduleSpec | Mapping[str, Any],
    *,
    epochs: int,
    steps_per_epoch: int,
) -> Schedule:
    """The :class:`Schedule` that ``spec`` describes, for a run of ``epochs`` epochs of
    ``steps_per_epoch`` optimizer steps each. The optimizer's current lr is the starting
    (base) learning rate of every schedule except ``onecycle`` (which starts at
    ``max_lr / div_factor``)."""
    spec = spec_from(spec)
    check_schedule_spec(spec, epochs=epochs)
    if epochs < 1 or steps_per_epoch < 1:
        raise ConfigError(f"epochs={epochs!r} and steps_per_epoch={steps_per_epoch!r} must both be at least 1")
    for group in optimizer.param_groups:
        group.pop("initial_lr", None)  # a fresh schedule starts from the optimizer's lr now
    per = spec.interval
    total = epochs if per == "epoch" else epochs * steps_per_epoch
    base = float(optimizer.param_groups[0]["lr"])
    name = spec.name
    if name == "constant":
        sched: lr_scheduler.LRScheduler = lr_scheduler.LambdaLR(optimizer, _Constant())
    elif name == "step":
        sched = lr_scheduler.StepLR(optimizer, step_size=int(spec.step_size or 1), gamma=spec.gamma)
    elif name == "multistep":
        sched = lr_scheduler.MultiStepLR(optimizer, milestones=list(spec.milestones), gamma=spec.gamma)
    elif name == "epochs":
        sched = lr_scheduler.LambdaLR(optimizer, _EpochTable(spec.table))
    elif name == "poly":
        sched = lr_scheduler.LambdaLR(optimizer, _Poly(total, spec.power, min(1.0, spec.min_lr / base)))
    elif name == "cosine":
        sched = lr_scheduler.CosineAnnealingLR(optimizer, T_max=total, eta_min=spec.min_lr)
    elif name == "onecycle":
        sched = lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=float(spec.max_lr or base),
            total_steps=total,
            pct_start=spec.pct_start,
            div_factor=spec.div_factor,
            final_div_factor=spec.final_div_factor,
            cycle_momentum=spec.cycle_momentum,
        )
    elif name == "plateau":
        sched = lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode=spec.mode,
            factor=spec.factor,
            patience=spec.patience,
            threshold=spec.threshold,
            cooldown=spec.cooldown,
            min_lr=spec.min_lr,
        )
    else:  # inverse_time
        sched = lr_scheduler.LambdaLR(optimizer, _InverseTime(spec.decay))
    warmup = spec.warmup_steps or round(spec.warmup_epochs * steps_per_epoch)
    planned = None if name == "plateau" else total
    return Schedule(optimizer, sched, spec, warmup_steps=warmup, planned=planned)


def preview_lrs(
    spec: ScheduleSpec | Mapping[str, Any],
    *,
    lr: float,
    epochs: int,
    steps_per_epoch: int = 1,
    per: Literal["epoch", "step"] = "epoch",
    metrics: list[Mapping[str, Any]] | None = None,
) -> list[float]:
    """The learning rate of each epoch (the one its first step uses) or of each step, on a
    throwaway optimizer: for docs, the CLI and tests. A plateau schedule needs one
    ``metrics`` mapping per epoch."""
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=lr)
    schedule = build_schedule(opt, spec, epochs=epochs, steps_per_epoch=steps_per_epoch)
    out: list[float] = []
    for epoch in range(epochs):
        if per == "epoch":
            out.append(schedule.lr)
        for _ in range(steps_per_epoch):
            if per == "step":
                out.append(schedule.lr)
            opt.step()
            schedule.step_batch()
        schedule.step_epoch(metrics[epoch] if metrics else {})
    return out


def spec_fields() -> list[str]:
    """The names of a schedule block's keys."""
    return [f.name for f in fields(ScheduleSpec)]
