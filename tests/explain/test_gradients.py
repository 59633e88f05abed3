"""Integrated Gradients, Input x Gradient, SmoothGrad-Squared and VarGrad: against Captum on
the same pixels (as in test_differential.py: a small net, and for Captum the same function
as one module, ``Sequential(Normalize(mean, std), net)``), completeness, batch equals one by
one, the model left as found, and the errors for bad settings. Each differential test states
the convention difference it corrects for beside its tolerance.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnlab.errors import ConfigError
from cnnlab.explain import attribution as A
from cnnlab.explain import gradients as G
from tests.helpers import assert_same_fingerprint, model_fingerprint

MEAN, STD = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
SIZE = 8
TARGETS = torch.tensor([0, 1, 3])


class Normalize(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def net(smooth: bool = False) -> nn.Module:
    """test_differential's small ReLU CNN; ``smooth=True``: Softplus and average pooling in
    place of ReLU and max pooling (a smooth integrand for the quadrature-order test)."""
    torch.manual_seed(0)
    act, pool = (lambda: nn.Softplus(beta=4), nn.AvgPool2d) if smooth else (nn.ReLU, nn.MaxPool2d)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        act(),
        pool(2),
        nn.Conv2d(8, 16, 3, padding=1),
        act(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 4),
    ).eval()
    model.pretrained_cfg = {"input_size": (3, SIZE, SIZE), "mean": MEAN, "std": STD}
    return model


def pixels_model(model: nn.Module) -> nn.Module:
    """What Captum sees: the same function of pixels, so its model-input space is pixels."""
    return nn.Sequential(Normalize(), model).eval()


def images(n: int = 3) -> torch.Tensor:
    x = torch.rand(n, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(3))
    x[:, :, 0, 0], x[:, :, 0, 1] = 0.0, 1.0  # each image spans [0, 1]: SmoothGrad's noise std is noise x 1
    return x


def score(model: nn.Module, pixels: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return pixels_model(model)(pixels).gather(1, targets[:, None])[:, 0]


@pytest.fixture
def captum_attr():
    return pytest.importorskip("captum.attr")


# ----------------------------------------------------------------------- against Captum


@pytest.mark.parametrize("method", G.QUADRATURES)
@pytest.mark.parametrize("baseline", G.BASELINES)
def test_integrated_gradients_equals_captum(captum_attr, baseline, method):
    """Captum's IntegratedGradients takes its baselines in the model-input space, here pixels
    (pixels_model normalises inside), so cnnlab's baseline tensor goes in unchanged; the
    same nodes and weights (Captum's names), the same n_steps. Captum's riemann_trapezoid
    weights are 1/n (halved at the ends) on n nodes spaced 1/(n-1): they sum to (n-1)/n, so
    its attributions are cnnlab's (weights summing to 1) times (n-1)/n, and its convergence
    delta is measured against that. Otherwise to float rounding: rtol 1e-5, atol 1e-7."""
    model, x, steps = net(), images(), 12
    ours = G.integrated_gradients(model, x, TARGETS, baseline=baseline, steps=steps, method=method, seed=4)
    theirs, delta = captum_attr.IntegratedGradients(pixels_model(model)).attribute(
        x.clone(),
        baselines=ours.extras["baseline"],
        target=TARGETS,
        n_steps=steps,
        method=method,
        return_convergence_delta=True,
    )
    scale = (steps - 1) / steps if method == "riemann_trapezoid" else 1.0
    torch.testing.assert_close(ours.maps * scale, theirs, rtol=1e-5, atol=1e-7)
    if method != "riemann_trapezoid":  # Captum's delta: sum - (f(x) - f(x')); cnnlab reports |.|
        torch.testing.assert_close(ours.extras["completeness"]["error"], delta.abs(), rtol=1e-3, atol=1e-6)


def test_input_x_gradient_equals_captum(captum_attr):
    """Captum's InputXGradient multiplies the model input by its gradient; the model input
    is pixels here, as in cnnlab. Exact to float rounding."""
    model, x = net(), images()
    ours = G.input_x_gradient(model, x, TARGETS)
    theirs = captum_attr.InputXGradient(pixels_model(model)).attribute(x.clone().requires_grad_(), target=TARGETS)
    torch.testing.assert_close(ours.maps, theirs, rtol=1e-6, atol=1e-8)
    assert ours.method == "input-x-gradient" and ours.maps.shape == x.shape


def same_noise(seed: int):
    """Captum's NoiseTunnel._add_noise_to_input drawing cnnlab's noise: each image's stream
    seeded by ``seed``, image-major, as Captum lays the noisy copies out."""

    def add(input: torch.Tensor, stdev: float, k: int) -> torch.Tensor:
        streams = [torch.Generator().manual_seed(seed) for _ in range(len(input))]
        draws = torch.stack(
            [torch.stack([torch.randn(input.shape[1:], generator=g) for _ in range(k)]) for g in streams]
        )
        return input.repeat_interleave(k, dim=0) + stdev * draws.flatten(0, 1)

    return staticmethod(add)


@pytest.mark.parametrize(
    ("aggregate", "nt_type", "name"), [("square", "smoothgrad_sq", "smoothgrad-sq"), ("var", "vargrad", "vargrad")]
)
def test_smoothgrad_sq_and_vargrad_equal_captum_noise_tunnel(captum_attr, monkeypatch, aggregate, nt_type, name):
    """Captum's NoiseTunnel draws from the global RNG with one std for all images; cnnlab
    draws each image's noise from its own stream with std ``noise x (max - min)`` (1 here).
    With cnnlab's draws patched in: smoothgrad_sq is the mean of g^2 (rtol 1e-5); Captum's
    vargrad is E[g^2] - E[g]^2 in float32 while cnnlab merges batch means and squared
    deviations (Chan et al.), so the two differ by the cancellation in Captum's form, about
    float eps x E[g^2]: atol 1e-6 x max E[g^2] (measured: 1.1e-10 against max E[g^2] = 8.4e-4,
    so 8.4e-10; smoothgrad_sq differs by 2e-7 of itself). Six samples in three passes of two
    (three images, batch_size 6) exercise the merge."""
    model, x = net(), images()
    samples, noise, seed = 6, 0.15, 11
    monkeypatch.setattr(captum_attr.NoiseTunnel, "_add_noise_to_input", same_noise(seed))
    ours = A.saliency(
        model, x, TARGETS, smoothgrad=True, samples=samples, noise=noise, seed=seed, batch_size=6, aggregate=aggregate
    )
    tunnel = captum_attr.NoiseTunnel(captum_attr.Saliency(pixels_model(model)))
    theirs = tunnel.attribute(
        x.clone().requires_grad_(), nt_type=nt_type, nt_samples=samples, stdevs=noise, target=TARGETS, abs=False
    )
    mean_sq = A.saliency(
        model, x, TARGETS, smoothgrad=True, samples=samples, noise=noise, seed=seed, aggregate="square"
    )
    atol = 1e-6 * float(mean_sq.extras["gradient"].max()) if aggregate == "var" else 1e-9
    torch.testing.assert_close(ours.extras["gradient"], theirs, rtol=1e-5, atol=atol)
    torch.testing.assert_close(ours.maps, theirs.amax(dim=1), rtol=1e-5, atol=atol)
    assert ours.method == name and ours.params["aggregate"] == aggregate and bool((ours.maps >= 0).all())


def test_aggregates_agree_with_each_other():
    """One seed, one set of noisy gradients: mean = SmoothGrad (unchanged by the new option),
    square = var + mean^2, whatever the batching."""
    model, x = net(), images()
    run = {
        (a, b): A.saliency(model, x, TARGETS, smoothgrad=True, samples=7, seed=2, aggregate=a, batch_size=b)
        for a in A.AGGREGATES
        for b in (3, 21)
    }
    mean = run["mean", 21].extras["gradient"]
    torch.testing.assert_close(
        A.saliency(model, x, TARGETS, smoothgrad=True, samples=7, seed=2, batch_size=21).maps,
        run["mean", 21].maps,
        rtol=0,
        atol=0,
    )
    for b in (3, 21):
        torch.testing.assert_close(
            run["square", b].extras["gradient"], run["var", b].extras["gradient"] + mean**2, rtol=1e-4, atol=1e-9
        )
        torch.testing.assert_close(run["var", b].maps, run["var", 21].maps, rtol=1e-4, atol=1e-10)
    assert run["mean", 3].method == "smoothgrad" and run["mean", 3].units == "|d score / d pixel|"


def test_quadratures_are_captums():
    """Gauss-Legendre: numpy's leggauss (Captum's source) mapped to [0, 1], to 1e-14; the
    Riemann rules: Captum's nodes; trapezoid weights sum to 1 (Captum's to (n - 1) / n)."""
    np = pytest.importorskip("numpy")
    for n in (1, 2, 7, 50, 200):
        alphas, weights = G.quadrature("gausslegendre", n)
        nodes, w = np.polynomial.legendre.leggauss(n)
        np.testing.assert_allclose(alphas.numpy(), 0.5 * (1 + nodes), rtol=0, atol=1e-14)
        np.testing.assert_allclose(weights.numpy(), 0.5 * w, rtol=0, atol=1e-14)
    n = 8
    expected = {
        "riemann_left": torch.arange(n) / n,
        "riemann_right": (torch.arange(n) + 1) / n,
        "riemann_middle": (torch.arange(n) + 0.5) / n,
        "riemann_trapezoid": torch.linspace(0, 1, n, dtype=torch.float64),
    }
    for method, nodes in expected.items():
        alphas, weights = G.quadrature(method, n)
        torch.testing.assert_close(alphas, nodes.double())
        assert float(weights.sum()) == pytest.approx(1.0, abs=1e-15)


def test_blur_equals_torchvision():
    """The blurred baseline is torchvision's gaussian_blur with kernel 2 ceil(3 sigma) + 1."""
    tvf = pytest.importorskip("torchvision.transforms.functional")
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    for sigma in (0.8, 3.2):
        k = 2 * int(torch.tensor(3 * sigma).ceil()) + 1
        torch.testing.assert_close(G.gaussian_blur(x, sigma), tvf.gaussian_blur(x, [k, k], [sigma, sigma]))
    assert torch.equal(G.gaussian_blur(x, 0), x)


