"""Ctrl-C (SIGINT) and SIGTERM during training: stop at the next step boundary, with the
checkpoints on disk intact, and say how to resume.

The handler only records the signal; :class:`StopOnSignal`, a callback, raises
:class:`RunInterrupted` after the step in progress, so no optimizer step is cut in half and
no checkpoint is left half-written (they are written atomically at epoch ends). The run then
resumes from its last epoch checkpoint (``cnnlab train --resume DIR``), replaying the
interrupted epoch exactly as an uninterrupted run would have run it. A second signal stops
at once.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from .callbacks import Callback, TrainState

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


class RunInterrupted(KeyboardInterrupt):
    """Training stopped on a signal: ``signum``, the ``epoch`` completed before it (1-based
    count) and the ``step`` reached in the next one. ``exit_code`` is 128 + signum."""

    def __init__(self, signum: int, epoch: int, step: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name} after epoch {epoch}, step {step}")
        self.signum, self.epoch, self.step = signum, epoch, step

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class StopOnSignal(Callback):
    """Raises :class:`RunInterrupted` at the first step boundary after :meth:`request`."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def request(self, signum: int) -> None:
        if self.signum is not None:  # a second signal: do not wait for the step
            raise KeyboardInterrupt
        self.signum = signum

    def on_batch_end(self, state: TrainState, batch_metrics: Mapping[str, Any]) -> None:
        if self.signum is not None:
            step = int(batch_metrics.get("step", 0)) + 1 if batch_metrics.get("phase") == "train" else 0
            raise RunInterrupted(self.signum, state.epoch, step)

    def on_epoch_end(self, state: TrainState, metrics: Mapping[str, Any]) -> None:
        if self.signum is not None:  # the epoch (and its checkpoint) completed first
            raise RunInterrupted(self.signum, state.epoch + 1, 0)


@contextlib.contextmanager
def stop_on_signals(stopper: StopOnSignal) -> Iterator[StopOnSignal]:
    """Route SIGINT and SIGTERM to ``stopper`` for the block (main thread only; elsewhere the
    signals keep their handlers); the previous handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield stopper
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, lambda signum, frame: stopper.request(signum))
    try:
        yield stopper
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
