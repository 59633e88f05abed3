"""Multinomial logistic regression on features that need not fit in memory.

The objective is scikit-learn's ``LogisticRegression(C=C, solver="lbfgs")`` on features
standardised as its ``StandardScaler`` does: ``C`` x the sum of the log-losses plus
``0.5 * ||W||^2``, the intercepts unpenalised, one weight vector per class for three or
more classes and one in all for two (the binary logistic loss), as scikit-learn fits them.
Here it is divided by ``C * n`` (the mean log-loss plus ``||W||^2 / (2 C n)``), the scale on
which scikit-learn stops L-BFGS (largest gradient component below ``tol``); the minimiser
is the same. The objective is strictly convex, so both land on the same optimum.

The features are read a chunk of rows at a time, three times over: one pass for the
per-feature mean and standard deviation (merged chunk by chunk in float64), then one per
function evaluation of L-BFGS (``torch.optim.LBFGS``, strong Wolfe line search, 10 pairs
of history as scipy keeps), then one to score. A chunk is multiplied in float32 (``dtype``)
centred (``x - mean``, written into one reused buffer) and multiplied by weights with the
``1 / scale`` folded in (and folded back out of the gradient): centring before the
product keeps float32 exact enough when a feature's mean is large beside its spread, which
folding the mean in as well does not; losses and gradients are summed across
chunks in float64, and the weights L-BFGS moves are float64. Features in a ``.npy`` file are read (plain reads, no
memory map) into one reused buffer: nothing is mapped into the process, so its memory is a few chunks
(``chunk_bytes``) whatever the number of images; features in memory are sliced.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from tqdm import tqdm

from ..errors import ConfigError

CHUNK_BYTES = 64 << 20  # rows read at a time: 64 MiB of float32 features
MAX_EVALS = 15_000  # scipy's maxfun, which scikit-learn leaves at its default


class FeatureRows:
    """The rows of an N x D float32 feature matrix, a chunk at a time: from the ``.npy``
    file ``path`` when given (opened once, read into one reused buffer), else from
    ``features``. A context manager; ``close()`` closes the file."""

    def __init__(
        self,
        features: torch.Tensor | np.ndarray,
        path: str | os.PathLike[str] | None = None,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self.shape = tuple(features.shape)
        if len(self.shape) != 2:
            raise ConfigError(f"features must be N x D, got shape {self.shape}")
        self.rows = max(1, int(chunk_bytes) // max(1, 4 * self.shape[1]))
        self.path = Path(path) if path is not None else None
        self.features = features if self.path is None else None
        self.file: BinaryIO | None = None
        self.offset = 0
        if self.path is not None:
            self.file = open(self.path, "rb", buffering=0)  # noqa: SIM115  (closed by close())
            try:
                self.offset = self._data_offset(self.file)
            except BaseException:
                self.close()
                raise

    def _data_offset(self, f: BinaryIO) -> int:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(f)
        if tuple(shape) != self.shape or fortran or dtype != np.dtype("<f4"):
            raise ConfigError(f"{self.path} holds a {dtype} array of shape {shape}, not the features {self.shape}")
        return f.tell()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def __enter__(self) -> FeatureRows:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self.shape[0]

    def __iter__(self) -> Iterator[tuple[int, torch.Tensor]]:
        """``(first row, rows)`` chunks, float32, in order."""
        n, d = self.shape
        if self.file is None:
            x = torch.as_tensor(self.features)
            for start in range(0, n, self.rows):
                yield start, x[start : start + self.rows].float()
            return
        buffer = np.empty((min(self.rows, n), d), dtype=np.float32)
        raw = memoryview(buffer).cast("B")
        row_bytes = 4 * d
        for start in range(0, n, self.rows):
            count = min(self.rows, n - start)
            want, got = count * row_bytes, 0
            self.file.seek(self.offset + start * row_bytes)
            while got < want:
                chunk = self.file.readinto(raw[got:want])
                if not chunk:
                    raise ConfigError(
                        f"{self.path} ended after {start + got // row_bytes:,} of {n:,} rows: the cached features are "
                        "damaged; delete that entry's folder (it is computed again) or probe with --no-cache"
                    )
                got += chunk
            yield start, torch.from_numpy(buffer[:count])


@dataclass
class LogisticFit:
    """A fitted model: ``coef`` (K x D, or 1 x D for two classes, as scikit-learn's
    ``coef_``) and ``intercept`` act on features standardised with ``mean`` and ``scale``;
    ``train_acc`` is measured at the final weights, ``grad_max`` is the largest gradient
    component there (scaled objective), ``converged`` when L-BFGS stopped on a tolerance
    rather than on ``max_iter``."""

    classes: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    iterations: int
    evaluations: int
    converged: bool
    loss: float
    grad_max: float
    train_acc: float

    def predict(self, rows: FeatureRows, dtype: torch.dtype = torch.float32) -> np.ndarray:
        """The predicted class of every row."""
        weights = torch.from_numpy(np.vstack([self.coef.T, self.intercept[None]]))
        scaled = _scaled(weights, torch.from_numpy(1.0 / self.scale)).to(dtype)
        mean = torch.from_numpy(self.mean).to(dtype)
        buffer = torch.empty(min(rows.rows, len(rows)), rows.shape[1], dtype=dtype)
        out = np.empty(len(rows), dtype=self.classes.dtype)
        for start, x in rows:
            logits = _logits(_centred(x, mean, buffer), scaled)
            out[start : start + len(x)] = self.classes[logits.argmax(1).numpy()]
        return out

    def score(self, rows: FeatureRows, labels: torch.Tensor | np.ndarray) -> float:
        """Accuracy on ``rows`` with their ``labels``."""
        return float(np.mean(self.predict(rows) == np.asarray(labels)))


def standardisation(rows: FeatureRows) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation in one pass (chunks merged in float64, Chan et
    al.'s update); features scikit-learn's ``StandardScaler`` deems constant get scale 1."""
    d = rows.shape[1]
    count, mean, m2 = 0, np.zeros(d), np.zeros(d)
    for _, x in rows:
        x64 = x.double()
        n = len(x64)
        chunk_mean = x64.mean(0).numpy()
        chunk_m2 = ((x64 - torch.from_numpy(chunk_mean)) ** 2).sum(0).numpy()
        delta = chunk_mean - mean
        total = count + n
        mean = mean + delta * n / total
        m2 = m2 + chunk_m2 + delta**2 * count * n / total
        count = total
    var = m2 / max(count, 1)
    eps = np.finfo(np.float64).eps
    constant = var <= count * eps * var + (count * mean * eps) ** 2  # StandardScaler's _is_constant_feature
    scale = np.sqrt(var)
    scale[constant] = 1.0
    return mean, scale


