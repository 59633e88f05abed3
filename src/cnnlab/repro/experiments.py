"""The lectures' training experiments, run and checked: ``cnnlab repro run weight-init``.

Each experiment is a ``"training"`` claim of :mod:`cnnlab.repro`: it states what the
lecture says, measures it, and gives a verdict per check ("reproduced" or "not
reproduced", with the numbers). Measured curves go in ``ClaimResult.series`` for
``cnnlab.viz.plot_claim`` to draw. Every run takes ``seed`` and ``quick`` (a smaller run for
tests); they run on the CPU in seconds to minutes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data import load_dataset
from ..errors import ConfigError
from .claims import Check, ClaimResult, register_claim

CS231N_INIT = (
    "Li, Johnson & Yeung, CS231n (Stanford), Lecture 6 'Training Neural Networks I', weight "
    "initialization slides (a 10-layer net of 500 tanh units, W = 0.01 * randn: layer stds "
    "0.213, 0.048, 0.011, ... to zero; W = 1.0 * randn saturates; Xavier keeps tanh stats; "
    "ReLU needs He et al.'s extra factor 2); Glorot & Bengio 2010; He et al. 2015"
)


def _verdict(ok: bool) -> str:
    return "reproduced" if ok else "not reproduced"


# A run learned when its error is clearly below chance: below this share of chance's error.
LEARNED_SHARE = 0.75


def learned(error: float, classes: int) -> bool:
    """Whether a run's error is clearly below chance (``1 - 1/classes``): below
    ``LEARNED_SHARE`` of it (67.5% for 10 classes). A comparison of runs that did not learn
    is no evidence either way."""
    return error < LEARNED_SHARE * (1 - 1 / classes)


def _compared(ok: bool, errors: Sequence[float], classes: int) -> str:
    """The verdict of a check comparing runs: inconclusive unless every one learned."""
    return _verdict(ok) if all(learned(e, classes) for e in errors) else "inconclusive"


# -------------------------------------------------------------------- weight initialization

LECTURE_TANH_001 = (0.213, 0.048, 0.011)  # the first three layer stds the slide prints


def layer_statistics(
    scale: Callable[[int], float], act: str, *, layers: int = 10, width: int = 500, samples: int = 1000, seed: int = 0
) -> dict[str, list[float]]:
    """The slide's experiment: ``X = randn(samples, width)``, then ``layers`` times
    ``H = act(H @ W)`` with ``W = randn(fan_in, width) * scale(fan_in)``; per layer the mean
    and std of ``H`` and a 41-bin histogram on ``[-1, 1]`` (tanh) or ``[0, max]`` (ReLU)."""
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(samples, width, generator=g, dtype=torch.float64)
    fn = {"tanh": torch.tanh, "relu": torch.relu}[act]
    out: dict[str, list[Any]] = {"mean": [], "std": [], "hist": [], "saturated": []}
    for _ in range(layers):
        w = torch.randn(h.shape[1], width, generator=g, dtype=torch.float64) * scale(h.shape[1])
        h = fn(h @ w)
        out["mean"].append(float(h.mean()))
        out["std"].append(float(h.std()))
        lo, hi = (-1.0, 1.0) if act == "tanh" else (0.0, max(float(h.max()), 1e-12))
        out["hist"].append(torch.histc(h.float(), bins=41, min=lo, max=hi).tolist())
        out["saturated"].append(
            float((h.abs() > 0.99).double().mean()) if act == "tanh" else float((h == 0).double().mean())
        )
    return out


@register_claim(
    "weight-init",
    "Activation statistics through a 10-layer net: 0.01 * randn collapses, 1.0 * randn saturates, "
    "Xavier keeps tanh alive, ReLU needs He's factor 2",
    CS231N_INIT,
    kind="training",
)
def weight_init(seed: int = 0, quick: bool = False) -> ClaimResult:
    samples = 200 if quick else 1000
    cases = {
        "tanh, 0.01 * randn": layer_statistics(lambda n: 0.01, "tanh", samples=samples, seed=seed),
        "tanh, 1.0 * randn": layer_statistics(lambda n: 1.0, "tanh", samples=samples, seed=seed),
        "tanh, Xavier randn / sqrt(fan_in)": layer_statistics(
            lambda n: 1 / math.sqrt(n), "tanh", samples=samples, seed=seed
        ),
        "relu, Xavier randn / sqrt(fan_in)": layer_statistics(
            lambda n: 1 / math.sqrt(n), "relu", samples=samples, seed=seed
        ),
        "relu, He randn / sqrt(fan_in / 2)": layer_statistics(
            lambda n: math.sqrt(2 / n), "relu", samples=samples, seed=seed
        ),
    }
    small = cases["tanh, 0.01 * randn"]["std"]
    checks = []
    for k, printed in enumerate(LECTURE_TANH_001):
        got = small[k]
        checks.append(
            Check(
                f"0.01 init, tanh: std of layer {k + 1}",
                printed,
                round(got, 4),
                _verdict(abs(got - printed) <= 0.05 * printed),
                "within 5% of the printed value (sampling noise of 500 units is far smaller)",
            )
        )
    checks.append(
        Check(
            "0.01 init, tanh: std of layer 10",
            "0 (collapses)",
            f"{small[-1]:.2e}",
            _verdict(small[-1] < 1e-4),
            "the std shrinks ~0.22x per layer (0.01 * sqrt(500)); below 1e-4",
        )
    )
    sat = cases["tanh, 1.0 * randn"]["saturated"]
    checks.append(
        Check(
            "1.0 init, tanh: units at -1 or +1 (|h| > 0.99), layer 10",
            "almost all saturated",
            f"{sat[-1]:.1%}",
            _verdict(sat[-1] > 0.8),
            "more than 80% of the units",
        )
    )
    xavier = cases["tanh, Xavier randn / sqrt(fan_in)"]["std"]
    checks.append(
        Check(
            "Xavier init, tanh: std of layer 10",
            "reasonable (no collapse)",
            round(xavier[-1], 4),
            _verdict(xavier[-1] > 0.1),
            "still above 0.1 at the 10th layer",
        )
    )
    relu_x = cases["relu, Xavier randn / sqrt(fan_in)"]["std"]
    checks.append(
        Check(
            "Xavier init, ReLU: std layer 10 / layer 1",
            "breaks (halves the variance per layer)",
            round(relu_x[-1] / relu_x[0], 4),
            _verdict(relu_x[-1] / relu_x[0] < 0.1),
            "ReLU zeroes half the inputs: the std falls by ~1/sqrt(2) per layer; below 0.1 after 9 layers",
        )
    )
    relu_he = cases["relu, He randn / sqrt(fan_in / 2)"]["std"]
    checks.append(
        Check(
            "He init, ReLU: std layer 10 / layer 1",
            "kept (~1)",
            round(relu_he[-1] / relu_he[0], 4),
            _verdict(0.5 <= relu_he[-1] / relu_he[0] <= 2.0),
            "between 0.5 and 2",
        )
    )
    notes = "per-layer mean/std: " + "; ".join(
        f"{name}: " + ", ".join(f"{v:.3g}" for v in stats["std"]) for name, stats in cases.items()
    )
    return ClaimResult(checks, notes=notes, series={"kind": "layer-statistics", "cases": cases})


# --------------------------------------------------------------- sigmoid versus ReLU gradients


def gradient_norms(act: str, *, depth: int = 10, width: int = 100, batch: int = 256, seed: int = 0) -> list[float]:
    """Mean absolute gradient of each layer's weights (input side first) for one batch of
    random inputs and labels through a ``depth``-layer MLP: Xavier init for sigmoid and tanh,
    He init for ReLU (each its usual partner)."""
    g = torch.Generator().manual_seed(seed)
    layers = []
    for i in range(depth):
        fan_out = 10 if i == depth - 1 else width
        w = torch.randn(width, fan_out, generator=g) * (math.sqrt(2 / width) if act == "relu" else 1 / math.sqrt(width))
        layers.append(w.requires_grad_())
    x = torch.randn(batch, width, generator=g)
    y = torch.randint(0, 10, (batch,), generator=g)
    fn = {"sigmoid": torch.sigmoid, "relu": torch.relu, "tanh": torch.tanh}[act]
    h = x
    for i, w in enumerate(layers):
        h = h @ w
        if i < depth - 1:
            h = fn(h)
    F.cross_entropy(h, y).backward()
    return [float(w.grad.abs().mean()) for w in layers]


@register_claim(
    "sigmoid-vs-relu-gradients",
    "Gradients vanish through a deep sigmoid net (its derivative is at most 1/4) and keep their size through ReLUs",
    "Li, Johnson & Yeung, CS231n, Lecture 6, activation functions (sigmoid: 'saturated neurons kill the "
    "gradients'; ReLU: 'does not saturate'); Glorot & Bengio 2010, Sec. 4",
    kind="training",
)
def sigmoid_vs_relu(seed: int = 0, quick: bool = False) -> ClaimResult:
    depth = 10
    norms = {
        act: gradient_norms(act, depth=depth, seed=seed, batch=64 if quick else 256)
        for act in ("sigmoid", "tanh", "relu")
    }
    ratio = {act: v[0] / v[-2] for act, v in norms.items()}  # first hidden layer vs last hidden layer
    checks = [
        Check(
            "sigmoid: |dW| layer 1 / layer 9",
            "vanishes",
            f"{ratio['sigmoid']:.2e}",
            _verdict(ratio["sigmoid"] < 1e-2),
            "below 1e-2: each sigmoid layer multiplies the gradient by at most 0.25",
        ),
        Check(
            "ReLU (He init): |dW| layer 1 / layer 9",
            "kept",
            round(ratio["relu"], 3),
            _verdict(0.1 < ratio["relu"] < 10),
            "between 0.1 and 10",
        ),
        Check(
            "tanh (Xavier init): |dW| layer 1 / layer 9",
            "shrinks less than sigmoid",
            round(ratio["tanh"], 3),
            _verdict(ratio["tanh"] > ratio["sigmoid"] * 10),
            "at least 10x the sigmoid ratio",
        ),
    ]
    return ClaimResult(
        checks, notes=f"mean |dL/dW| per layer: {norms}", series={"kind": "gradient-norms", "norms": norms}
    )


# ----------------------------------------------------------------------------------- dropout


@register_claim(
    "dropout-scaling",
    "Dropout: the test-time output must equal the expected training-time output; scale at test "
    "(lecture) or at training time (inverted dropout)",
    "Li, Johnson & Yeung, CS231n, Lecture 7, dropout slides ('at test time ... scale the activations so that "
    "for each neuron: output at test time = expected output at training time'); Srivastava et al. 2014, Sec. 2",
    kind="training",
)
def dropout_scaling(seed: int = 0, quick: bool = False, drop_prob: float = 0.5) -> ClaimResult:
    if not 0 <= drop_prob < 1:
        raise ConfigError(f"drop_prob={drop_prob!r} must be in [0, 1)")
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(64, generator=g, dtype=torch.float64) + 0.5
    w = torch.randn(64, generator=g, dtype=torch.float64)
    draws = 2_000 if quick else 20_000
    keep = (torch.rand(draws, 64, generator=g, dtype=torch.float64) >= drop_prob).double()
    train_plain = (keep * x) @ w  # lecture-style training: drop, no scaling
    train_inverted = (keep * x / (1 - drop_prob)) @ w  # inverted dropout
    test_full = float(x @ w)
    test_lecture = (1 - drop_prob) * test_full
    rel = lambda a, b: abs(a - b) / abs(b)  # noqa: E731
    tol = 0.05 if quick else 0.02
    e_plain, e_inv = float(train_plain.mean()), float(train_inverted.mean())
    checks = [
        Check(
            "lecture: E[train output], no scaling",
            f"= test output x (1 - p) = {test_lecture:.4f}",
            round(e_plain, 4),
            _verdict(rel(e_plain, test_lecture) < tol),
            f"relative difference below {tol:.0%} over {draws:,} masks",
        ),
        Check(
            "inverted: E[train output], x 1/(1 - p)",
            f"= test output = {test_full:.4f}",
            round(e_inv, 4),
            _verdict(rel(e_inv, test_full) < tol),
            f"relative difference below {tol:.0%}",
        ),
        Check(
            "no scaling anywhere: test output / E[train output]",
            f"1 / (1 - p) = {1 / (1 - drop_prob):.4f}",
            round(test_full / e_plain, 4),
            _verdict(rel(test_full / e_plain, 1 / (1 - drop_prob)) < tol),
            "the mismatch the scaling fixes: 1 / (1 - drop_prob)",
        ),
    ]
    torch_drop = nn.Dropout(drop_prob)
    torch_drop.train()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        mean_torch = float(torch.stack([torch_drop(x) for _ in range(draws // 10)]).mean(0).mean())
    checks.append(
        Check(
            "torch.nn.Dropout is inverted: E[train] / eval output",
            "1",
            round(mean_torch / float(x.mean()), 4),
            _verdict(abs(mean_torch / float(x.mean()) - 1) < tol),
            f"within {tol:.0%} of 1",
        )
    )
    return ClaimResult(
        checks,
        series={
            "kind": "dropout",
            "train_plain": train_plain[:500].tolist(),
            "train_inverted": train_inverted[:500].tolist(),
            "test_full": test_full,
            "test_lecture": test_lecture,
            "drop_prob": drop_prob,
        },
    )


# -------------------------------------------------------------------------- batch normalisation


def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32) / 16.0
    return (x - x.mean(0)) / (x.std(0) + 1e-6), torch.tensor(d.target)


def deep_mlp(
    depth: int, width: int, *, batch_norm: bool, init_scale: float | None, in_features: int = 64, num_classes: int = 10
) -> nn.Sequential:
    """``depth`` linear layers with tanh between them (BatchNorm before each tanh when
    ``batch_norm``); weights ``init_scale * randn`` (``None``: PyTorch's default init)."""
    layers: list[nn.Module] = []
    fan_in = in_features
    for i in range(depth):
        out = num_classes if i == depth - 1 else width
        linear = nn.Linear(fan_in, out)
        if init_scale is not None:
            nn.init.normal_(linear.weight, std=init_scale)
            nn.init.zeros_(linear.bias)
        layers.append(linear)
        if i < depth - 1:
            if batch_norm:
                layers.append(nn.BatchNorm1d(out))
            layers.append(nn.Tanh())
        fan_in = out
    return nn.Sequential(*layers)


def _fit_losses(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int, lr: float, batch: int, seed: int
) -> list[float]:
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)
        total = 0.0
        model.train()
        for i in range(0, len(x), batch):
            idx = order[i : i + batch]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / len(x) if math.isfinite(total) else float("nan"))
    return losses


