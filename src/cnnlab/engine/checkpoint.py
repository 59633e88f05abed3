"""Checkpoints that survive a crash and never run code when loaded.

A checkpoint is one ``torch.save`` file holding only tensors and plain data (dicts, lists,
strings, numbers), so :func:`load_checkpoint` reads it with ``torch.load(weights_only=True)``
and a file crafted to execute code when unpickled is refused. Every write goes to a
temporary file in the same folder, is flushed to disk, and is renamed over the old file, so
a run killed at any instant leaves either the old checkpoint or the new one, never half.

Contents (``format_version`` 1)::

    format, format_version, cnnlab_version, torch_version
    model_config   {"name", "num_classes", "in_chans"} (what is known of the model)
    model          the model's state_dict (no DDP "module." prefix)
    optimizer, scheduler, scaler    their state_dicts (None when absent)
    epoch          epochs completed (= the start_epoch that resumes after it)
    global_step    optimizer steps taken
    rng            {"torch", "cuda", "numpy", "python"}, see :func:`rng_state`
    loader         {"epoch": next epoch, ...the loader's own state_dict() if it has one}
    recipe, metrics (this epoch's row), history (all rows so far)

A run directory keeps them in ``checkpoints/``: ``last.pt`` every epoch,
``epoch_005.pt`` every N epochs, ``best.pt`` on improvement.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import math
import os
import pickle
import random
import re
import sys
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..atomic import atomic_copy, atomic_write  # noqa: F401  (re-exported: the engine's writers)
from ..errors import CheckpointError, UnsafeFileError, code_reference
from .distributed import unwrap

FORMAT = "cnnlab-checkpoint"
FORMAT_VERSION = 1
CHECKPOINT_DIR = "checkpoints"
_EPOCH_FILE = re.compile(r"epoch_(\d+)\.pt$")


def cnnlab_version() -> str:
    try:
        return importlib.metadata.version("cnnlab")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# -- writing ----------------------------------------------------------------------------------
def save_checkpoint(path: str | Path, state: Mapping[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically; it must hold only tensors and plain data
    (what ``torch.load(weights_only=True)`` can read back), which is checked first."""
    state = dict(state)
    state.setdefault("format", FORMAT)
    state.setdefault("format_version", FORMAT_VERSION)
    state.setdefault("cnnlab_version", cnnlab_version())
    state.setdefault("torch_version", str(torch.__version__))  # TorchVersion is a class weights_only refuses
    _check_plain(state, "state")
    return atomic_write(path, lambda f: torch.save(state, f))


# Exact types: a subclass of str or int (an Enum, TorchVersion) pickles as its class, which
# weights_only refuses to load.
_SCALARS = (str, int, float, bool, type(None))
_TORCH = (torch.Tensor, torch.dtype, torch.device, torch.Size)


def _is_plain_leaf(obj: Any) -> bool:
    return type(obj) in _SCALARS or isinstance(obj, _TORCH)


def _check_plain(obj: Any, where: str) -> None:
    if _is_plain_leaf(obj):
        return
    if type(obj) in (dict, OrderedDict):
        for k, v in obj.items():
            _check_plain(k, where)
            _check_plain(v, f"{where}[{k!r}]")
        return
    if type(obj) in (list, tuple):
        for i, v in enumerate(obj):
            _check_plain(v, f"{where}[{i}]")
        return
    raise CheckpointError(
        f"cannot save {where}: a {type(obj).__name__} ({obj!r:.80}) would need pickled code to load; "
        "store it as tensors, numbers, strings, lists or dicts (see cnnlab.engine.checkpoint.to_plain)"
    )


