"""A small NumPy network trainer: a sequence of :mod:`cnnlab.scratch.layers`, SGD with
momentum, and LeNet-5 trained on scikit-learn's digits."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import layers as L


@dataclass
class Layer:
    """One step of a :class:`Sequential`: a forward/backward pair, its parameters (name ->
    array) and its fixed keyword arguments."""

    forward: Any
    backward: Any
    params: dict[str, np.ndarray] = field(default_factory=dict)
    kwargs: dict[str, Any] = field(default_factory=dict)
    kind: str = ""


class Sequential:
    """Layers run in order; ``loss_and_grads`` runs forward, the softmax cross-entropy and
    backward, returning the loss and the gradient of every parameter."""

    def __init__(self, layers: list[Layer]) -> None:
        self.layers = layers

    def forward(self, x: np.ndarray, training: bool) -> tuple[np.ndarray, list[Any]]:
        caches = []
        for layer in self.layers:
            kwargs = dict(layer.kwargs)
            if layer.kind in ("batch_norm", "dropout"):
                kwargs["training"] = training
            x, cache = layer.forward(x, *layer.params.values(), **kwargs)
            caches.append(cache)
        return x, caches

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, list[dict[str, np.ndarray]]]:
        logits, caches = self.forward(x, training=True)
        loss, d = L.softmax_cross_entropy(logits, y)
        grads: list[dict[str, np.ndarray]] = []
        for layer, cache in zip(reversed(self.layers), reversed(caches)):
            g = layer.backward(d, cache)
            d = g["dx"]
            grads.append({name: g["d" + name] for name in layer.params})
        return loss, grads[::-1]

    def predict(self, x: np.ndarray, batch: int = 256) -> np.ndarray:
        return np.concatenate(
            [self.forward(x[i : i + batch], training=False)[0].argmax(1) for i in range(0, len(x), batch)]
        )


class SGD:
    """``v = momentum v - lr g``; ``p += v`` (the lecture's momentum update), in place."""

    def __init__(self, net: Sequential, lr: float, momentum: float = 0.9, weight_decay: float = 0.0) -> None:
        self.net, self.lr, self.momentum, self.weight_decay = net, lr, momentum, weight_decay
        self.velocity = [{k: np.zeros_like(v) for k, v in layer.params.items()} for layer in net.layers]

    def step(self, grads: list[dict[str, np.ndarray]]) -> None:
        for layer, g, vel in zip(self.net.layers, grads, self.velocity):
            for name, p in layer.params.items():
                grad = g[name] + (self.weight_decay * p if p.ndim > 1 else 0)
                vel[name] = self.momentum * vel[name] - self.lr * grad
                p += vel[name]


def _he(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    return rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)


def lenet5(rng: np.random.Generator, num_classes: int = 10) -> Sequential:
    """LeNet-5's shape (LeCun et al. 1998) on 16x16 inputs: conv 6@5x5 (padding 2), ReLU,
    max pool 2, conv 16@5x5, ReLU, max pool 2, fc 120, 84, ``num_classes``. Deviations
    (declared): ReLU and max pooling instead of scaled tanh and trainable subsampling, and
    16x16 inputs (digits are 8x8; upsampled 2x) so the first conv keeps 16x16 (padding 2)
    and the second gives 4x4 before the last pooling -> 16 x 2 x 2 features."""
    conv = lambda f, c: Layer(L.conv2d, L.conv2d_backward, {"w": _he(rng, (f, c, 5, 5), c * 25), "b": np.zeros(f)})  # noqa: E731
    fc = lambda m, d: Layer(L.linear, L.linear_backward, {"w": _he(rng, (m, d), d), "b": np.zeros(m)})  # noqa: E731
    relu = lambda: Layer(L.relu, L.relu_backward)  # noqa: E731
    pool = lambda: Layer(L.max_pool2d, L.max_pool2d_backward, kwargs={"kernel": 2})  # noqa: E731
    c1 = conv(6, 1)
    c1.kwargs = {"pad": 2}
    return Sequential(
        [c1, relu(), pool(), conv(16, 6), relu(), pool(), fc(120, 64), relu(), fc(84, 120), relu(), fc(num_classes, 84)]
    )


def digits_split(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's digits, pixels / 16 upsampled 2x to 16x16, a stratified 80/20 split
    (``train_test_split(..., stratify=y, random_state=seed)``)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).repeat(2, axis=1).repeat(2, axis=2)[:, None]
    return tuple(train_test_split(x, d.target, test_size=0.2, stratify=d.target, random_state=seed))  # type: ignore[return-value]


def train_lenet5_digits(
    epochs: int = 12, batch_size: int = 32, lr: float = 0.02, seed: int = 0, print_fn: Any = None
) -> dict[str, Any]:
    """Train :func:`lenet5` on digits with SGD (momentum 0.9, weight decay 5e-4, the rate
    divided by 10 for the last third); returns the test accuracy, the per-epoch loss and
    accuracy, and the seconds taken."""
    rng = np.random.default_rng(seed)
    xtr, xte, ytr, yte = digits_split(seed)
    net = lenet5(rng)
    opt = SGD(net, lr=lr, momentum=0.9, weight_decay=5e-4)
    history = []
    start = time.perf_counter()
    for epoch in range(epochs):
        if epoch == (2 * epochs) // 3:
            opt.lr /= 10
        order = rng.permutation(len(xtr))
        losses = []
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            loss, grads = net.loss_and_grads(xtr[idx], ytr[idx])
            opt.step(grads)
            losses.append(loss)
        acc = float((net.predict(xte) == yte).mean())
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "test_acc": acc})
        if print_fn:
            print_fn(f"epoch {epoch + 1}: loss {np.mean(losses):.4f}, test accuracy {acc:.2%}")
    return {
        "test_acc": history[-1]["test_acc"],
        "history": history,
        "seconds": time.perf_counter() - start,
        "train_images": len(xtr),
        "test_images": len(xte),
    }
