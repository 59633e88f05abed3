"""Measured speed: images/second, step time, achieved FLOP/s against the device's own
measured matmul peak, and the ratio to a plain PyTorch loop run in the same process.

``bench(model, mode="train")`` times cnnlab's training path (``train_one_epoch`` over a
:class:`~cnnlab.data.DeviceLoader`: data resident on the device, normalised there) or its
inference path; ``against="plain"`` interleaves the same architecture through the loop a
PyTorch tutorial writes (NCHW, fp32, a ``DataLoader`` over a ``TensorDataset``, no
compile), ``against="torchvision"`` torchvision's model of the same name through cnnlab's
path. Repeats alternate between the two so a busy machine slows both alike; medians are
reported with their spread.

Conventions: ``flops = 2 x macs`` from :func:`cnnlab.analyze` (convolutions and linear
layers; see docs/analysis.md); a training step counts ``3 x`` the forward FLOPs (the
backward pass computes two products per forward one), the usual convention of
model-FLOPs utilisation.
"""

from __future__ import annotations

import contextlib
import copy
import math
import platform
import resource
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from ..analysis import analyze
from ..data import DatasetInfo, DeviceLoader, ImageTensors
from ..errors import ConfigError
from ..models import create_model
from .loop import autocast_dtype, train_one_epoch
from .run import machine_name, resolve_auto, resolve_device

MODES = ("train", "infer")
AGAINST = ("plain", "torchvision")


@dataclass
class Timing:
    """Seconds per step of each repeat, and what they give."""

    step_seconds: list[float]
    batch_size: int

    @property
    def median(self) -> float:
        return statistics.median(self.step_seconds)

    @property
    def spread(self) -> tuple[float, float]:
        return min(self.step_seconds), max(self.step_seconds)

    @property
    def images_per_s(self) -> float:
        return self.batch_size / self.median


@dataclass
class BenchResult:
    """One benchmark. ``achieved_flops`` = ``flops_per_step / median step time``;
    ``percent_of_peak`` = that over ``peak_flops`` (a dense matmul measured on the device
    in the dtype the model computes in); ``ratio`` = images/s over the ``against`` run's."""

    model: str
    mode: str
    device: str
    dtype: str
    batch_size: int
    input_size: tuple[int, int, int]
    options: dict[str, Any]
    steps: int
    repeats: int
    step_seconds: list[float]
    median_step_s: float
    spread_s: tuple[float, float]
    images_per_s: float
    flops_per_step: int
    achieved_flops: float
    peak_flops: float | None
    percent_of_peak: float | None
    peak_memory_bytes: int | None
    memory_note: str
    threads: int
    torch_version: str
    machine: str
    against: str | None = None
    against_images_per_s: float | None = None
    against_step_seconds: list[float] = field(default_factory=list)
    ratio: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(timing: Timing, flops_per_step: int, peak_flops: float | None) -> dict[str, Any]:
    """The arithmetic of a result: step time median and spread, images/s, achieved FLOP/s
    and the percentage of ``peak_flops``."""
    median = timing.median
    achieved = flops_per_step / median if median > 0 else 0.0
    return {
        "step_seconds": list(timing.step_seconds),
        "median_step_s": median,
        "spread_s": timing.spread,
        "images_per_s": timing.images_per_s,
        "flops_per_step": int(flops_per_step),
        "achieved_flops": achieved,
        "peak_flops": peak_flops,
        "percent_of_peak": 100.0 * achieved / peak_flops if peak_flops else None,
    }


# ----------------------------------------------------------------------------- devices


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def matmul_peak(
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    *,
    size: int | None = None,
    repeats: int = 5,
    min_seconds: float = 0.2,
) -> float:
    """The device's dense matmul rate in FLOP/s (``2 n^3`` per ``n x n`` product), the
    median of ``repeats`` timed blocks: the roofline the benchmark's percentages refer to."""
    device = torch.device(device)
    n = size or (8192 if device.type == "cuda" else 1024)
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    torch.mm(a, b)
    _sync(device)
    start = time.perf_counter()
    torch.mm(a, b)
    _sync(device)
    once = max(time.perf_counter() - start, 1e-6)
    per_block = max(1, math.ceil(min_seconds / once))
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(per_block):
            torch.mm(a, b)
        _sync(device)
        rates.append(2 * n**3 * per_block / (time.perf_counter() - start))
    return statistics.median(rates)


