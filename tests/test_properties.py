"""Property tests on generated networks (issue 17): nothing cnnlab runs changes a model it is
handed, and its counts equal FlopCounterMode's on the meta device.

Hypothesis builds small cnnlab networks (``ClassifierNet`` subclasses, so ``model(x)`` is
cnnlab code) from random programs of: new, reused and weight-tied convolutions, modules
registered under several names, module / in-place / functional ReLUs, batch norm (some in
training mode with batch statistics, beside eval-mode ones), max pooling, residual adds,
concatenations, frozen parts, and user hooks. For each network, every entry point leaves the
model bitwise and structurally as it was: parameters and buffers (identity, storage, device,
dtype, values, ``requires_grad``, ``.grad``), the module graph, modes, hooks, the global RNG
and the grad mode. ``make test`` runs a few dozen examples; ``-m slow`` runs hundreds.
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import cnnlab
from cnnlab.analysis import count_macs, empirical_region
from cnnlab.explain import adversarial as ADV
from cnnlab.explain import attribution as A
from cnnlab.explain import cams as CAMS
from cnnlab.explain import gradients as G
from cnnlab.explain import inspect as I
from cnnlab.explain.access import list_layers
from cnnlab.explain.synthesis import activation_maximization, feature_inversion
from cnnlab.models.base import ClassifierNet
from tests.helpers import assert_same_fingerprint, flop_counter_macs, model_fingerprint

C = 4  # channels everywhere: every op keeps the shape, so any program is valid
SIZE = (C, 8, 8)

OPS = (
    "conv",
    "reuse",
    "tied",
    "relu",
    "relu_inplace",
    "relu_fn",
    "relu_fn_",
    "bn",
    "bn_batch_stats",
    "pool",
    "add",
    "cat",
    "alias",
    "freeze",
    "hook",
    "scale",
)


class GeneratedNet(ClassifierNet):
    """A network built from a program of (op, argument) pairs; see the module docstring."""

    def __init__(self, program: list[tuple[str, int]], num_classes: int = 3) -> None:
        super().__init__()
        self.in_chans, self.num_classes, self.feature_info = C, num_classes, []
        self.default_input_size = SIZE
        self.blocks = nn.ModuleList()
        self.steps: list[tuple[str, int]] = []
        self.seen: list[tuple[int, ...]] = []  # what the user hooks recorded
        convs: list[nn.Conv2d] = []
        last = "input"
        for op, arg in program:
            if (op in ("reuse", "tied") and not convs) or (op in ("alias", "freeze", "hook") and not self.blocks):
                op = "conv"
            if op in ("relu_inplace", "relu_fn_") and last not in ("conv", "reuse", "tied", "cat", "add", "scale"):
                op = "relu"  # in place only where autograd saved no copy of the value (as a user's net must)
            if op not in ("alias", "freeze", "hook"):
                last = op
            if op == "conv":
                convs.append(self._add(nn.Conv2d(C, C, 3, padding=1)))
            elif op == "reuse" and convs:
                self._add(convs[arg % len(convs)])  # the same module again: a second name, a second call
            elif op == "tied" and convs:
                conv = nn.Conv2d(C, C, 3, padding=1)
                conv.weight = convs[arg % len(convs)].weight  # tied weights, own bias
                convs.append(self._add(conv))
            elif op == "relu":
                self._add(nn.ReLU())
            elif op == "relu_inplace":
                self._add(nn.ReLU(inplace=True))
            elif op in ("relu_fn", "relu_fn_", "scale", "add"):
                self.steps.append((op, arg))
            elif op == "bn":
                self._add(nn.BatchNorm2d(C))
            elif op == "bn_batch_stats":  # training mode inside an eval-mode model, changing nothing
                self._add(nn.BatchNorm2d(C, track_running_stats=False))
            elif op == "pool":
                self._add(nn.MaxPool2d(3, stride=1, padding=1))
            elif op == "cat":
                self.steps.append(("cat", arg))
                self._add(nn.Conv2d(2 * C, C, 1))
            elif op == "alias":
                setattr(self, f"alias{len(self.steps)}", self.blocks[arg % len(self.blocks)])
            elif op == "freeze":
                for p in self.blocks[arg % len(self.blocks)].parameters():
                    p.requires_grad_(False)
            elif op == "hook":
                self.blocks[arg % len(self.blocks)].register_forward_hook(self._record)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(C, num_classes)
        self.eval()
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d) and not m.track_running_stats:
                m.train()

    def _record(self, module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        self.seen.append(tuple(out.shape))

    def _add(self, module: nn.Module) -> nn.Module:
        self.steps.append(("module", len(self.blocks)))
        self.blocks.append(module)
        return module

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        history = [x]
        h = x
        for op, arg in self.steps:
            if op == "module":
                h = self.blocks[arg](h)
            elif op == "relu_fn":
                h = F.relu(h)
            elif op == "relu_fn_":
                h = F.relu_(h)
            elif op == "scale":
                h = h * 0.5
            elif op == "add":
                h = h + history[arg % len(history)]
            elif op == "cat":  # 2C channels, read by the 1x1 conv that follows
                h = torch.cat([h, history[arg % len(history)]], dim=1)
                continue
            history.append(h)
        return h

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.pool(x), 1)
        return x if pre_logits else self.fc(x)


programs = st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 7)), min_size=1, max_size=12)


def build(program: list[tuple[str, int]], seed: int = 0) -> GeneratedNet:
    torch.manual_seed(seed)
    model = GeneratedNet(program)
    for p in model.parameters():  # a .grad to keep, as after a training step
        p.grad = torch.full_like(p, 0.25)
    return model


def conv_names(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def images(n: int = 2) -> torch.Tensor:
    return torch.rand(n, *SIZE, generator=torch.Generator().manual_seed(1))


def untouched(model: nn.Module, action, may_raise: tuple[type[Exception], ...] = ()) -> object:
    """``action(model)``, checking the model is as it was afterwards, also when the action
    raised one of ``may_raise``."""
    before = model_fingerprint(model)
    out = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the hook warning of explain, said elsewhere
        try:
            out = action(model)
        except may_raise:
            pass
    assert_same_fingerprint(before, model_fingerprint(model))
    return out


def check_everything(program: list[tuple[str, int]]) -> None:
    model = build(program)
    model.pretrained_cfg = {"input_size": SIZE, "mean": (0.5,) * C, "std": (0.25,) * C}
    x = images()
    # model(x): plain, equal to the contract's composition, and nothing else happens.
    out = untouched(model, lambda m: m(x))
    with torch.no_grad(), warnings.catch_warnings():
        torch.testing.assert_close(out, model.forward_head(model.forward_features(x)), rtol=0, atol=0)
    # analyze: counts equal FlopCounterMode's on meta / 2, and the unique parameters.
    analysis = untouched(model, lambda m: cnnlab.analyze(m, input_size=SIZE))
    assert analysis.macs == flop_counter_macs(model, SIZE)
    assert analysis.params_total == sum(p.numel() for p in model.parameters())
    assert untouched(model, lambda m: count_macs(m, SIZE)) == analysis.macs
    convs = conv_names(model)
    if convs:
        # (a net whose batch statistics normalise the all-ones probe to zero has no gradient: ValueError)
        untouched(model, lambda m: empirical_region(m, SIZE, convs[-1]), may_raise=(ValueError,))
    # every explanation method
    untouched(model, lambda m: A.saliency(m, x))
    untouched(model, lambda m: A.saliency(m, x, smoothgrad=True, samples=3, seed=0))
    untouched(model, lambda m: A.grad_cam(m, x))
    untouched(model, lambda m: A.grad_cam_pp(m, x))
    untouched(model, lambda m: CAMS.score_cam(m, x))
    untouched(model, lambda m: A.saliency(m, x, smoothgrad=True, samples=3, seed=0, aggregate="var"))
    untouched(model, lambda m: G.integrated_gradients(m, x, steps=4, baseline="uniform", seed=0))
    untouched(model, lambda m: G.input_x_gradient(m, x))
    untouched(model, lambda m: CAMS.layer_cam(m, x))
    untouched(model, lambda m: CAMS.hires_cam(m, x))
    untouched(model, lambda m: CAMS.eigen_cam(m, x))
    untouched(model, lambda m: A.cam(m, x))
    untouched(model, lambda m: A.occlusion(m, x, window=4, stride=4))
    untouched(model, lambda m: ADV.fgsm(m, x))
    untouched(model, lambda m: ADV.pgd(m, x, steps=2))
    untouched(model, lambda m: ADV.fooling_image(m, x, 1, max_iterations=2))
    untouched(model, lambda m: list_layers(m))
    if convs:
        untouched(model, lambda m: I.activations(m, x, convs[0]))
        untouched(model, lambda m: feature_inversion(m, x, convs[0], steps=2))
        untouched(model, lambda m: activation_maximization(m, layer=convs[0], channel=0, steps=2, seed=0))
    if any(op.startswith("relu") for op, _ in program):
        untouched(model, lambda m: A.guided_backprop(m, x))
        untouched(model, lambda m: A.deconvnet(m, x))
        untouched(model, lambda m: CAMS.guided_grad_cam(m, x))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(programs)
def test_nothing_changes_a_generated_model(program):
    check_everything(program)


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs)
def test_nothing_changes_a_generated_model_long(program):
    check_everything(program)


def test_the_audits_reproductions_keep_their_weights():
    """The two reproductions of issue 17: a module under a second name, and Sequential(c, relu, c)."""
    m = cnnlab.create_model("lenet5").eval()
    m.alias = m.c1
    x = torch.randn(2, 1, 32, 32)
    untouched(m, lambda net: net(x))
    assert all(p.device.type == "cpu" for p in m.parameters())
    c = nn.Conv2d(3, 3, 3, padding=1)
    s = nn.Sequential(c, nn.ReLU(), c)
    untouched(s, lambda net: cnnlab.analyze(net, input_size=(3, 8, 8)))
    untouched(s, lambda net: count_macs(net, (3, 8, 8)))
    untouched(s, lambda net: empirical_region(net, (3, 8, 8), "0"))
    assert s[0].weight.device.type == "cpu"


def test_the_fingerprint_sees_a_change():
    """The property can fail: the fingerprint notices a changed value, mode, hook and RNG."""
    model = build([("conv", 0), ("bn", 0)])
    changes = [
        lambda m: m.blocks[0].weight.data.add_(1),
        lambda m: m.blocks[1].train(),
        lambda m: m.blocks[0].register_forward_hook(lambda *a: None),
        lambda m: torch.rand(1),
        lambda m: setattr(m.blocks[0].weight, "grad", None),
        lambda m: m.blocks[0]._parameters.__setitem__("weight", nn.Parameter(m.blocks[0].weight.detach().to("meta"))),
    ]
    for change in changes:
        model = build([("conv", 0), ("bn", 0)])
        with pytest.raises(AssertionError):
            untouched(model, change)
