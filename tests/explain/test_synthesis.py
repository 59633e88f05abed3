"""The optimisation engine and the methods on it: each prior does what it says, activation
maximization raises its unit, feature inversion lowers the feature distance, seeds reproduce,
batches equal one-by-one calls, and the model, its hooks and the caller's tensors come back
as they were."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.errors import ConfigError
from cnnlab.explain.synthesis import (
    activation_maximization,
    feature_inversion,
    gaussian_blur,
    optimize_image,
    total_variation,
)

MEAN, STD = 0.3, 0.4


def small_net(mean: float = MEAN, std: float = STD) -> nn.Module:
    """A conv net on 1 x 8 x 8 pixels with an in-place ReLU, its own normalisation and class names."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(6, 8, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 64, 10),
    )
    net.pretrained_cfg = {
        "input_size": (1, 8, 8),
        "mean": (mean,),
        "std": (std,),
        "classes": ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"],
    }
    return net.eval()


@functools.cache
def digits() -> tuple[nn.Module, torch.Tensor]:
    """:func:`small_net` fitted for 60 full-batch Adam steps on scikit-learn's 8x8 digits
    (about 1 s); returns the model and 6 held-out images in [0, 1]."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 16
    y = torch.tensor(d.target)
    net = small_net()
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    net.train()
    for _ in range(60):
        opt.zero_grad()
        F.cross_entropy(net((x[:1200] - MEAN) / STD), y[:1200]).backward()
        opt.step()
    return net.eval(), x[1200:1206]


def fresh_digits() -> tuple[nn.Module, torch.Tensor]:
    net, x = digits()
    copy = small_net()
    copy.load_state_dict(net.state_dict())
    return copy.eval(), x.clone()


def noise(n: int = 3, seed: int = 0, size: int = 8) -> torch.Tensor:
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed))


def nothing(x: torch.Tensor) -> torch.Tensor:
    """An objective with zero gradient everywhere: only the priors act."""
    return x.flatten(1).sum(1) * 0.0


def brightness(x: torch.Tensor) -> torch.Tensor:
    return -x.flatten(1).sum(1)


# ------------------------------------------------------------------------------ priors


def test_total_variation_is_the_mean_squared_neighbour_difference() -> None:
    board = (torch.arange(4)[:, None] + torch.arange(4)[None, :]).remainder(2).float().view(1, 1, 4, 4)
    # every one of the 12 vertical and 12 horizontal neighbour pairs differs by 1; 16 values
    assert total_variation(board).item() == pytest.approx(24 / 16)
    assert total_variation(torch.full((2, 3, 5, 5), 0.7)).tolist() == [0.0, 0.0]
    assert total_variation(noise(1, size=64)).item() == pytest.approx(1 / 3, rel=0.05)  # uniform noise: 2 x 1/6


def test_gaussian_blur_is_the_normalised_separable_kernel() -> None:
    impulse = torch.zeros(1, 1, 9, 9)
    impulse[0, 0, 4, 4] = 1.0
    sigma = 0.8
    t = torch.arange(-3, 4, dtype=torch.float32)  # radius ceil(3 sigma) = 3
    k = torch.exp(-t.pow(2) / (2 * sigma**2))
    k = k / k.sum()
    expected = torch.zeros(9, 9)
    expected[1:8, 1:8] = k[:, None] * k[None, :]
    torch.testing.assert_close(gaussian_blur(impulse, sigma)[0, 0], expected)
    flat = torch.full((1, 2, 6, 6), 0.4)
    torch.testing.assert_close(gaussian_blur(flat, 2.0), flat)  # radius capped at the image size
    x = noise(2)
    assert (total_variation(gaussian_blur(x, 0.5)) < 0.5 * total_variation(x)).all()
    with pytest.raises(ConfigError, match="blur_sigma"):
        gaussian_blur(x, 0.0)


def test_without_objective_or_priors_the_image_does_not_move() -> None:
    x = noise()
    out, history = optimize_image(small_net(), nothing, x, steps=5, lr=0.1)
    torch.testing.assert_close(out, x)
    assert history["loss"].shape == history["objective"].shape == (5, 3)


def test_tv_prior_lowers_total_variation_and_is_in_the_loss() -> None:
    x = noise()
    out, history = optimize_image(small_net(), nothing, x, steps=30, lr=0.02, tv=1.0)
    assert (total_variation(out) < 0.5 * total_variation(x)).all()
    torch.testing.assert_close(history["loss"][0], total_variation(x))
    assert (history["loss"][-1] < history["loss"][0]).all()


def test_l2_prior_pulls_towards_the_dataset_mean_not_towards_zero() -> None:
    net = small_net()
    at_mean = torch.full((1, 1, 8, 8), MEAN)
    out, history = optimize_image(net, nothing, at_mean, steps=10, lr=0.05, l2=1.0)
    torch.testing.assert_close(out, at_mean)  # the mean is the prior's minimum
    assert history["loss"].abs().max() < 1e-10
    black = torch.zeros(1, 1, 8, 8)
    out, history = optimize_image(net, nothing, black, steps=10, lr=0.02, l2=1.0)
    assert (out > 0.1).all() and (out <= MEAN + 1e-6).all()
    torch.testing.assert_close(history["loss"][0], torch.tensor([64 * MEAN**2]))  # l2 ||I - mean||^2, summed


def test_blur_every_blurs_on_its_steps_only() -> None:
    x = noise()
    out, _ = optimize_image(small_net(), nothing, x, steps=1, lr=0.1, blur_every=1, blur_sigma=0.7, clip=False)
    torch.testing.assert_close(out, gaussian_blur(x, 0.7))
    out, _ = optimize_image(small_net(), nothing, x, steps=1, lr=0.1, blur_every=2, blur_sigma=0.7)
    torch.testing.assert_close(out, x)
    out, _ = optimize_image(small_net(), nothing, x, steps=4, lr=0.1, blur_every=2, blur_sigma=0.7)
    torch.testing.assert_close(out, gaussian_blur(gaussian_blur(x, 0.7), 0.7))


def test_clip_keeps_pixels_in_range() -> None:
    x = noise()
    clipped, _ = optimize_image(small_net(), brightness, x, steps=30, lr=0.1)
    free, _ = optimize_image(small_net(), brightness, x, steps=30, lr=0.1, clip=False)
    assert clipped.max() == 1.0 and clipped.min() >= 0.0
    assert free.max() > 1.5


def test_jitter_is_reproducible_for_a_seed_and_changes_with_it() -> None:
    net = small_net()

    def logit(x: torch.Tensor) -> torch.Tensor:
        return -net(x)[:, 3]

    x = noise()
    run = functools.partial(optimize_image, net, logit, x, steps=6, lr=0.05, jitter=2)
    a, ha = run(seed=1)
    b, hb = run(seed=1)
    c, _ = run(seed=2)
    assert torch.equal(a, b) and torch.equal(ha["loss"], hb["loss"])
    assert not torch.allclose(a, c)
    still = functools.partial(optimize_image, net, logit, x, steps=6, lr=0.05, jitter=0)
    assert torch.equal(still(seed=1)[0], still(seed=2)[0])  # without jitter the seed plays no part


def test_engine_batch_equals_one_by_one() -> None:
    net = small_net()

    def logit(x: torch.Tensor) -> torch.Tensor:
        return -net(x)[:, 5]

    x = noise(3)
    run = functools.partial(
        optimize_image, net, logit, steps=8, lr=0.05, jitter=2, tv=0.1, l2=1e-3, blur_every=3, seed=4
    )
    together, history = run(x)
    for i in range(3):
        alone, h = run(x[i : i + 1])
        torch.testing.assert_close(together[i : i + 1], alone, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(history["objective"][:, i : i + 1], h["objective"], atol=1e-4, rtol=1e-4)


def test_engine_rejects_bad_settings() -> None:
    net, x = small_net(), noise()
    with pytest.raises(ConfigError, match="one loss per image"):
        optimize_image(net, lambda t: t.sum(), x, steps=1, lr=0.1)
    with pytest.raises(ConfigError, match="pixel units"):
        optimize_image(net, nothing, x * 3, steps=1, lr=0.1)
    with pytest.raises(ConfigError, match="steps=0"):
        optimize_image(net, nothing, x, steps=0, lr=0.1)
    with pytest.raises(ConfigError, match="tv=-1"):
        optimize_image(net, nothing, x, steps=1, lr=0.1, tv=-1)


# ----------------------------------------------------------------------------- methods


def test_activation_maximization_raises_the_unnormalised_class_score() -> None:
    net, _ = fresh_digits()
    exp = activation_maximization(net, 3, steps=60, jitter=1, seed=0)  # jitter 4 is half of an 8x8 image
    start, end = exp.extras["score_start"], exp.extras["score_end"]
    assert end[0] > start[0] + 10
    assert exp.logits.argmax(1).tolist() == [3]
    # score_end is the logit of the returned pixels (not a probability)
    torch.testing.assert_close(end, net((exp.maps - MEAN) / STD)[:, 3].detach())
    assert exp.maps.shape == (1, 1, 8, 8) and exp.units == "pixel [0, 1]" and exp.target.tolist() == [3]
    assert exp.maps.min() >= 0 and exp.maps.max() <= 1
    assert exp.extras["history"]["objective"].shape == (60, 1)
    by_name = activation_maximization(net, "three", steps=60, jitter=1, seed=0)
    assert torch.equal(by_name.maps, exp.maps) and by_name.params["target"] == 3
    json.dumps(exp.manifest())


def test_activation_maximization_of_a_hidden_channel() -> None:
    net, _ = fresh_digits()
    exp = activation_maximization(net, layer="2", channel=4, n=2, steps=40, jitter=1, blur_every=0, seed=0)
    assert exp.maps.shape == (2, 1, 8, 8) and exp.layer == "2" and exp.target.tolist() == [4, 4]
    assert (exp.extras["score_end"] > exp.extras["score_start"] + 0.5).all()
    with torch.no_grad():
        act = net[2](net[1](net[0]((exp.maps - MEAN) / STD)))
    torch.testing.assert_close(exp.extras["score_end"], act[:, 4].mean((1, 2)))


def test_activation_maximization_seeds_and_sizes() -> None:
    net = small_net()
    run = functools.partial(activation_maximization, net, 1, steps=5)
    assert torch.equal(run(seed=3).maps, run(seed=3).maps)
    assert not torch.allclose(run(seed=3).maps, run(seed=4).maps)
    channel = functools.partial(activation_maximization, net, layer="2", channel=0, steps=2, seed=0)
    assert channel(n=2, image_size=(12, 10)).maps.shape == (2, 1, 12, 10)  # convolutions read any size
    assert channel(image_size=16).params["image_size"] == [16, 16]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({}, "neither"),
        ({"target": 1, "layer": "0", "channel": 0}, "not both"),
        ({"layer": "0"}, "needs channel"),
        ({"target": 1, "channel": 2}, "hidden unit"),
        ({"layer": "0", "channel": 6}, "channel 6 is out of range"),
        ({"target": 10}, "class 10 is out of range"),
        ({"target": "tree"}, "unknown class 'tree'"),
        ({"layer": "conv9", "channel": 0}, "no layer 'conv9'"),
        ({"target": 1, "image_size": (1, 2, 3)}, "image_size"),
    ],
)
def test_activation_maximization_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        activation_maximization(small_net(), steps=1, **kwargs)


def relative_distance(net: nn.Module, layer: int, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        fa, fb = net[: layer + 1]((a - MEAN) / STD), net[: layer + 1]((b - MEAN) / STD)
    return (fa - fb).flatten(1).pow(2).sum(1) / fb.flatten(1).pow(2).sum(1)


def test_feature_inversion_reduces_the_feature_distance() -> None:
    net, x = fresh_digits()
    exp = feature_inversion(net, x[:3], "3", steps=80, seed=0)
    start, end = exp.extras["feature_distance_start"], exp.extras["feature_distance_end"]
    assert (end < 0.25 * start).all()
    torch.testing.assert_close(end, relative_distance(net, 3, exp.maps, x[:3]))
    noise_start = torch.rand(x[:3].shape, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(start, relative_distance(net, 3, noise_start, x[:3]))
    assert exp.maps.shape == (3, 1, 8, 8) and exp.layer == "3" and exp.units == "pixel [0, 1]"
    assert exp.maps.min() >= 0 and exp.maps.max() <= 1 and exp.params["tv"] == 0.3
    json.dumps(exp.manifest())


def test_feature_inversion_tv_prior_gives_smoother_images() -> None:
    net, x = fresh_digits()
    rough = feature_inversion(net, x[:2], "1", steps=40, tv=0.0, seed=0)
    smooth = feature_inversion(net, x[:2], "1", steps=40, tv=3.0, seed=0)
    assert (total_variation(smooth.maps) < total_variation(rough.maps)).all()


def test_feature_inversion_batch_seeds_and_errors() -> None:
    net, x = fresh_digits()
    run = functools.partial(feature_inversion, net, layer="3", steps=10)
    together = run(x[:3], init="grey").maps
    alone = torch.cat([run(x[i : i + 1], init="grey").maps for i in range(3)])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)
    assert torch.equal(run(x[:2], seed=5).maps, run(x[:2], seed=5).maps)
    assert not torch.allclose(run(x[:2], seed=5).maps, run(x[:2], seed=6).maps)
    with pytest.raises(ConfigError, match="init='zeros'"):
        run(x, init="zeros")
    with pytest.raises(ConfigError, match="no layer 'fc'"):
        feature_inversion(net, x, "fc", steps=1)


# --------------------------------------------------------------------- state and input

STATE_CALLS: list[tuple[str, Callable[[nn.Module, torch.Tensor], object]]] = [
    ("engine", lambda m, x: optimize_image(m, lambda t: -m(t)[:, 0], x, steps=2, lr=0.1, jitter=1, blur_every=1)),
    ("class", lambda m, x: activation_maximization(m, 1, steps=2)),
    ("channel", lambda m, x: activation_maximization(m, layer="2", channel=1, steps=2)),
    ("inversion", lambda m, x: feature_inversion(m, x, "3", steps=2)),
]


@pytest.mark.parametrize("name,call", STATE_CALLS, ids=[n for n, _ in STATE_CALLS])
def test_model_state_hooks_and_input_are_left_as_found(name: str, call: Callable) -> None:
    net = small_net()
    net.train()
    net[3].training = False  # a submodule's own mode must survive
    net[0].bias.requires_grad_(False)
    net[5].weight.grad = torch.ones_like(net[5].weight)
    grads = {n: p.grad for n, p in net.named_parameters()}
    flags = [p.requires_grad for p in net.parameters()]
    params = {n: p.detach().clone() for n, p in net.named_parameters()}
    seen: list[int] = []
    handle = net[2].register_forward_hook(lambda m, i, o: seen.append(1))
    x = noise()
    copy = x.clone()
    with pytest.warns(UserWarning, match="forward hooks on"):  # the user's hook, set aside and named
        call(net, x)
    assert torch.equal(x, copy)
    assert net.training and not net[3].training and net[2].training
    assert [p.requires_grad for p in net.parameters()] == flags
    assert all(p.grad is grads[n] for n, p in net.named_parameters())
    assert all(torch.equal(p, params[n]) for n, p in net.named_parameters())
    assert not seen  # the user's hook was set aside during the call ...
    assert all(not m._forward_hooks for i, m in enumerate(net) if i != 2)  # ... cnnlab's own are gone
    net(x)
    assert seen == [1]  # ... and the user's is back
    handle.remove()
