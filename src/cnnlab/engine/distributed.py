"""PyTorch DistributedDataParallel under ``torchrun``; the same loop runs on one process.

``torchrun --nproc-per-node N -m cnnlab train ...`` starts N processes and sets ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` in each. :func:`init_distributed` reads them (a plain
``python`` run has none and stays single-process), :func:`wrap_ddp` wraps the model, and
the loop reduces its metrics with :func:`all_reduce_metrics`, which is a no-op on one
process. Each rank must see its own shard of every global batch (a distributed sampler).
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from ..errors import ConfigError
from ..models.base import AuxForward


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: rank among ``world_size``, its GPU index, its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(
            f"environment variable {name}={value!r} is not an integer; torchrun sets it, unset it or fix it"
        ) from None


def init_distributed(device: str | torch.device | None = None, timeout_s: float = 1800.0) -> DistInfo:
    """Join the process group that torchrun described in the environment.

    Without ``WORLD_SIZE`` (or with ``WORLD_SIZE=1``) nothing is initialised and the
    single-process :class:`DistInfo` comes back. The backend is NCCL on CUDA (each process
    takes GPU ``LOCAL_RANK``) and gloo otherwise; ``device="cpu"`` forces CPU and gloo.
    """
    world_size = _env_int("WORLD_SIZE", 1)
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    wanted = torch.device(device) if device is not None else None
    use_cuda = torch.cuda.is_available() if wanted is None else wanted.type == "cuda"
    if use_cuda and not torch.cuda.is_available():
        raise ConfigError(f"device {wanted} was requested but CUDA is not available; use --device cpu")
    if use_cuda:
        dev = torch.device("cuda", local_rank if world_size > 1 else (wanted.index or 0) if wanted else 0)
        torch.cuda.set_device(dev)
    else:
        dev = wanted if wanted is not None else torch.device("cpu")
    if world_size <= 1:
        return DistInfo(0, 1, 0, dev, None)
    if not 0 <= rank < world_size:
        raise ConfigError(f"RANK={rank} is outside WORLD_SIZE={world_size}; launch with torchrun, which sets both")
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s))
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, dev, backend)


def cleanup_distributed() -> None:
    """Leave the process group (safe to call when none was joined)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def get_world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main_process() -> bool:
    """Rank 0, or the only process: the one that logs, prints and writes checkpoints."""
    return get_rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def _reduce_device() -> torch.device:
    # NCCL reduces CUDA tensors only; gloo reduces CPU tensors.
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_metrics(metrics: Mapping[str, float], op: str = "mean") -> dict[str, float]:
    """Sum or average each number over all ranks (``op="sum"|"mean"``); a copy as floats
    on one process. Every rank must call it with the same keys in the same order."""
    if op not in ("sum", "mean"):
        raise ConfigError(f"all_reduce_metrics op must be 'sum' or 'mean', got {op!r}")
    keys = list(metrics)
    if not is_distributed():
        return {k: float(metrics[k]) for k in keys}
    values = torch.tensor([float(metrics[k]) for k in keys], dtype=torch.float64, device=_reduce_device())
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    if op == "mean":
        values /= dist.get_world_size()
    return dict(zip(keys, values.tolist()))


def any_rank(flag: bool) -> bool:
    """True on every rank when ``flag`` is true on any rank (so all ranks stop together)."""
    if not is_distributed():
        return bool(flag)
    value = torch.tensor([1.0 if flag else 0.0], device=_reduce_device())
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


# -- models and their wrappers ----------------------------------------------------------------
def uses_aux(model: nn.Module) -> bool:
    """Whether training should run ``forward_aux``: the model has it and its heads are on."""
    return callable(getattr(model, "forward_aux", None)) and getattr(model, "aux_logits", True) is not False


def training_module(model: nn.Module) -> nn.Module:
    """The module whose ``forward`` training calls: ``forward_aux`` for models with enabled
    auxiliary heads (wrapped in :class:`AuxForward`), the model itself otherwise. Wrap this,
    not the model, in DDP or ``torch.compile`` so the auxiliary losses are kept."""
    return AuxForward(model) if uses_aux(model) else model


def unwrap(model: nn.Module) -> nn.Module:
    """The cnnlab model inside DDP, ``torch.compile`` and :class:`AuxForward` wrappers."""
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel | nn.DataParallel):
            model = model.module
        elif isinstance(model, AuxForward):
            model = model.model
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):  # torch.compile
            model = model._orig_mod
        else:
            return model


def wrap_ddp(model: nn.Module, device: str | torch.device, **ddp_kwargs: object) -> nn.Module:
    """``model`` on ``device`` inside DistributedDataParallel (through :func:`training_module`,
    so auxiliary heads train); the model itself when not distributed. Every rank must
    draw the same random numbers for stochastic architecture choices (seed all ranks alike)."""
    device = torch.device(device)
    model.to(device)
    if not is_distributed():
        return model
    if device.type == "cuda":
        ddp_kwargs.setdefault("device_ids", [device.index if device.index is not None else torch.cuda.current_device()])
    # FractalNet's global drop-path trains one column per mini-batch: the other columns'
    # parameters get no gradient that step, which DDP must be told to expect.
    ddp_kwargs.setdefault("find_unused_parameters", bool(getattr(model, "global_drop_ratio", 0)))
    return nn.parallel.DistributedDataParallel(training_module(model), **ddp_kwargs)
