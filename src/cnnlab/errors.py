"""Exceptions that cnnlab raises on purpose.

Each one subclasses the builtin a caller would already catch (``ValueError`` for bad
arguments, ``RuntimeError`` for failed loads) so existing ``except`` clauses keep working,
and its message names the value received and the fix.
"""

from __future__ import annotations

import difflib
import pickle
from collections.abc import Iterable


class CnnlabError(Exception):
    """Base class of every error cnnlab raises deliberately."""


class UnknownModelError(CnnlabError, ValueError):
    """A model name that is not in the registry."""


class ConfigError(CnnlabError, ValueError):
    """An option, class count, channel count or other setting that cannot be used."""


class InputShapeError(CnnlabError, ValueError):
    """An input tensor whose shape the model cannot process."""


class WeightsError(CnnlabError, RuntimeError):
    """Weights that could not be found, downloaded or mapped onto a model."""


class CheckpointError(CnnlabError, RuntimeError):
    """A checkpoint that is missing, truncated, corrupted, or holds code we will not run."""


class UnsafeFileError(CheckpointError):
    """A file that would execute code when loaded: refused, nothing run."""


class TrainingDivergedError(CnnlabError, RuntimeError):
    """The loss became NaN or infinite; training stopped before the bad step was applied."""

    def __init__(self, message: str, *, epoch: int, step: int, value: float) -> None:
        super().__init__(message)
        self.epoch, self.step, self.value = epoch, step, value


class WriteError(CnnlabError, OSError):
    """A file that could not be written: a read-only or full disk, no permission. The file it
    would have replaced is intact (writes are atomic)."""


class RunInUseError(CnnlabError, RuntimeError):
    """A run directory another process is training in (its lock is held)."""


class DatasetNotFoundError(CnnlabError, FileNotFoundError):
    """A dataset's files are not in any folder searched."""


class DatasetIntegrityError(CnnlabError, RuntimeError):
    """A dataset file that is present but damaged, altered or in an unexpected format."""


class UnsafePickleError(DatasetIntegrityError, pickle.UnpicklingError):
    """A pickle that asks for anything beyond plain containers and NumPy arrays."""


class DownloadError(CnnlabError, RuntimeError):
    """No mirror delivered a file with the expected checksum."""


def require_parent_folder(path: object, what: str) -> None:
    """Refuse to write ``what`` (``"the chart"``, ``"the ONNX file"``) to ``path`` when its
    folder does not exist, rather than create folders nobody asked for (a mistyped path
    would otherwise leave a stray tree behind)."""
    from pathlib import Path

    path = Path(path)  # type: ignore[arg-type]
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(
            f"cannot write {what} to {path}: folder {parent} does not exist; create it or choose another path"
        )


def code_reference(err: BaseException) -> str | None:
    """The line of torch's ``weights_only`` refusal that names a function or class (a pickle
    GLOBAL) the file would call when loaded; ``None`` for any other failure."""
    return next((ln.strip() for ln in str(err).splitlines() if "GLOBAL" in ln), None)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions from ``a`` to ``b``."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def closest(value: str, choices: Iterable[str], n: int = 5, cutoff: float = 0.5) -> list[str]:
    """The choices that look like ``value`` (difflib's similarity above ``cutoff``), nearest
    first by edit distance: ``lenet6`` gives ``lenet5`` before ``lenet5_1998``."""
    pool = [str(c) for c in choices]
    near = difflib.get_close_matches(value, pool, n=max(n, 10), cutoff=cutoff)
    return sorted(near, key=lambda c: (edit_distance(value.lower(), c.lower()), c))[:n]
