"""Fooling images, FGSM and PGD on a small digits classifier: they reach their goal within
the stated norm, report the perturbation they made, stay in their budgets and in [0, 1],
FGSM is exactly one signed step, seeds reproduce, batches equal one-by-one calls, and the
model, its hooks and the caller's tensors come back as they were."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.errors import ConfigError
from cnnlab.explain.adversarial import fgsm, fooling_image, pgd

MEAN, STD = 0.3, 0.4


def small_net() -> nn.Module:
    """A conv net on 1 x 8 x 8 pixels with an in-place ReLU and its own normalisation."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(inplace=True), nn.Flatten(), nn.Linear(8 * 64, 10))
    net.pretrained_cfg = {
        "input_size": (1, 8, 8),
        "mean": (MEAN,),
        "std": (STD,),
        "classes": ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"],
    }
    return net.eval()


@functools.cache
def _digits() -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 16
    y = torch.tensor(d.target)
    net = small_net()
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(60):
        opt.zero_grad()
        F.cross_entropy(net((x[:1200] - MEAN) / STD), y[:1200]).backward()
        opt.step()
    return {k: v.detach().clone() for k, v in net.state_dict().items()}, x[1200:1210], y[1200:1210]


def digits() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """:func:`small_net` fitted for 60 full-batch Adam steps on scikit-learn's 8x8 digits
    (about 1 s, once), with 10 held-out images in [0, 1] and their labels."""
    state, x, y = _digits()
    net = small_net()
    net.load_state_dict(state)
    return net.eval(), x.clone(), y.clone()