@contextlib.contextmanager
def _peak_memory(device: torch.device) -> Iterator[dict[str, Any]]:
    out: dict[str, Any] = {}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        yield out
        out["bytes"] = int(torch.cuda.max_memory_allocated(device))
        out["note"] = "torch.cuda.max_memory_allocated during the cnnlab runs"
    else:
        yield out
        scale = 1 if platform.system() == "Darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
        out["bytes"] = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale)
        out["note"] = "peak resident memory of the whole process (ru_maxrss), not of the model alone"


# ------------------------------------------------------------------------------ runners


def _synthetic(n: int, input_size: Sequence[int], num_classes: int, seed: int) -> ImageTensors:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, *input_size), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, num_classes, (n,), generator=g)
    c = input_size[0]
    info = DatasetInfo(
        name="synthetic",
        title="random uint8 images",
        num_classes=num_classes,
        classes=tuple(str(i) for i in range(num_classes)),
        image_size=tuple(input_size),  # type: ignore[arg-type]
        mean=(0.5,) * c,
        std=(0.25,) * c,
        stats_source="fixed",
        splits=("train",),
        num_samples=(("train", n),),
        files=(),
        archives=(),
        folder_names=(),
        system_dirs=(),
        layout="",
        citation="",
        homepage="",
        in_memory=True,
    )
    return ImageTensors(images, labels, info)


def _fused_ok(device: torch.device) -> bool:
    try:
        torch.optim.SGD([nn.Parameter(torch.zeros(1, device=device))], lr=0.1, momentum=0.9, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return False
    return True


# A runner does ``steps`` steps of one path when called: ``runner(steps)``.
_Runner = Callable[[int], None]


def _cnnlab_runner(
    model: nn.Module,
    mode: str,
    data: ImageTensors,
    batch: int,
    device: torch.device,
    *,
    amp: bool,
    channels_last: bool,
    compile: bool,
) -> _Runner:
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    loader = DeviceLoader(
        data,
        batch,
        train=mode == "train",
        device=device,
        mean=data.info.mean,
        std=data.info.std,
        drop_last=True,
        channels_last=channels_last,
    )
    net = torch.compile(model) if compile else model
    if mode == "train":
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, fused=_fused_ok(device) or None)
        epoch = [0]

        def train(steps: int) -> None:
            train_one_epoch(
                net,
                loader,
                optimizer,
                device=device,
                amp=amp,
                channels_last=channels_last,
                epoch=epoch[0],
                max_steps=steps,
            )
            epoch[0] += 1
            _sync(device)

        return train
    model.eval()
    dtype = autocast_dtype(amp, device)

    def infer(steps: int) -> None:
        done = 0
        with (
            torch.inference_mode(),
            torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None),
        ):
            while done < steps:
                for x, _ in loader:
                    net(x)
                    done += 1
                    if done == steps:
                        break
        _sync(device)

    return infer


def _plain_runner(model: nn.Module, mode: str, data: ImageTensors, batch: int, device: torch.device) -> _Runner:
    """The loop of a PyTorch tutorial: float NCHW tensors in a TensorDataset, a DataLoader,
    fp32, no compile, ``.to(device)`` per batch."""
    from torch.utils.data import DataLoader, TensorDataset

    mean = torch.tensor(data.info.mean).view(1, -1, 1, 1)
    std = torch.tensor(data.info.std).view(1, -1, 1, 1)
    x_all = (data.images.float() / 255 - mean) / std
    loader = DataLoader(TensorDataset(x_all, data.labels), batch_size=batch, shuffle=mode == "train", drop_last=True)
    model = model.to(device)
    if mode == "train":
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        loss_fn = nn.CrossEntropyLoss()

        def train(steps: int) -> None:
            model.train()
            done = 0
            while done < steps:
                for x, y in loader:
                    x, y = x.to(device), y.to(device)
                    optimizer.zero_grad()
                    loss = loss_fn(model(x), y)
                    loss.backward()
                    optimizer.step()
                    done += 1
                    if done == steps:
                        break
            _sync(device)

        return train

    def infer(steps: int) -> None:
        model.eval()
        done = 0
        with torch.no_grad():
            while done < steps:
                for x, _ in loader:
                    model(x.to(device))
                    done += 1
                    if done == steps:
                        break
        _sync(device)

    return infer


