"""Layers in NumPy with their forward and backward passes, as the lectures derive them.

Every layer is a pair ``forward(x, ...) -> (out, cache)`` and ``backward(dout, cache) ->
grads``; ``grads`` is a dict with ``"dx"`` and one entry per parameter (``"dw"``, ``"db"``,
``"dgamma"``, ``"dbeta"``). Shapes use ``N`` images, ``C`` channels, ``H x W`` maps, ``F``
filters of ``KH x KW``, ``D`` features. No PyTorch: tests check every gradient against
``torch.autograd`` and against central differences (:mod:`cnnlab.scratch.gradcheck`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

Cache = Any
Grads = dict[str, np.ndarray]


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _out_size(size: int, k: int, stride: int, pad: int, dilation: int = 1) -> int:
    span = dilation * (k - 1) + 1
    _check(
        size + 2 * pad >= span,
        f"a {k}x{k} window (dilation {dilation}) does not fit a map of {size} + 2 x {pad} padding",
    )
    return (size + 2 * pad - span) // stride + 1


# ----------------------------------------------------------------------------- convolution


def conv2d_direct(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: int = 1, pad: int = 0
) -> tuple[np.ndarray, Cache]:
    """The lecture's equation, loop by loop: ``out[n, f, i, j] = b[f] + sum_{c,u,v}
    w[f, c, u, v] x_pad[n, c, i s + u, j s + v]``, a cross-correlation, which is a
    convolution with the flipped kernel. x: N x C x H x W, w: F x C x KH x KW -> N x F x OH x OW."""
    _check(
        x.ndim == 4 and w.ndim == 4 and x.shape[1] == w.shape[1],
        f"x must be N x C x H x W and w F x C x KH x KW with the same C; got {x.shape} and {w.shape}",
    )
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    oh, ow = _out_size(h, kh, stride, pad), _out_size(wd, kw, stride, pad)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n, f, oh, ow), dtype=np.result_type(x, w))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out, (x, w, b, stride, pad)


def conv2d_direct_backward(dout: np.ndarray, cache: Cache) -> Grads:
    """``dw[f] = sum_n sum_{i,j} dout[n, f, i, j] x_pad[n, :, i s + u, j s + v]`` (the
    input correlated with the delta: "rot180(delta) * input" in convolution form);
    ``dx`` = the delta scattered back through the same windows (a full convolution with the
    flipped kernel); ``db[f] = sum dout[:, f]``."""
    x, w, b, stride, pad = cache
    _, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            sl = (slice(None), slice(None), slice(i * stride, i * stride + kh), slice(j * stride, j * stride + kw))
            d = dout[:, :, i, j]  # N x F
            dw += np.tensordot(d, xp[sl], axes=([0], [0]))
            dxp[sl] += np.tensordot(d, w, axes=([1], [0]))
    grads = {"dx": dxp[:, :, pad : pad + x.shape[2], pad : pad + x.shape[3]], "dw": dw}
    if b is not None:
        grads["db"] = dout.sum(axis=(0, 2, 3))
    return grads


def _windows(xp: np.ndarray, kh: int, kw: int, stride: int, dilation: int, oh: int, ow: int) -> np.ndarray:
    """A view N x C x OH x OW x KH x KW of every window of ``xp`` (no copy: ``as_strided``)."""
    sn, sc, sh, sw = xp.strides
    shape = (xp.shape[0], xp.shape[1], oh, ow, kh, kw)
    strides = (sn, sc, sh * stride, sw * stride, sh * dilation, sw * dilation)
    return as_strided(xp, shape=shape, strides=strides, writeable=False)


def conv2d(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: int = 1, pad: int = 0, dilation: int = 1
) -> tuple[np.ndarray, Cache]:
    """The same convolution, fast: every window as a strided view (im2col without the copy
    until the matrix product), then one ``einsum``. Supports ``dilation``. Shapes as
    :func:`conv2d_direct`."""
    _check(
        x.ndim == 4 and w.ndim == 4 and x.shape[1] == w.shape[1],
        f"x must be N x C x H x W and w F x C x KH x KW with the same C; got {x.shape} and {w.shape}",
    )
    _check(
        stride >= 1 and pad >= 0 and dilation >= 1,
        f"need stride >= 1, pad >= 0, dilation >= 1; got {stride}, {pad}, {dilation}",
    )
    _, _, h, wd = x.shape
    _, _, kh, kw = w.shape
    oh, ow = _out_size(h, kh, stride, pad, dilation), _out_size(wd, kw, stride, pad, dilation)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = _windows(xp, kh, kw, stride, dilation, oh, ow)
    out = np.einsum("ncijuv,fcuv->nfij", cols, w, optimize=True)
    if b is not None:
        out = out + b.reshape(1, -1, 1, 1)
    return out, (x, w, b, stride, pad, dilation)


def conv2d_backward(dout: np.ndarray, cache: Cache) -> Grads:
    """``dw = einsum(dout, windows)``; ``dx``: each window's share ``einsum(dout, w)`` added
    back where the window came from (one strided add per kernel offset)."""
    x, w, b, stride, pad, dilation = cache
    _, _, kh, kw = w.shape
    oh, ow = dout.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = _windows(xp, kh, kw, stride, dilation, oh, ow)
    dw = np.einsum("nfij,ncijuv->fcuv", dout, cols, optimize=True)
    dcols = np.einsum("nfij,fcuv->ncijuv", dout, w, optimize=True)
    dxp = np.zeros_like(xp)
    for u in range(kh):
        for v in range(kw):
            r, s = u * dilation, v * dilation
            dxp[:, :, r : r + stride * (oh - 1) + 1 : stride, s : s + stride * (ow - 1) + 1 : stride] += dcols[
                ..., u, v
            ]
    grads = {"dx": dxp[:, :, pad : pad + x.shape[2], pad : pad + x.shape[3]], "dw": dw}
    if b is not None:
        grads["db"] = dout.sum(axis=(0, 2, 3))
    return grads


# -------------------------------------------------------------------------------- pooling


def max_pool2d(x: np.ndarray, kernel: int = 2, stride: int | None = None) -> tuple[np.ndarray, Cache]:
    """``out = max over each kernel x kernel window``. N x C x H x W -> N x C x OH x OW."""
    stride = stride or kernel
    _check(x.ndim == 4, f"x must be N x C x H x W, got {x.shape}")
    oh, ow = _out_size(x.shape[2], kernel, stride, 0), _out_size(x.shape[3], kernel, stride, 0)
    win = _windows(x, kernel, kernel, stride, 1, oh, ow).reshape(*x.shape[:2], oh, ow, -1)
    arg = win.argmax(axis=-1)
    return np.take_along_axis(win, arg[..., None], axis=-1)[..., 0], (x.shape, kernel, stride, arg)


def max_pool2d_backward(dout: np.ndarray, cache: Cache) -> Grads:
    """The gradient goes to the arg-max of each window only (the "switch"); overlapping
    windows add up."""
    shape, kernel, stride, arg = cache
    dx = np.zeros(shape, dtype=dout.dtype)
    n, c, oh, ow = dout.shape
    u, v = np.divmod(arg, kernel)
    rows = np.arange(oh).reshape(1, 1, -1, 1) * stride + u
    cols = np.arange(ow).reshape(1, 1, 1, -1) * stride + v
    ni = np.arange(n).reshape(-1, 1, 1, 1)
    ci = np.arange(c).reshape(1, -1, 1, 1)
    np.add.at(dx, (np.broadcast_to(ni, dout.shape), np.broadcast_to(ci, dout.shape), rows, cols), dout)
    return {"dx": dx}


def avg_pool2d(x: np.ndarray, kernel: int = 2, stride: int | None = None) -> tuple[np.ndarray, Cache]:
    """``out = mean over each kernel x kernel window``."""
    stride = stride or kernel
    _check(x.ndim == 4, f"x must be N x C x H x W, got {x.shape}")
    oh, ow = _out_size(x.shape[2], kernel, stride, 0), _out_size(x.shape[3], kernel, stride, 0)
    return _windows(x, kernel, kernel, stride, 1, oh, ow).mean(axis=(-1, -2)), (x.shape, kernel, stride)


def avg_pool2d_backward(dout: np.ndarray, cache: Cache) -> Grads:
    """Each window's gradient spread evenly: ``dout / kernel^2`` to every input it averaged."""
    shape, kernel, stride = cache
    dx = np.zeros(shape, dtype=dout.dtype)
    oh, ow = dout.shape[2:]
    share = dout / (kernel * kernel)
    for u in range(kernel):
        for v in range(kernel):
            dx[:, :, u : u + stride * (oh - 1) + 1 : stride, v : v + stride * (ow - 1) + 1 : stride] += share
    return {"dx": dx}