def _scaled(weights: torch.Tensor, inv_scale: torch.Tensor) -> torch.Tensor:
    """Weights (D + 1 rows, the last the intercepts) for standardised features, turned into
    weights for centred ones: ``((x - mean) * inv_scale) @ W + b = (x - mean) @ (inv_scale * W)
    + b``. Computed in float64."""
    w = weights.double()
    return torch.cat([w[:-1] * inv_scale[:, None], w[-1:]])


def _centred(x: torch.Tensor, mean: torch.Tensor, buffer: torch.Tensor) -> torch.Tensor:
    """``x - mean`` written into ``buffer`` (a fresh chunk-sized tensor each time costs more
    than the arithmetic: new pages to fault in), in the buffer's dtype."""
    z = buffer[: len(x)]
    return torch.sub(x.to(buffer.dtype), mean, out=z)


def _logits(z: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Every class's logit: two classes share one weight vector (class 0's logit is 0)."""
    logits = torch.addmm(weights[-1], z, weights[:-1])
    if weights.shape[1] == 1:
        logits = torch.cat([torch.zeros_like(logits), logits], 1)
    return logits


def fit_logistic(
    rows: FeatureRows,
    labels: torch.Tensor | np.ndarray,
    *,
    C: float = 1.0,
    max_iter: int = 1000,
    tol: float = 1e-4,
    dtype: torch.dtype = torch.float32,
    progress: bool | None = None,
    desc: str = "L-BFGS",
) -> LogisticFit:
    """Fit on ``rows`` and ``labels`` (see the module docstring). ``progress``: a bar over
    the L-BFGS iterations, with iterations/s and the time left (default: on a terminal)."""
    if not C > 0:
        raise ConfigError(f"C={C!r} must be positive (the inverse L2 strength; 1.0 is scikit-learn's default)")
    if not isinstance(max_iter, int) or max_iter < 1:
        raise ConfigError(f"max_iter={max_iter!r} must be a positive int")
    y = np.asarray(labels)
    n, d = rows.shape
    if y.shape != (n,):
        raise ConfigError(f"{n:,} feature rows but labels of shape {y.shape}")
    classes, index = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ConfigError(f"a classifier needs at least two classes in the training labels, got {classes.tolist()}")
    target = torch.from_numpy(index.astype(np.int64))
    mean64, scale64 = standardisation(rows)
    mean, inv_scale64_t = torch.from_numpy(mean64).to(dtype), torch.from_numpy(1.0 / scale64)
    buffer = torch.empty(min(rows.rows, n), d, dtype=dtype)  # one chunk, centred; reused
    width = 1 if len(classes) == 2 else len(classes)
    weights = torch.zeros(d + 1, width, dtype=torch.float64, requires_grad=True)  # last row: the intercepts
    l2 = 1.0 / (C * n)

    def evaluate(w: torch.Tensor, count_correct: bool = False) -> tuple[torch.Tensor, torch.Tensor, int]:
        """The scaled objective and its gradient at ``w``, and how many rows it classifies right.
        A chunk is centred; ``1 / scale`` is folded into the weights (``z @ W = (x - mean) @ (W / scale)``)
        and back out of the gradient."""
        loss = torch.zeros((), dtype=torch.float64)
        xt_g = torch.zeros(d, width, dtype=torch.float64)
        g_sum = torch.zeros(width, dtype=torch.float64)
        scaled = _scaled(w.detach(), inv_scale64_t).to(dtype)
        correct = 0
        for start, chunk in rows:
            x = _centred(chunk, mean, buffer)
            t = target[start : start + len(x)]
            logits = _logits(x, scaled)
            lse = torch.logsumexp(logits, 1)
            loss += (lse - logits.gather(1, t[:, None]).squeeze(1)).double().sum()
            if count_correct:
                correct += int((logits.argmax(1) == t).sum())
            g = torch.exp(logits - lse[:, None])
            g[torch.arange(len(t)), t] -= 1  # d loss / d logits: softmax minus one-hot
            if width == 1:
                g = g[:, 1:]
            xt_g += (x.T @ g).double()
            g_sum += g.double().sum(0)
        coef = w.detach()[:-1]
        grad = torch.empty_like(w)
        # d/dW of the z @ W terms: z^T g = (x - mean)^T g / scale, in float64.
        grad[:-1] = xt_g * inv_scale64_t[:, None]
        grad[-1] = g_sum
        grad /= n
        grad[:-1] += l2 * coef
        return loss / n + 0.5 * l2 * (coef**2).sum(), grad, correct

    optimizer = torch.optim.LBFGS(
        [weights],
        lr=1,
        max_iter=max_iter,
        max_eval=max(MAX_EVALS, max_iter),
        tolerance_grad=tol,
        tolerance_change=64 * float(np.finfo(np.float64).eps),  # scikit-learn's ftol
        history_size=10,
        line_search_fn="strong_wolfe",
    )
    show = progress if progress is not None else sys.stderr.isatty()
    bar = tqdm(total=max_iter, unit="it", desc=desc, disable=not show, leave=False)

    def closure() -> torch.Tensor:
        with torch.no_grad():
            loss, grad, _ = evaluate(weights)
        weights.grad = grad
        state = optimizer.state[weights]
        bar.update(state.get("n_iter", 0) - bar.n)  # iterations/s and the time left, on a terminal
        return loss

    with bar:
        optimizer.step(closure)
        state = optimizer.state[weights]
        iterations, evaluations = int(state.get("n_iter", 0)), int(state.get("func_evals", 0))
        bar.update(iterations - bar.n)
        with torch.no_grad():
            loss, grad, correct = evaluate(weights, count_correct=True)
    grad_max = float(grad.abs().max())
    final = weights.detach().numpy()
    return LogisticFit(
        classes=classes,
        coef=final[:-1].T.copy(),
        intercept=final[-1].copy(),
        mean=mean64,
        scale=scale64,
        iterations=iterations,
        evaluations=evaluations,
        converged=grad_max <= tol or (iterations < max_iter and evaluations < max(MAX_EVALS, max_iter)),
        loss=float(loss),
        grad_max=grad_max,
        train_acc=correct / n,
    )