def predict(net: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net((pixels - MEAN) / STD).argmax(1)


def check_report(exp, net: nn.Module, x: torch.Tensor) -> None:
    """The reported perturbation, norms and classes are those of the returned images."""
    delta = exp.maps - x
    torch.testing.assert_close(exp.extras["perturbation"], delta)
    torch.testing.assert_close(exp.extras["l2"], delta.flatten(1).norm(dim=1))
    torch.testing.assert_close(exp.extras["linf"], delta.flatten(1).abs().amax(1))
    assert torch.equal(exp.extras["final_class"], predict(net, exp.maps))
    assert torch.equal(exp.extras["original_class"], predict(net, x))
    with torch.no_grad():
        prob = net((exp.maps - MEAN) / STD).softmax(1).gather(1, exp.target[:, None])[:, 0]
    torch.testing.assert_close(exp.extras["final_prob"], prob)
    assert exp.maps.min() >= 0 and exp.maps.max() <= 1 and exp.units == "pixel [0, 1]"
    json.dumps(exp.manifest())


# ----------------------------------------------------------------------- fooling images


def test_fooling_images_reach_the_target_within_the_stated_norm() -> None:
    net, x, y = digits()
    target = (y + 1) % 10
    step = 0.1
    exp = fooling_image(net, x, target, step_size=step, max_iterations=200)
    assert exp.extras["success"].all() and torch.equal(predict(net, exp.maps), target)
    check_report(exp, net, x)
    iterations = exp.extras["iterations"]
    assert (iterations >= 1).all()
    # each step moves at most step_size in L2 (clipping to [0, 1] only shortens it)
    assert (exp.extras["l2"] <= iterations * step + 1e-5).all()
    # each image stopped at its first success: one step fewer does not fool it
    for i in range(3):
        short = fooling_image(net, x[i : i + 1], int(target[i]), step_size=step, max_iterations=int(iterations[i]) - 1)
        assert not short.extras["success"][0]


def test_fooling_linf_steps_and_the_default_step() -> None:
    net, x, y = digits()
    target = (y + 3) % 10
    exp = fooling_image(net, x, target, norm="linf", step_size=2 / 255, max_iterations=300)
    assert exp.extras["success"].all()
    check_report(exp, net, x)
    assert (exp.extras["linf"] <= exp.extras["iterations"] * 2 / 255 + 1e-6).all()
    default = fooling_image(net, x[:2], "nine")
    assert default.params["step_size"] == pytest.approx(STD)  # one normalised unit (CS231n: lr 1)
    assert default.target.tolist() == [9, 9]


def test_fooling_within_max_norm_projects_and_reports_failure() -> None:
    net, x, y = digits()
    target = (y + 1) % 10
    for norm, key in (("l2", "l2"), ("linf", "linf")):
        bounded = fooling_image(net, x, target, step_size=0.05, max_iterations=60, norm=norm, max_norm=0.02)
        assert (bounded.extras[key] <= 0.02 + 1e-6).all()
        assert not bounded.extras["success"].any()  # 0.02 is far too small a budget for this model
        assert torch.equal(bounded.extras["success"], predict(net, bounded.maps) == target)
        assert (bounded.extras["iterations"] == 60).all()
        check_report(bounded, net, x)


def test_an_image_already_in_the_target_class_is_left_alone() -> None:
    net, x, _ = digits()
    own = predict(net, x)
    exp = fooling_image(net, x[:3], own[:3])
    assert torch.equal(exp.maps, x[:3])
    assert exp.extras["iterations"].tolist() == [0, 0, 0] and exp.extras["success"].all()


# ------------------------------------------------------------------------- FGSM and PGD


def loss_gradient(net: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """d cross-entropy / d pixel, by autograd on a copy of the model's input."""
    p = x.clone().requires_grad_(True)
    F.cross_entropy(net((p - MEAN) / STD), labels, reduction="sum").backward()
    return p.grad


def test_fgsm_is_one_signed_step_of_eps() -> None:
    net, x, y = digits()
    grey = torch.full_like(x, 0.5) + 0.01 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    eps = 0.1  # 0.5 +- 0.11 stays in [0, 1]: nothing is clipped
    exp = fgsm(net, grey, y, eps=eps)
    g = loss_gradient(net, grey, y)
    torch.testing.assert_close(exp.extras["perturbation"], eps * g.sign())
    assert (g != 0).all()  # so every pixel moved by exactly eps
    check_report(exp, net, grey)
    assert torch.equal(exp.extras["success"], exp.extras["final_class"] != y)
    assert exp.extras["iterations"].tolist() == [1] * 10 and exp.params["eps"] == eps

    targeted = fgsm(net, grey, eps=eps, target=2)  # down the target's loss
    torch.testing.assert_close(
        targeted.extras["perturbation"], -eps * loss_gradient(net, grey, torch.full_like(y, 2)).sign()
    )
    assert torch.equal(targeted.extras["success"], targeted.extras["final_class"] == 2)

    clipped = fgsm(net, x, y, eps=eps)  # digits are mostly 0 and 1: the step is clipped there
    torch.testing.assert_close(clipped.maps, (x + eps * loss_gradient(net, x, y).sign()).clamp(0, 1))
    default = fgsm(net, x, eps=eps)  # labels=None: the model's own prediction
    torch.testing.assert_close(default.maps, fgsm(net, x, predict(net, x), eps=eps).maps)


@pytest.mark.parametrize("norm,eps", [("linf", 0.2), ("l2", 1.0)])
def test_pgd_stays_in_its_ball_and_in_pixel_range(norm: str, eps: float) -> None:
    net, x, y = digits()
    exp = pgd(net, x, y, eps=eps, alpha=eps / 4, steps=10, norm=norm, seed=0)
    assert (exp.extras[norm] <= eps + 1e-5).all()
    check_report(exp, net, x)
    assert torch.equal(exp.extras["success"], exp.extras["final_class"] != y)
    assert exp.extras["success"].float().mean() >= 0.5
    assert exp.seed == 0 and exp.params["seed"] == 0 and exp.params["norm"] == norm
    weaker = fgsm(net, x, y, eps=eps if norm == "linf" else eps / 8)
    assert exp.extras["success"].sum() >= weaker.extras["success"].sum()
    targeted = pgd(net, x, eps=eps, alpha=eps / 4, steps=20, norm=norm, target="seven", seed=0)
    assert (targeted.extras[norm] <= eps + 1e-5).all() and targeted.target.tolist() == [7] * 10
    assert torch.equal(targeted.extras["success"], targeted.extras["final_class"] == 7)
    assert targeted.extras["success"].float().mean() >= 0.5


def test_pgd_random_start_is_seeded() -> None:
    net, x, y = digits()
    for norm, eps in (("linf", 0.05), ("l2", 0.5)):
        run = functools.partial(pgd, net, x, y, eps=eps, steps=1, norm=norm)
        assert torch.equal(run(seed=1).maps, run(seed=1).maps)
        assert not torch.allclose(run(seed=1).maps, run(seed=2).maps)
        assert torch.equal(run(random_start=False, seed=1).maps, run(random_start=False, seed=2).maps)
        assert run(random_start=False).seed is None


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda n, x: pgd(n, x, norm="l1"), "norm='l1'"),
        (lambda n, x: pgd(n, x, eps=0.0), "eps=0.0"),
        (lambda n, x: pgd(n, x, steps=0), "steps=0"),
        (lambda n, x: fgsm(n, x, eps=-0.1), "eps=-0.1"),
        (lambda n, x: fooling_image(n, x, 3, max_norm=0.0), "max_norm"),
        (lambda n, x: fooling_image(n, x, 3, norm="l0"), "norm='l0'"),
        (lambda n, x: fooling_image(n, x, "ten"), "unknown class 'ten'"),
        (lambda n, x: fooling_image(n, x, 12), "class 12 is out of range"),
        (lambda n, x: fgsm(n, x * 255), "pixel units"),
    ],
)
def test_bad_settings_are_refused(call: Callable, match: str) -> None:
    net, x, _ = digits()
    with pytest.raises(ConfigError, match=match):
        call(net, x[:2])