# ---------------------------------------------------------------------------- activations


def relu(x: np.ndarray) -> tuple[np.ndarray, Cache]:
    """``max(0, x)``; derivative 1 where x > 0, else 0 (units stuck below 0 are "dead")."""
    return np.maximum(x, 0), x


def relu_backward(dout: np.ndarray, cache: Cache) -> Grads:
    return {"dx": dout * (cache > 0)}


def leaky_relu(x: np.ndarray, negative_slope: float = 0.01) -> tuple[np.ndarray, Cache]:
    """``x`` for x > 0, ``negative_slope x`` otherwise: never zero gradient."""
    return np.where(x > 0, x, negative_slope * x), (x, negative_slope)


def leaky_relu_backward(dout: np.ndarray, cache: Cache) -> Grads:
    x, slope = cache
    return {"dx": dout * np.where(x > 0, 1.0, slope)}


def elu(x: np.ndarray, alpha: float = 1.0) -> tuple[np.ndarray, Cache]:
    """``x`` for x > 0, ``alpha (exp(x) - 1)`` otherwise (Clevert et al. 2016)."""
    out = np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))
    return out, (x, out, alpha)


def elu_backward(dout: np.ndarray, cache: Cache) -> Grads:
    x, out, alpha = cache
    return {"dx": dout * np.where(x > 0, 1.0, out + alpha)}