@register_claim(
    "batchnorm-deep-net",
    "Batch normalisation trains a deep net that a small initialization leaves stuck, "
    "and tolerates a higher learning rate",
    "Ioffe & Szegedy 2015, Sec. 3.3 and 4.2; Li, Johnson & Yeung, CS231n, Lecture 6, batch normalization slides "
    "('improves gradient flow through the network; allows higher learning rates; reduces the strong dependence "
    "on initialization')",
    kind="training",
)
def batchnorm_deep_net(seed: int = 0, quick: bool = False) -> ClaimResult:
    x, y = _digits()
    epochs = 4 if quick else 10
    runs = {}
    for label, bn, scale, lr in (
        ("plain, 0.01 init, lr 0.01", False, 0.01, 0.01),
        ("BN, 0.01 init, lr 0.01", True, 0.01, 0.01),
        ("plain, default init, lr 0.5", False, None, 0.5),
        ("BN, default init, lr 0.5", True, None, 0.5),
    ):
        torch.manual_seed(seed)
        model = deep_mlp(10, 100, batch_norm=bn, init_scale=scale)
        runs[label] = _fit_losses(model, x, y, epochs=epochs, lr=lr, batch=64, seed=seed)
    chance = math.log(10)
    stuck, rescued = runs["plain, 0.01 init, lr 0.01"][-1], runs["BN, 0.01 init, lr 0.01"][-1]
    hot_plain, hot_bn = runs["plain, default init, lr 0.5"][-1], runs["BN, default init, lr 0.5"][-1]
    checks = [
        Check(
            "0.01 init, no BN: final training loss",
            f"stuck near ln 10 = {chance:.3f}",
            round(stuck, 4),
            _verdict(stuck > chance - 0.1),
            "within 0.1 of chance: the signal has vanished by the 10th layer",
        ),
        Check(
            "0.01 init, with BN: final training loss", "trains", round(rescued, 4), _verdict(rescued < 0.5), "below 0.5"
        ),
        Check(
            "lr 0.5, with BN vs without: final training loss",
            "BN tolerates the higher rate",
            f"{hot_bn:.4f} vs {hot_plain:.4f}",
            _verdict(hot_bn < hot_plain or not math.isfinite(hot_plain)),
            "the BN net ends lower (or the plain one diverged)",
        ),
    ]
    return ClaimResult(
        checks,
        notes=f"training loss per epoch (10 linear layers of 100 tanh units, digits): {runs}",
        series={"kind": "loss-curves", "curves": runs, "ylabel": "training loss"},
    )