# -------------------------------------------------------------------------- completeness


@pytest.mark.parametrize("baseline", G.BASELINES)
def test_completeness_on_a_relu_net(baseline):
    """Sundararajan et al.'s completeness: sum IG = f(x) - f(x'). On a ReLU/max-pool net the
    gradient jumps along the path, so every quadrature converges only as O(1 / steps):
    at steps=200 (Gauss-Legendre) the measured error is at most 2.3e-4 (black), 3.5e-5
    (blurred), 1.9e-4 (uniform) against |f(x) - f(x')| of 0.007 to 0.12; bound 5e-4, and
    ten times fewer steps must do worse. The reported check is recomputed here."""
    model, x = net(), images()
    fine = G.integrated_gradients(model, x, TARGETS, baseline=baseline, steps=200, seed=0)
    coarse = G.integrated_gradients(model, x, TARGETS, baseline=baseline, steps=20, seed=0)
    check = fine.extras["completeness"]
    base = fine.extras["baseline"]
    torch.testing.assert_close(check["score_difference"], score(model, x, TARGETS) - score(model, base, TARGETS))
    torch.testing.assert_close(check["attribution_sum"], fine.maps.flatten(1).sum(1))
    torch.testing.assert_close(check["error"], (check["attribution_sum"] - check["score_difference"]).abs())
    assert float(check["error"].max()) < 5e-4
    assert float(check["error"].sum()) < float(coarse.extras["completeness"]["error"].sum())
    assert fine.units == "score (IG attribution)" and fine.maps.shape == x.shape
    assert fine.params["baseline"] == baseline and fine.params["steps"] == 200
    assert (fine.seed is not None) == (baseline == "uniform")
    assert (fine.params["blur_sigma"] == pytest.approx(0.8)) == (baseline == "blurred")  # 0.1 x 8 px