def sigmoid(x: np.ndarray) -> tuple[np.ndarray, Cache]:
    """``1 / (1 + exp(-x))``; derivative ``s (1 - s) <= 1/4``: saturates and shrinks gradients."""
    out = np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))
    return out, out


def sigmoid_backward(dout: np.ndarray, cache: Cache) -> Grads:
    return {"dx": dout * cache * (1 - cache)}


def tanh(x: np.ndarray) -> tuple[np.ndarray, Cache]:
    """``tanh(x)``, zero-centred; derivative ``1 - tanh^2``, which also saturates."""
    out = np.tanh(x)
    return out, out


def tanh_backward(dout: np.ndarray, cache: Cache) -> Grads:
    return {"dx": dout * (1 - cache**2)}


# ------------------------------------------------------------------------- normalisation


def batch_norm(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    state: dict[str, np.ndarray],
    *,
    training: bool,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> tuple[np.ndarray, Cache]:
    """Ioffe & Szegedy (2015), Alg. 1, per feature (N x D) or per channel (N x C x H x W):
    training: (1) ``mu = mean(x)``, (2) ``var = mean((x - mu)^2)``, (3) ``x_hat = (x - mu) /
    sqrt(var + eps)``, (4) ``y = gamma x_hat + beta``, and the running statistics in
    ``state`` move by ``momentum`` (PyTorch's convention; the running variance is the
    unbiased one); inference: the running statistics instead of the batch's. ``state``
    (``{"mean", "var"}``) is updated in place, explicitly passed in and out."""
    _check(x.ndim in (2, 4), f"batch_norm takes N x D or N x C x H x W, got {x.shape}")
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
    if training:
        mu = x.mean(axis=axes)
        var = x.var(axis=axes)
        count = x.size // x.shape[1]
        state["mean"] = (1 - momentum) * state["mean"] + momentum * mu
        state["var"] = (1 - momentum) * state["var"] + momentum * var * count / max(count - 1, 1)
    else:
        mu, var = state["mean"], state["var"]
    inv = 1 / np.sqrt(var + eps)
    x_hat = (x - mu.reshape(shape)) * inv.reshape(shape)
    return gamma.reshape(shape) * x_hat + beta.reshape(shape), (x_hat, gamma, inv, axes, shape, training)


def batch_norm_backward(dout: np.ndarray, cache: Cache) -> Grads:
    """Training: the gradient through the batch statistics too,
    ``dx = gamma inv / m (m dx_hat - sum dx_hat - x_hat sum(dx_hat x_hat))``; inference:
    ``dx = gamma inv dout`` (the statistics are constants)."""
    x_hat, gamma, inv, axes, shape, training = cache
    dgamma = (dout * x_hat).sum(axis=axes)
    dbeta = dout.sum(axis=axes)
    dx_hat = dout * gamma.reshape(shape)
    if training:
        m = dout.size // dout.shape[1]
        dx = (inv.reshape(shape) / m) * (
            m * dx_hat - dx_hat.sum(axis=axes, keepdims=True) - x_hat * (dx_hat * x_hat).sum(axis=axes, keepdims=True)
        )
    else:
        dx = dx_hat * inv.reshape(shape)
    return {"dx": dx, "dgamma": dgamma, "dbeta": dbeta}


def dropout(
    x: np.ndarray,
    drop_prob: float,
    *,
    training: bool,
    rng: np.random.Generator | None = None,
    mode: str = "inverted",
    mask: np.ndarray | None = None,
) -> tuple[np.ndarray, Cache]:
    """Srivastava et al. (2014): drop each unit with probability ``drop_prob`` in training.
    ``mode="inverted"``: scale the kept units by ``1 / (1 - drop_prob)`` in training, nothing
    at test (what frameworks do); ``"lecture"``: no scaling in training, multiply by ``(1 -
    drop_prob)`` at test. ``mask`` (0/1, as x) replaces the draw from ``rng``."""
    _check(0 <= drop_prob < 1, f"drop_prob must be in [0, 1), got {drop_prob}")
    _check(mode in ("inverted", "lecture"), f"mode must be 'inverted' or 'lecture', got {mode!r}")
    keep = 1 - drop_prob
    if not training:
        scale = 1.0 if mode == "inverted" else keep
        return x * scale, ("test", scale)
    if mask is None:
        _check(rng is not None, "dropout in training needs rng= (a numpy Generator) or mask=")
        mask = (rng.random(x.shape) < keep).astype(x.dtype)
    scale = mask / keep if mode == "inverted" else mask
    return x * scale, ("train", scale)


def dropout_backward(dout: np.ndarray, cache: Cache) -> Grads:
    _, scale = cache
    return {"dx": dout * scale}


# ------------------------------------------------------------------------ linear and losses


def linear(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Cache]:
    """``x W^T + b`` with x: N x D (or N x anything, flattened), w: M x D -> N x M."""
    flat = x.reshape(x.shape[0], -1)
    _check(flat.shape[1] == w.shape[1], f"linear: x has {flat.shape[1]} features, w expects {w.shape[1]}")
    return flat @ w.T + b, (x, w)


def linear_backward(dout: np.ndarray, cache: Cache) -> Grads:
    x, w = cache
    flat = x.reshape(x.shape[0], -1)
    return {"dx": (dout @ w).reshape(x.shape), "dw": dout.T @ flat, "db": dout.sum(axis=0)}


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean over the batch of ``-log softmax(logits)[label]``, computed stably (max
    subtracted); returns the loss and ``d loss / d logits = (softmax - onehot) / N``."""
    _check(
        logits.ndim == 2 and labels.shape == (logits.shape[0],),
        f"logits N x K and labels N; got {logits.shape}, {labels.shape}",
    )
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = logits.shape[0]
    loss = -log_probs[np.arange(n), labels].mean()
    d = np.exp(log_probs)
    d[np.arange(n), labels] -= 1
    return float(loss), d / n


def mse(pred: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean squared error ``mean((pred - target)^2)`` and its gradient ``2 (pred - target) / size``."""
    diff = pred - target
    return float((diff**2).mean()), 2 * diff / diff.size