def to_plain(obj: Any) -> Any:
    """Turn dataclasses, paths, NumPy values and sets into what a checkpoint may hold."""
    if _is_plain_leaf(obj):
        return obj
    for scalar in (bool, int, float, str):  # Enum members, TorchVersion, IntEnum ...
        if isinstance(obj, scalar):
            return scalar(obj.value if hasattr(obj, "value") and isinstance(obj.value, scalar) else obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_plain(dataclasses.asdict(obj))
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return to_plain(obj.to_dict())
    if isinstance(obj, Mapping):
        return {to_plain(k): to_plain(v) for k, v in obj.items()}  # OrderedDict, MappingProxy: dict
    if isinstance(obj, list | tuple):
        return [to_plain(v) for v in obj]
    if isinstance(obj, set | frozenset):
        return sorted(to_plain(v) for v in obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)


# -- reading ----------------------------------------------------------------------------------
def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR


def list_checkpoints(folder: str | Path) -> list[Path]:
    """The ``.pt`` files of a folder, newest epoch first (``last.pt`` first, ``best.pt`` last)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    files = [p for p in folder.glob("*.pt") if p.is_file()]

    def order(p: Path) -> tuple[int, int, str]:
        if p.name == "last.pt":
            return (0, 0, p.name)
        m = _EPOCH_FILE.search(p.name)
        return (1, -int(m.group(1)), p.name) if m else (2, 0, p.name)

    return sorted(files, key=order)


def _others(path: Path) -> str:
    others = [p.name for p in list_checkpoints(path.parent) if p.resolve() != path.resolve()]
    if not others:
        return "no other checkpoint is in that folder"
    return f"try the previous checkpoint; others in {path.parent}: {', '.join(others)}"


def _corrupted(path: Path, err: BaseException | str) -> CheckpointError:
    size = path.stat().st_size if path.exists() else 0
    detail = (
        err if isinstance(err, str) else f"{type(err).__name__}: {(str(err).strip() or 'no detail').splitlines()[0]}"
    )
    return CheckpointError(f"checkpoint {path} ({size:,} bytes) is truncated or corrupted ({detail}); {_others(path)}")


def _verify_records(path: Path) -> None:
    # torch.save writes a zip archive with a CRC-32 per record, but torch.load does not
    # check them: a flipped bit in a tensor would load silently. zipfile checks them all.
    if not zipfile.is_zipfile(path):
        return  # truncated (no central directory) or the legacy format: torch.load reports it
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as err:
        raise _corrupted(path, err) from None
    if bad is not None:
        raise _corrupted(path, f"record {bad} fails its CRC-32 check")


def load_checkpoint(
    path: str | Path, map_location: str | torch.device | None = "cpu", verify: bool = True
) -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)``: tensors and plain data only.

    A missing, truncated or corrupted file raises :class:`CheckpointError` naming the file
    and the other checkpoints beside it (``verify`` checks every record's CRC-32 first, so
    damaged tensor bytes are caught too); a file holding Python objects that would run code
    when unpickled is refused with :class:`CheckpointError`, and none of its code runs.
    """
    path = Path(path)
    if not path.is_file():
        hint = _others(path) if path.parent.is_dir() else f"folder {path.parent} does not exist"
        raise CheckpointError(f"no checkpoint file at {path}; {hint}")
    if verify:
        _verify_records(path)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        code = code_reference(err)
        if code is not None:  # the safe unpickler met a reference to a function or class
            raise UnsafeFileError(
                f"refused: {path} would execute code when loaded "
                "(it holds Python objects that run code when unpickled: "
                f"{code}); nothing was executed. cnnlab checkpoints hold only tensors and plain "
                f"data; do not load this file unless you made it yourself; {_others(path)}"
            ) from None
        detail = next((ln for ln in lines if "Unsupported" in ln), lines[0] if lines else "no detail")
        raise _corrupted(
            path, f"not a readable PyTorch file; the safe unpickler stopped at: {detail}; nothing was executed"
        ) from None
    except (
        RuntimeError,
        EOFError,
        OSError,
        ValueError,
        zipfile.BadZipFile,
        KeyError,
        IndexError,
        AttributeError,
        TypeError,
    ) as err:
        raise _corrupted(path, err) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        kind = type(ckpt).__name__
        raise CheckpointError(
            f"{path} is not a cnnlab training checkpoint (got a {kind} without format={FORMAT!r}); "
            "to load bare weights use model.load_state_dict(torch.load(path, weights_only=True))"
        )
    if ckpt.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {ckpt['format_version']}, newer than this cnnlab reads "
            f"({FORMAT_VERSION}; written by cnnlab {ckpt.get('cnnlab_version')}); upgrade cnnlab"
        )
    return ckpt


def unreadable_reason(path: Path, err: Exception) -> str:
    """``"last.pt (1 bytes) is truncated or corrupted (...)"``: the file and why, without the
    advice that follows it, brackets balanced (the fallbacks list one per file)."""
    return f"{path.name} {first_clause(str(err).replace(f'checkpoint {path} ', '', 1))}"


