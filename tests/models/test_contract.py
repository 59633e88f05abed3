"""Every registered model builds, runs forward and backward (every parameter gets a finite
gradient), and keeps the model contract."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnlab
from cnnlab.models.base import ClassifierNet, FeatureInfo
from tests.helpers import meta_model, small_model

MODELS = cnnlab.list_models()
# ResNet-1202 and pre-activation ResNet-1001 are ResNet-20's and ResNet-164's builders at
# depth 200 and 111: the same code, ten times the modules. Their counts and structure stay in
# `make test` (test_capture, test_snapshots); these per-module contract checks of them run
# under -m slow.
DEEP = {"resnet1202", "preact_resnet1001"}
MODELS_FAST = [pytest.param(n, marks=pytest.mark.slow) if n in DEEP else n for n in MODELS]


@pytest.mark.parametrize("name", MODELS_FAST)
def test_every_parameter_gets_a_gradient_in_a_training_step(name):
    """One training step as cnnlab trains (forward_aux with its auxiliary heads where the
    model has them): no parameter is left out of the graph, every gradient is finite.
    FractalNet's drop-path trains one column on half the batches by design (global drop
    path): it is checked with drop-path off, a step in which every column joins."""
    off = {"drop_path_local": 0.0, "global_drop_ratio": 0.0} if cnnlab.model_card(name).family == "fractalnet" else {}
    model, x = small_model(name, **off)
    assert isinstance(model, ClassifierNet)
    model.train()
    torch.manual_seed(0)
    out = model(x)
    assert isinstance(out, torch.Tensor), "forward must return a tensor in train mode"
    assert out.shape == (2, model.num_classes)
    if hasattr(model, "forward_aux") and getattr(model, "aux_logits", True):
        main, aux = model.forward_aux(x)
        loss = main.logsumexp(1).sum() + sum(a.logsumexp(1).sum() for a in aux)
    else:
        loss = out.logsumexp(1).sum()
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient reached {missing[:5]}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)

    model.eval()
    with torch.no_grad():
        full = model(x)
        split = model.forward_head(model.forward_features(x))
        pre = model.forward_head(model.forward_features(x), pre_logits=True)
    assert torch.allclose(full, split, atol=1e-6), "forward must equal forward_head(forward_features(x))"
    assert pre.shape[0] == 2 and pre.dim() == 2

    model.reset_classifier(7)
    assert model.num_classes == 7
    with torch.no_grad():
        assert model(x).shape == (2, 7)
    if hasattr(model, "forward_aux"):
        model.train()
        main, aux = model.forward_aux(x)
        assert main.shape == (2, 7)
        assert all(a.shape == (2, 7) for a in aux)


@pytest.mark.parametrize("name", MODELS_FAST)
def test_feature_info_matches_real_shapes(name):
    """Channels as declared; reduction equals the measured cumulative stride (the output
    grows by exactly one position per `reduction` input pixels)."""
    model = meta_model(name).eval()
    assert model.feature_info and all(isinstance(f, FeatureInfo) for f in model.feature_info)
    modules = dict(model.named_modules())
    c, h, w = model.card.input_size
    seen: dict[str, list[torch.Size]] = {}
    hooks = []
    for info in model.feature_info:
        assert info.module in modules, f"feature_info names {info.module!r}, which is not a module"

        def rec(m, a, o, key=info.module):
            seen.setdefault(key, []).append(o.shape)

        hooks.append(modules[info.module].register_forward_hook(rec))
    largest = max(f.reduction for f in model.feature_info)
    for extra in (0, 2 * largest):
        model.forward_features(torch.empty(1, c, h + extra, w + extra, device="meta"))
    for hk in hooks:
        hk.remove()
    for info in model.feature_info:
        small, big = seen[info.module][0], seen[info.module][-1]
        assert small[1] == info.num_chs, f"{info.module}: {small[1]} channels, feature_info says {info.num_chs}"
        assert big[2] - small[2] == 2 * largest // info.reduction, f"{info.module}: reduction is not {info.reduction}"


@pytest.mark.parametrize("name", MODELS)
def test_card_is_complete(name):
    card = cnnlab.model_card(name)
    assert card.name == name
    assert card.paper.authors and card.paper.year and card.table
    assert card.params > 0
    assert len(card.mean) == len(card.std) == card.input_size[0]


@pytest.mark.parametrize("name", MODELS_FAST)
def test_model_pickles(name):
    # Models must pickle (DDP, multiprocessing, deepcopy): no lambdas in modules.
    import copy
    import pickle

    model = meta_model(name).eval()
    clone = pickle.loads(pickle.dumps(model))
    copy.deepcopy(model)
    c, h, w = model.card.input_size
    assert clone(torch.empty(1, c, h, w, device="meta")).shape == (1, model.num_classes)


AUX_MODELS = [n for n in MODELS if hasattr(meta_model(n), "forward_aux")]


def test_models_with_auxiliary_heads_are_found():
    assert {"googlenet", "inception_v3"} <= set(AUX_MODELS)


@pytest.mark.parametrize("name", AUX_MODELS)
def test_aux_heads_are_reachable_only_through_forward_aux(name):
    model, x = small_model(name)
    model.train()
    main, aux = model.forward_aux(x)
    assert isinstance(aux, tuple) and len(aux) >= 1
    assert isinstance(model.get_classifier(), nn.Module)
    # forward never runs the auxiliary heads, in train or eval mode.
    aux_names = {n for n, m in model.named_modules() if n and n.split(".")[0].lower().startswith("aux")}
    assert aux_names, "auxiliary heads should live in modules named aux*"
    called = []
    handles = [model.get_submodule(n).register_forward_hook(lambda m, a, o: called.append(m)) for n in aux_names]
    for mode in (True, False):
        model.train(mode)
        assert isinstance(model(x), torch.Tensor)
    for h in handles:
        h.remove()
    assert not called


@pytest.mark.parametrize("name", MODELS)
def test_reset_classifier_keeps_device_and_dtype_and_validates(name):
    model = meta_model(name).double()
    model.reset_classifier(3)
    assert model.num_classes == 3
    assert all(p.is_meta for p in model.parameters()), "reset_classifier must build on the model's device"
    assert all(p.dtype == torch.float64 for p in model.parameters()), "reset_classifier must keep the dtype"
    from cnnlab.errors import ConfigError

    for bad in (0, -1, 2.0):
        with pytest.raises(ConfigError, match=repr(bad)):
            model.reset_classifier(bad)


@pytest.mark.parametrize("name", ["lenet5", "minigooglenet", "googlenet"])
def test_other_dtypes_pass_the_input_check(name):
    model, x = small_model(name)
    model = model.double().eval()
    with torch.no_grad():
        assert model(x.double()).dtype == torch.float64
    if hasattr(model, "forward_aux"):
        model.train()
        assert model.forward_aux(x.double())[0].dtype == torch.float64


def test_input_check_does_not_run_user_hooks():
    model, x = small_model("lenet5")
    seen = []
    handle = model.c1.register_forward_hook(lambda m, a, o: seen.append(o.detach().numpy().shape))
    model(x)
    handle.remove()
    assert seen == [(2, 6, 28, 28)], "a user's hook must see only the real forward"
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