# -------------------------------------------------------------------------- degradation problem


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, residual: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.residual = residual
        # He et al. Sec. 4.2 option A: a strided identity with zero-padded channels.
        self.pad = cout - cin
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.residual:
            short = x[:, :, :: self.stride, :: self.stride]
            if self.pad:
                short = F.pad(short, (0, 0, 0, 0, 0, self.pad))
            out = out + short
        return F.relu(out)


def cifar_style_net(
    n: int, widths: Sequence[int] = (8, 16, 32), *, residual: bool, in_chans: int = 1, num_classes: int = 10
) -> nn.Sequential:
    """He et al. (2015) Sec. 4.2's CIFAR nets at small widths: a 3x3 stem, three stages of
    ``n`` two-conv blocks (the 2nd and 3rd halve the map), global pooling and a linear layer:
    ``6n + 2`` weighted layers, plain or residual (option A shortcuts)."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_chans, widths[0], 3, 1, 1, bias=False),
        nn.BatchNorm2d(widths[0]),
        nn.ReLU(),
    ]
    cin = widths[0]
    for stage, width in enumerate(widths):
        for b in range(n):
            layers.append(_Block(cin, width, 2 if (stage > 0 and b == 0) else 1, residual))
            cin = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes)]
    return nn.Sequential(*layers)


def _fashion_subset(data_dir: str | None, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:

    data = load_dataset("fashion-mnist", "train", data_dir=data_dir)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(data.labels), generator=g)[:size]
    x = data.images[idx].float() / 255.0
    return (x - 0.286) / 0.353, data.labels[idx]


@register_claim(
    "degradation",
    "The degradation problem: a deeper plain net reaches a higher training error than a shallower one; "
    "residual nets of the same depths do not",
    "He, Zhang, Ren & Sun 2015, Deep Residual Learning for Image Recognition, Sec. 4.2 and Fig. 1 and 6 "
    "(CIFAR-10: plain-56 above plain-20 in training error; ResNet-56 below ResNet-20); here on Fashion-MNIST at "
    "small widths (8/16/32) on a CPU",
    kind="training",
)
def degradation(
    seed: int = 0,
    quick: bool = False,
    data_dir: str | None = None,
    depths: Sequence[int] = (1, 5),
    images: int | None = None,
    epochs: int | None = None,
    device: str = "cpu",
) -> ClaimResult:
    shallow, deep = depths
    images = images or (1_000 if quick else 10_000)
    epochs = epochs or (2 if quick else 8)
    x, y = _fashion_subset(data_dir, images, seed)
    dev = torch.device(device)
    x, y = x.to(dev), y.to(dev)
    curves, finals, seconds = {}, {}, {}
    for residual in (False, True):
        for n in depths:
            label = f"{'ResNet' if residual else 'plain'}-{6 * n + 2}"
            torch.manual_seed(seed)
            model = cifar_style_net(n, residual=residual).to(dev)
            start = time.perf_counter()
            curves[label] = _train_errors(model, x, y, epochs=epochs, seed=seed)
            seconds[label] = round(time.perf_counter() - start, 1)
            finals[label] = curves[label][-1]
    p_s, p_d = finals[f"plain-{6 * shallow + 2}"], finals[f"plain-{6 * deep + 2}"]
    r_s, r_d = finals[f"ResNet-{6 * shallow + 2}"], finals[f"ResNet-{6 * deep + 2}"]
    checks = [
        Check(
            f"plain-{6 * deep + 2} vs plain-{6 * shallow + 2}: final training error",
            "deeper is higher",
            f"{p_d:.2%} vs {p_s:.2%}",
            _compared(p_d > p_s, (p_d, p_s), 10),
            f"the deeper plain net ends above the shallower one; both must have learned (training error below "
            f"{LEARNED_SHARE:.0%} of chance's 90%, i.e. {LEARNED_SHARE * 0.9:.1%}), else inconclusive",
        ),
        Check(
            f"ResNet-{6 * deep + 2} vs ResNet-{6 * shallow + 2}: final training error",
            "deeper is not higher",
            f"{r_d:.2%} vs {r_s:.2%}",
            _compared(r_d <= p_d and r_d <= r_s + 0.01, (r_d, r_s, p_d), 10),
            "the deeper ResNet ends no more than 1 point above the shallower one, and below the deep plain net; "
            f"all three must have learned (below {LEARNED_SHARE * 0.9:.1%} training error), else inconclusive",
        ),
    ]
    notes = (
        f"{images:,} Fashion-MNIST training images, {epochs} epochs, SGD 0.1 momentum 0.9 cosine-annealed, batch 128, "
        f"training error per epoch measured in eval mode on the training images; seconds per net: {seconds}"
    )
    if quick:
        notes = f"quick: a smoke run, which checks that the experiment runs; its verdicts are not the claim's. {notes}"
    return ClaimResult(
        checks, notes=notes, series={"kind": "error-curves", "curves": curves, "ylabel": "training error"}
    )


@torch.no_grad()
def _error(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    wrong = sum(int((model(x[i : i + 500]).argmax(1) != y[i : i + 500]).sum()) for i in range(0, len(x), 500))
    return wrong / len(x)


def _train_errors(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int, seed: int) -> list[float]:
    """SGD 0.1 (momentum 0.9, weight decay 1e-4, batch 128) annealed by a cosine to 0, so
    the last epoch's error is the optimiser's result rather than the noise of a high rate;
    the training error after each epoch, in eval mode."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    steps = epochs * math.ceil(len(x) / 128)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    errors = []
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=g).to(x.device)
        for i in range(0, len(x), 128):
            idx = order[i : i + 128]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
        errors.append(_error(model, x, y))
    return errors