def first_clause(text: str) -> str:
    """``text`` up to its first ``; `` outside brackets (a reason without its advice), so
    the brackets of the part kept stay balanced."""
    depth = 0
    for i, ch in enumerate(text):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth == 0 and text.startswith("; ", i):
            return text[:i]
    return text


def resume_state(
    run_dir: str | Path, map_location: str | torch.device | None = "cpu", note: Any = None
) -> tuple[Path, dict[str, Any]]:
    """The checkpoint a run resumes from: ``checkpoints/last.pt`` of ``run_dir`` (a run
    directory, its checkpoints folder, or a checkpoint file). If ``last.pt`` is unreadable
    the newest readable ``epoch_XXX.pt`` or ``best.pt`` (the one with more epochs) is used,
    said in one line (``note``, default stderr). Returns ``(path, checkpoint)``."""
    run_dir = Path(run_dir)
    if run_dir.is_file():
        return run_dir, load_checkpoint(run_dir, map_location)
    folder = (
        run_dir if run_dir.name == CHECKPOINT_DIR or not checkpoint_dir(run_dir).is_dir() else checkpoint_dir(run_dir)
    )
    candidates = list_checkpoints(folder)
    if not candidates:
        raise CheckpointError(
            f"no checkpoint to resume from in {folder}; a run writes checkpoints/last.pt after its "
            "first epoch (is this the run directory?)"
        )
    failures: list[str] = []
    found: list[tuple[Path, dict[str, Any]]] = []
    for path in candidates:
        is_best = path.name == "best.pt"
        if found and not is_best:
            continue  # already have the newest epoch file; only best.pt may still be newer
        try:
            found.append((path, load_checkpoint(path, map_location)))
        except CheckpointError as err:
            failures.append(unreadable_reason(path, err))
        if found and found[0][0].name == "last.pt":
            return found[0]
    if not found:
        raise CheckpointError(f"no readable checkpoint in {folder}: " + "; ".join(failures))
    path, ckpt = max(found, key=lambda pc: pc[1].get("epoch", -1))
    why = "; ".join(failures) or f"there is no last.pt in {folder}"
    say = note if note is not None else (lambda text: print(text, file=sys.stderr))
    say(f"note: resuming from {path} (epoch {ckpt.get('epoch')}) because {why}")
    return path, ckpt


# -- random number generators -----------------------------------------------------------------
def rng_state() -> dict[str, Any]:
    """Every generator a training run draws from, as tensors and plain numbers."""
    np_state = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "algorithm": np_state[0],
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {
            "version": py_version,
            "state": torch.tensor(py_internal, dtype=torch.int64),
            "gauss_next": py_gauss,
        },
    }