def test_quadrature_orders_on_a_smooth_net():
    """With a smooth integrand (Softplus, average pooling) the rules show their orders:
    midpoint and trapezoid errors fall ~4x per doubling of steps (O(h^2)); Gauss-Legendre
    is at float rounding (< 1e-6) from 16 nodes. Measured: midpoint 3.2e-6 at 16, 8.0e-7 at
    32; Gauss-Legendre 1.1e-8 at 16."""
    model, x = net(smooth=True), images()

    def error(steps: int, method: str) -> float:
        exp = G.integrated_gradients(model, x, TARGETS, baseline="uniform", seed=1, steps=steps, method=method)
        return float(exp.extras["completeness"]["error"].max())

    assert error(16, "gausslegendre") < 1e-6
    for method in ("riemann_middle", "riemann_trapezoid"):
        assert 3 < error(16, method) / error(32, method) < 5


def test_linear_model_is_exact_for_any_quadrature():
    """For a model linear in the pixels the gradient is constant along the path: IG is
    (x - x') x w / std exactly, with one node or many, and Input x Gradient is x x w / std."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    model.pretrained_cfg = {"input_size": (2, 4, 4), "mean": (0.5, 0.5), "std": (0.5, 0.25)}
    x = torch.rand(2, 2, 4, 4, generator=torch.Generator().manual_seed(1))
    w = model[1].weight[1].view(2, 4, 4) / torch.tensor([0.5, 0.25]).view(2, 1, 1)
    for method in G.QUADRATURES:
        exp = G.integrated_gradients(model, x, 1, baseline="blurred", blur_sigma=1.0, steps=2, method=method)
        torch.testing.assert_close(exp.maps, (x - exp.extras["baseline"]) * w)
        assert float(exp.extras["completeness"]["error"].max()) < 1e-6
    one = G.integrated_gradients(model, x, 1, steps=1)
    torch.testing.assert_close(one.maps, x * w)
    torch.testing.assert_close(G.input_x_gradient(model, x, 1).maps, x * w)


# ----------------------------------------------------------------- batches, state, errors

BATCHED = [
    ("ig_black", lambda m, x: G.integrated_gradients(m, x, 1, steps=7, batch_size=5).maps),
    ("ig_blurred", lambda m, x: G.integrated_gradients(m, x, 1, steps=7, baseline="blurred").maps),
    ("ig_uniform", lambda m, x: G.integrated_gradients(m, x, 1, steps=7, baseline="uniform", seed=9).maps),
    ("ig_tensor", lambda m, x: G.integrated_gradients(m, x, 1, steps=5, baseline=torch.full((3, 8, 8), 0.5)).maps),
    ("ig_trapezoid", lambda m, x: G.integrated_gradients(m, x, 1, steps=6, method="riemann_trapezoid").maps),
    ("input_x_gradient", lambda m, x: G.input_x_gradient(m, x, 1).maps),
    ("smoothgrad_sq", lambda m, x: A.saliency(m, x, 1, smoothgrad=True, samples=5, seed=3, aggregate="square").maps),
    (
        "vargrad",
        lambda m, x: A.saliency(m, x, 1, smoothgrad=True, samples=5, seed=3, aggregate="var", batch_size=4).maps,
    ),
]


@pytest.mark.parametrize("run", [r for _, r in BATCHED], ids=[n for n, _ in BATCHED])
def test_a_batch_equals_one_by_one(run):
    model, x = net(), images()
    together = run(model, x)
    alone = torch.cat([run(model, x[i : i + 1]) for i in range(len(x))])
    torch.testing.assert_close(together, alone, atol=1e-6, rtol=1e-4)


def test_model_left_bitwise_as_found():
    """Parameters, buffers, modes, hooks, the global RNG and the grad mode, bitwise."""
    model, x = net(), images()
    model.train()
    before = model_fingerprint(model)
    copy = x.clone()
    for _, run in BATCHED:
        run(model, x)
    G.integrated_gradients(model, x, baseline="uniform")  # a drawn seed leaves the global RNG alone too
    assert_same_fingerprint(before, model_fingerprint(model))
    assert torch.equal(x, copy)


def test_uniform_baseline_seed_is_recorded_and_reproduces():
    model, x = net(), images()
    drawn = G.integrated_gradients(model, x, steps=4, baseline="uniform")
    again = G.integrated_gradients(model, x, steps=4, baseline="uniform", seed=drawn.seed)
    assert torch.equal(drawn.extras["baseline"], again.extras["baseline"]) and torch.equal(drawn.maps, again.maps)
    other = G.integrated_gradients(model, x, steps=4, baseline="uniform", seed=drawn.seed + 1)
    assert not torch.equal(drawn.extras["baseline"], other.extras["baseline"])
    assert 0 <= float(drawn.extras["baseline"].min()) and float(drawn.extras["baseline"].max()) <= 1


def test_bad_settings_name_the_value_and_the_choices():
    model, x = net(), images()
    with pytest.raises(ConfigError, match=r"steps must be a whole number >= 1 for gausslegendre, got 0"):
        G.integrated_gradients(model, x, steps=0)
    with pytest.raises(ConfigError, match=r">= 2 for riemann_trapezoid, got 1"):
        G.integrated_gradients(model, x, steps=1, method="riemann_trapezoid")
    with pytest.raises(ConfigError, match=r"unknown quadrature method 'simpson'; choose one of 'gausslegendre', "):
        G.integrated_gradients(model, x, method="simpson")
    with pytest.raises(ConfigError, match=r"unknown baseline 'white'; choose one of 'black', 'blurred', 'uniform'"):
        G.integrated_gradients(model, x, baseline="white")
    with pytest.raises(ConfigError, match=r"baseline has shape \(2, 3, 8, 8\)"):
        G.integrated_gradients(model, x, baseline=torch.zeros(2, 3, 8, 8))
    with pytest.raises(ConfigError, match=r"baseline must be in pixel units"):
        G.integrated_gradients(model, x, baseline=torch.full((3, 8, 8), 2.0))
    with pytest.raises(ConfigError, match=r"blur_sigma must be >= 0"):
        G.integrated_gradients(model, x, baseline="blurred", blur_sigma=-1)
    with pytest.raises(ConfigError, match=r"unknown aggregate 'median'; choose one of 'mean', 'square', 'var'"):
        A.saliency(model, x, smoothgrad=True, aggregate="median")
    with pytest.raises(ConfigError, match=r"aggregate='var' .* needs smoothgrad=True"):
        A.saliency(model, x, aggregate="var")