def _torchvision_model(name: str, num_classes: int) -> nn.Module:
    import torchvision.models as tvm

    builder = getattr(tvm, name, None)
    if builder is None or not callable(builder):
        raise ConfigError(
            f"torchvision has no model called {name!r}; --against torchvision needs one of the same name "
            "(resnet50, vgg16, alexnet, googlenet, densenet121, ...); use --against plain"
        )
    kwargs: dict[str, Any] = {"num_classes": num_classes}
    if name in ("googlenet", "inception_v3"):
        kwargs.update(aux_logits=False, init_weights=False)
    return builder(**kwargs)


def _time(runners: Sequence[_Runner], steps: int, repeats: int, device: torch.device) -> list[list[float]]:
    """Seconds per step of each runner per repeat, the runners interleaved repeat by repeat."""
    times: list[list[float]] = [[] for _ in runners]
    for _ in range(repeats):
        for i, runner in enumerate(runners):
            _sync(device)
            start = time.perf_counter()
            runner(steps)
            times[i].append((time.perf_counter() - start) / steps)
    return times


# ---------------------------------------------------------------------------------- API


def bench(
    model: str | nn.Module,
    *,
    mode: str = "train",
    batch_size: int = 64,
    input_size: Sequence[int] | None = None,
    device: str | torch.device = "cpu",
    amp: bool | str = "auto",
    channels_last: bool | str = "auto",
    compile: bool = False,
    steps: int = 10,
    warmup: int = 3,
    repeats: int = 5,
    against: str | dict[str, Any] | None = None,
    peak: bool = True,
    num_classes: int | None = None,
    seed: int = 0,
) -> BenchResult:
    """Time ``repeats`` blocks of ``steps`` steps (after ``warmup`` steps) of ``model`` (a
    registered name or a module) and return the measurements (see :class:`BenchResult`).
    ``amp`` and ``channels_last`` default to ``"auto"``: what ``cnnlab train`` uses on this
    device (:func:`cnnlab.engine.run.resolve_auto`).
    ``against``: ``"plain"``, ``"torchvision"``, or a dict of options (``{"channels_last":
    False}``) for cnnlab's own path with those changed, interleaved with this one."""
    if mode not in MODES:
        raise ConfigError(f"mode={mode!r} must be one of {', '.join(MODES)}")
    if against is not None and not isinstance(against, dict) and against not in AGAINST:
        raise ConfigError(f"against={against!r} must be one of {', '.join(AGAINST)}, a dict of options, or None")
    for name, value, low in (
        ("batch_size", batch_size, 1),
        ("steps", steps, 1),
        ("repeats", repeats, 1),
        ("warmup", warmup, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{name}={value!r} must be a whole number >= {low}")

    dev = _device(device)
    if isinstance(model, str):
        label = model
        built = create_model(model, **({"num_classes": num_classes} if num_classes is not None else {}))
    else:
        label, built = type(model).__name__, model
        if num_classes is not None and (
            isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1
        ):
            raise ConfigError(f"num_classes={num_classes!r} must be a whole number >= 1")
    channels_last, amp = resolve_auto(channels_last, amp, dev, built)
    size = (
        tuple(input_size)
        if input_size is not None
        else tuple(built.pretrained_cfg["input_size"])
        if hasattr(built, "pretrained_cfg")
        else None
    )
    if size is None or len(size) != 3:
        own = tuple(
            (getattr(built, "pretrained_cfg", None) or {}).get("input_size")
            or (getattr(built, "in_chans", 3), 224, 224)
        )
        raise ConfigError(
            f"input_size must be (channels, height, width), got {input_size!r}; pass e.g. "
            f"input_size={own} (on the command line: --input {'x'.join(map(str, own))})"
        )
    classes = num_classes if num_classes is not None else getattr(built, "num_classes", None) or 10
    data = _synthetic(batch_size * (steps + 1), size, classes, seed)
    forward_flops = analyze(built, size, measure_saved=False).flops
    flops_per_step = forward_flops * batch_size * (3 if mode == "train" else 1)

    other: _Runner | None = None
    if against == "plain":
        other = _plain_runner(copy.deepcopy(built), mode, data, batch_size, dev)
    elif isinstance(against, dict):  # cnnlab's path with some options changed: one default on and off
        unknown = set(against) - {"amp", "channels_last", "compile"}
        if unknown:
            raise ConfigError(f"against options {sorted(unknown)} unknown; use amp, channels_last, compile")
        opts = {"amp": amp, "channels_last": channels_last, "compile": compile, **against}
        other = _cnnlab_runner(copy.deepcopy(built), mode, data, batch_size, dev, **opts)
    elif against == "torchvision":
        if not isinstance(model, str):
            raise ConfigError(
                "against='torchvision' needs a registered model's name, to find torchvision's model of that name"
            )
        other = _cnnlab_runner(
            _torchvision_model(model, classes),
            mode,
            data,
            batch_size,
            dev,
            amp=amp,
            channels_last=channels_last,
            compile=compile,
        )
    ours = _cnnlab_runner(built, mode, data, batch_size, dev, amp=amp, channels_last=channels_last, compile=compile)
    runners = [ours] if other is None else [ours, other]
    with _peak_memory(dev) as memory:
        for runner in runners:
            if warmup:
                runner(warmup)
        times = _time(runners, steps, repeats, dev)
    dtype = autocast_dtype(amp, dev) or torch.float32
    peak_flops = matmul_peak(dev, dtype) if peak else None
    timing = Timing(times[0], batch_size)
    result = BenchResult(
        model=label,
        mode=mode,
        device=str(dev),
        dtype=str(dtype).removeprefix("torch."),
        batch_size=batch_size,
        input_size=size,
        options={"amp": amp, "channels_last": channels_last, "compile": compile},  # type: ignore[arg-type]
        steps=steps,
        repeats=repeats,
        **summarize(timing, flops_per_step, peak_flops),
        peak_memory_bytes=memory.get("bytes"),
        memory_note=memory.get("note", ""),
        threads=torch.get_num_threads(),
        torch_version=torch.__version__,
        machine=machine_name(dev),
    )
    if other is not None:
        theirs = Timing(times[1], batch_size)
        result.against = against if isinstance(against, str) else ", ".join(f"{k}={v}" for k, v in against.items())
        result.against_step_seconds = list(theirs.step_seconds)
        result.against_images_per_s = theirs.images_per_s
        result.ratio = result.images_per_s / theirs.images_per_s
    return result


def _device(device: str | torch.device) -> torch.device:
    """``device`` as ``cnnlab train`` resolves it (``auto``, and a clear error for CUDA on a
    machine without it), with a one-line error for a name torch does not know."""

    name = str(device)
    try:
        dev = resolve_device(name)
    except RuntimeError as err:  # torch.device("gpu"): "Expected one of cpu, cuda, ..."
        raise ConfigError(f"device {name!r} is not a device torch knows; use cpu, cuda, cuda:1, mps or auto") from err
    if dev.type == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise ConfigError(f"device {name!r} asked for, but torch sees no MPS device; use --device cpu")
    return dev


def render_bench(result: BenchResult) -> list[str]:
    """Plain-text lines for a terminal."""
    lo, hi = result.spread_s
    lines = [
        f"{result.model} {result.mode}  batch {result.batch_size}  input {'x'.join(map(str, result.input_size))}  "
        f"{result.device} ({result.machine}), {result.dtype}, {result.threads} threads, torch {result.torch_version}",
        "  options: " + ", ".join(f"{k}={v}" for k, v in result.options.items()),
        f"  step: median {result.median_step_s * 1e3:.2f} ms (min {lo * 1e3:.2f}, max {hi * 1e3:.2f}; "
        f"{result.repeats} repeats of {result.steps} steps)",
        f"  images/s: {result.images_per_s:,.1f}",
        f"  achieved: {result.achieved_flops / 1e9:,.2f} GFLOP/s ({result.flops_per_step / 1e9:,.3f} GFLOP per step"
        + (", 3 x forward" if result.mode == "train" else "")
        + ")",
    ]
    if result.peak_flops:
        lines.append(
            f"  peak (measured matmul, {result.dtype}): {result.peak_flops / 1e9:,.1f} GFLOP/s -> "
            f"{result.percent_of_peak:.1f}% of peak"
        )
    if result.peak_memory_bytes is not None:
        lines.append(f"  peak memory: {result.peak_memory_bytes / 2**20:,.1f} MiB ({result.memory_note})")
    if result.ratio is not None:
        lines.append(
            f"  against {result.against}: {result.against_images_per_s:,.1f} images/s -> ratio {result.ratio:.2f}x"
        )
    return lines