def rank_rng_states() -> list[dict[str, Any]] | None:
    """Every rank's :func:`rng_state` under ``torch.distributed`` with more than one rank
    (a collective: every rank must call it), else ``None``."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return None
    states: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(states, rng_state())
    return states


def own_rng_state(ckpt: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The generators this process should resume with: its own rank's when the checkpoint
    holds one per rank for the same number of ranks, else the (rank 0) ``rng``."""
    import torch.distributed as dist

    ranks = ckpt.get("rng_ranks")
    if ranks and dist.is_available() and dist.is_initialized() and len(ranks) == dist.get_world_size():
        return ranks[dist.get_rank()]
    return ckpt.get("rng")


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` captured (CUDA states only where this machine has as
    many devices; a CPU-only machine skips them)."""
    torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available():
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
        else:
            warnings.warn(
                f"checkpoint has CUDA RNG states for {len(cuda)} devices, this machine has "
                f"{torch.cuda.device_count()}; CUDA random numbers will differ from the original run",
                stacklevel=2,
            )
    if "numpy" in state:
        s = state["numpy"]
        keys = s["keys"].numpy().astype(np.uint32)
        np.random.set_state((s["algorithm"], keys, s["pos"], s["has_gauss"], s["cached_gaussian"]))
    if "python" in state:
        s = state["python"]
        random.setstate((s["version"], tuple(int(v) for v in s["state"].tolist()), s["gauss_next"]))


# -- a training run's state -------------------------------------------------------------------
def model_config(model: nn.Module) -> dict[str, Any]:
    net = unwrap(model)
    card = getattr(net, "card", None)
    return {
        "name": getattr(card, "name", None),
        "num_classes": getattr(net, "num_classes", None),
        "in_chans": getattr(net, "in_chans", None),
        "options": to_plain(dict(getattr(net, "build_options", None) or {})),
    }


def loader_state(loader: Any, next_epoch: int) -> dict[str, Any]:
    state: dict[str, Any] = {"epoch": next_epoch}
    for attr in ("seed", "batch_size"):
        if isinstance(getattr(loader, attr, None), int):
            state[attr] = getattr(loader, attr)
    if callable(getattr(loader, "state_dict", None)):
        state["state"] = to_plain(loader.state_dict())
    return state


def training_checkpoint(
    state: Any, metrics: Mapping[str, Any] | None = None, rank_rngs: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The checkpoint of a :class:`~cnnlab.engine.callbacks.TrainState` at the end of its
    current epoch (``state.epoch`` is the 0-based index of the epoch just finished).
    ``rank_rngs``: every rank's generators (:func:`rank_rng_states`) for a distributed run,
    so each rank resumes with its own."""
    scheduler, scaler = state.scheduler, state.scaler
    extra = {"rng_ranks": rank_rngs} if rank_rngs else {}
    return {
        **extra,
        "model_config": model_config(state.model),
        "model": unwrap(state.model).state_dict(),
        "optimizer": state.optimizer.state_dict() if state.optimizer is not None else None,
        "scheduler": scheduler.state_dict() if callable(getattr(scheduler, "state_dict", None)) else None,
        "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
        "epoch": state.epoch + 1,
        "global_step": state.global_step,
        "rng": rng_state(),
        "loader": loader_state(state.train_loader, state.epoch + 1),
        "recipe": to_plain(state.recipe or {}),
        "metrics": to_plain(dict(metrics or {})),
        "history": to_plain(list(state.history)),
    }


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every parameter group's learning rate (the course changes it on resume)."""
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not math.isfinite(lr) or lr <= 0:
        raise CheckpointError(f"learning rate must be a positive number, got {lr!r}")
    for group in optimizer.param_groups:
        group["lr"] = float(lr)
        if "initial_lr" in group:
            group["initial_lr"] = float(lr)


def restore_training_state(
    ckpt: Mapping[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    scaler: Any = None,
    loader: Any = None,
    *,
    lr: float | None = None,
    rng: bool = True,
) -> int:
    """Load a checkpoint into the objects of a run; returns the epoch to start from.

    ``lr`` replaces the learning rate after the optimizer state is loaded, through the
    scheduler's ``set_lr(lr)`` when it has one (cnnlab's schedules rescale what follows),
    otherwise in every parameter group (a PyTorch scheduler may overwrite it at its next step). ``rng=False`` leaves the
    random generators for the caller to restore with :func:`set_rng_state` later.
    """
    net = unwrap(model)
    try:
        net.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        cfg = ckpt.get("model_config", {})
        raise CheckpointError(
            f"checkpoint weights do not fit this {type(net).__name__} (the checkpoint is of "
            f"{cfg.get('name')} with {cfg.get('num_classes')} classes and {cfg.get('in_chans')} input channels): "
            f"{str(err).splitlines()[0]}; build the model with the checkpoint's options"
        ) from None
    if optimizer is not None and ckpt.get("optimizer") is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    if (
        scheduler is not None
        and ckpt.get("scheduler") is not None
        and callable(getattr(scheduler, "load_state_dict", None))
    ):
        scheduler.load_state_dict(ckpt["scheduler"])
    if scaler is not None and ckpt.get("scaler") is not None:
        scaler.load_state_dict(ckpt["scaler"])
    loader_ckpt = ckpt.get("loader") or {}
    if loader is not None and "state" in loader_ckpt and callable(getattr(loader, "load_state_dict", None)):
        loader.load_state_dict(loader_ckpt["state"])
    if lr is not None:
        if callable(getattr(scheduler, "set_lr", None)):
            scheduler.set_lr(lr)  # rescales the rest of the schedule too
        elif optimizer is not None:
            set_lr(optimizer, lr)
    own = own_rng_state(ckpt)
    if rng and own:
        set_rng_state(own)
    return int(ckpt["epoch"])
