"""Numerical gradients by central differences: the check every layer's backward pass passes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """``d f / d x`` by ``(f(x + eps) - f(x - eps)) / (2 eps)``, one element at a time
    (``x`` is changed in place and restored; ``f`` reads it)."""
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        plus = f()
        x[i] = old - eps
        minus = f()
        x[i] = old
        grad[i] = (plus - minus) / (2 * eps)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """``||a - b|| / (||a|| + ||b||)`` (0 when both are 0): small when the two agree in
    every element that matters."""
    denom = float(np.linalg.norm(a) + np.linalg.norm(b))
    return float(np.linalg.norm(a - b)) / denom if denom else 0.0


def check_layer(
    forward: Callable[..., tuple[np.ndarray, object]],
    backward: Callable[[np.ndarray, object], dict],
    inputs: dict[str, np.ndarray],
    *,
    seed: int = 0,
    eps: float = 1e-6,
    **kwargs: object,
) -> dict[str, float]:
    """Compare a layer's analytic gradients with numerical ones for the scalar ``sum(out *
    r)`` (``r`` random, fixed): returns the relative error per input (``"dx"``, ``"dw"``...)."""
    rng = np.random.default_rng(seed)
    out, cache = forward(*inputs.values(), **kwargs)
    r = rng.standard_normal(out.shape)
    grads = backward(r, cache)
    errors = {}
    for name, value in inputs.items():
        key = "d" + name
        if key not in grads:
            continue
        num = numerical_gradient(lambda: float((forward(*inputs.values(), **kwargs)[0] * r).sum()), value, eps)
        errors[key] = relative_error(grads[key], num)
    return errors