# ------------------------------------------------------- batch, state and input unchanged

BATCH_CALLS = [
    ("fooling", lambda n, x, y: fooling_image(n, x, (y + 1) % 10, step_size=0.1, max_iterations=40)),
    (
        "fooling_bounded",
        lambda n, x, y: fooling_image(n, x, (y + 2) % 10, step_size=0.05, max_iterations=20, norm="linf", max_norm=0.1),
    ),
    ("fgsm", lambda n, x, y: fgsm(n, x, y, eps=0.1)),
    ("fgsm_targeted", lambda n, x, y: fgsm(n, x, target=4, eps=0.1)),
    ("pgd_linf", lambda n, x, y: pgd(n, x, y, eps=0.1, alpha=0.03, steps=5, random_start=False)),
    ("pgd_l2", lambda n, x, y: pgd(n, x, y, eps=1.0, alpha=0.3, steps=5, norm="l2", random_start=False)),
]


@pytest.mark.parametrize("name,call", BATCH_CALLS, ids=[n for n, _ in BATCH_CALLS])
def test_a_batch_equals_one_by_one(name: str, call: Callable) -> None:
    net, x, y = digits()
    x, y = x[:4], y[:4]
    together = call(net, x, y)
    alone = [call(net, x[i : i + 1], y[i : i + 1]) for i in range(4)]
    torch.testing.assert_close(together.maps, torch.cat([a.maps for a in alone]), atol=1e-5, rtol=1e-4)
    for key in ("success", "iterations", "final_class"):
        assert torch.equal(together.extras[key], torch.cat([a.extras[key] for a in alone])), key


STATE_CALLS = [
    ("fooling", lambda n, x: fooling_image(n, x, 1, max_iterations=3)),
    ("fgsm", lambda n, x: fgsm(n, x)),
    ("pgd", lambda n, x: pgd(n, x, steps=2)),
]


@pytest.mark.parametrize("name,call", STATE_CALLS, ids=[n for n, _ in STATE_CALLS])
def test_model_state_hooks_and_input_are_left_as_found(name: str, call: Callable) -> None:
    net = small_net()
    net.train()
    net[1].training = False  # a submodule's own mode must survive
    net[0].bias.requires_grad_(False)
    net[3].weight.grad = torch.ones_like(net[3].weight)
    grads = {n: p.grad for n, p in net.named_parameters()}
    flags = [p.requires_grad for p in net.parameters()]
    params = {n: p.detach().clone() for n, p in net.named_parameters()}
    seen: list[int] = []
    handle = net[0].register_forward_hook(lambda m, i, o: seen.append(1))
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    copy = x.clone()
    with pytest.warns(UserWarning, match="forward hooks on"):  # the user's hook, set aside and named
        call(net, x)
    assert torch.equal(x, copy)
    assert net.training and not net[1].training and net[2].training
    assert [p.requires_grad for p in net.parameters()] == flags
    assert all(p.grad is grads[n] for n, p in net.named_parameters())
    assert all(torch.equal(p, params[n]) for n, p in net.named_parameters())
    assert not seen  # the user's hook was set aside during the attack ...
    net(x)
    assert seen == [1]  # ... and is back afterwards
    handle.remove()
