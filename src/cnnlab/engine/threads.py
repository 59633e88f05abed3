"""How many CPU threads a run should use.

PyTorch starts one intra-op thread per core. On a machine other processes also use, those
threads wait for each other at every parallel region: measured on this project's 2-core
machine with one other busy process, MiniVGG training steps (batch 64) took 235 ms with
1 thread and 406 ms with 2 (``cnnlab bench minivgg --threads 1`` / ``--threads 2``;
docs/performance.md). ``auto_threads`` therefore leaves out the cores the load average says
are busy.
"""

from __future__ import annotations

import math
import os

from ..errors import ConfigError


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def auto_threads(load: float | None = None, cores: int | None = None) -> int:
    """``cores`` minus the cores other work keeps busy (the 1-minute load average, rounded),
    at least 1. ``OMP_NUM_THREADS``, when set, wins: the user has decided."""
    env = os.environ.get("OMP_NUM_THREADS")
    if env and load is None and cores is None:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    cores = usable_cores() if cores is None else cores
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # no load average (Windows): trust the core count
            load = 0.0
    busy = math.floor(load + 0.5)
    return max(1, min(cores, cores - busy))


def parse_threads(value: str | int | None) -> int | None:
    """``"auto"`` -> :func:`auto_threads`; a positive number -> itself; ``None`` -> ``None``
    (leave PyTorch's setting alone)."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() == "auto":
        return auto_threads()
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if n < 1:
        raise ConfigError(f"threads={value!r}: give 'auto' or a positive number of threads")
    return n
