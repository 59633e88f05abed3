"""GoogLeNet: Table 1's rows, Sec. 5's auxiliary classifiers, and torchvision's build."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnlab
from cnnlab.analysis import count_macs, count_params
from cnnlab.errors import ConfigError, InputShapeError
from cnnlab.models.googlenet import (
    AUX_WEIGHT,
    PRINTED_PARAMS_OFF,
    TABLE1,
    TORCHVISION_LAYOUT,
    Conv,
    Dropout,
    GoogLeNet,
    Inception,
    Linear,
    Softmax,
    module_name,
)
from cnnlab.registry import model_options
from tests.helpers import meta_model

# Table 1's output column, as the specification lists it: (C, H, W) per row.
TABLE1_OUTPUTS = {
    "conv1": (64, 112, 112),
    "maxpool1": (64, 56, 56),
    "conv2": (192, 56, 56),
    "maxpool2": (192, 28, 28),
    "inception3a": (256, 28, 28),
    "inception3b": (480, 28, 28),
    "maxpool3": (480, 14, 14),
    "inception4a": (512, 14, 14),
    "inception4b": (512, 14, 14),
    "inception4c": (512, 14, 14),
    "inception4d": (528, 14, 14),
    "inception4e": (832, 14, 14),
    "maxpool4": (832, 7, 7),
    "inception5a": (832, 7, 7),
    "inception5b": (1024, 7, 7),
    "avgpool": (1024, 1, 1),
    "dropout": (1024, 1, 1),
    "fc": (1000, 1, 1),
}


def _row_outputs(model: nn.Module, names) -> dict[str, tuple[int, int, int]]:
    """(C, H, W) of each named module's output in an eval forward at 224 on the meta device."""
    seen = {}
    hooks = []
    for name in names:

        def rec(m, a, out, key=name):
            shape = tuple(out.shape[1:])
            seen[key] = shape if len(shape) == 3 else (shape[0], 1, 1)  # flattened: 1x1xC

        hooks.append(model.get_submodule(name).register_forward_hook(rec))
    model.eval()(torch.empty(1, 3, 224, 224, device="meta"))
    for h in hooks:
        h.remove()
    return seen


def test_table1_data_is_the_printed_table():
    printed = {module_name(r): (r.output[2], r.output[0], r.output[1]) for r in TABLE1 if not isinstance(r, Softmax)}
    assert printed == TABLE1_OUTPUTS
    for row in TABLE1:
        if isinstance(row, Inception):  # the output depth is the sum of the four branches
            assert row.n1x1 + row.n3x3 + row.n5x5 + row.pool_proj == row.output[2], row.name


@pytest.mark.parametrize("name", ["googlenet", "googlenet_tv"])
def test_every_table1_row_has_its_printed_output_size(name):
    model = meta_model(name)
    names = list(TABLE1_OUTPUTS)
    if name == "googlenet_tv":
        names[names.index("conv2")] = "conv3"  # torchvision's name for conv2's 3x3
    seen = _row_outputs(model, names)
    got = {("conv2" if n == "conv3" else n): seen[n] for n in names}
    assert got == TABLE1_OUTPUTS


@pytest.mark.parametrize(
    "name, aux_logits, params",
    [
        ("googlenet", False, 6_998_552),
        ("googlenet", True, 13_378_280),
        ("googlenet_tv", False, 6_624_904),
        ("googlenet_tv", True, 13_004_888),
    ],
)
def test_exact_parameter_counts(name, aux_logits, params):
    assert count_params(meta_model(name, aux_logits=aux_logits)) == params


@pytest.mark.parametrize("name, macs", [("googlenet", 1_582_671_872), ("googlenet_tv", 1_498_376_192)])
def test_exact_macs(name, macs):
    # The specification's numbers; the card derives them by hand from Table 1's filter counts.
    assert count_macs(meta_model(name), (3, 224, 224)) == macs
    assert cnnlab.model_card(name).macs == macs


def test_default_builds():
    assert cnnlab.model_card("googlenet").params == 13_378_280  # with Sec. 5's heads
    assert meta_model("googlenet").aux_logits is True
    assert meta_model("googlenet_tv").aux_logits is False  # as torchvision returns its ImageNet model


def test_aux_heads_follow_section5():
    model = meta_model("googlenet")
    for aux, chs, params in (("aux1", 512, 3_188_840), ("aux2", 528, 3_190_888)):
        head = model.get_submodule(aux)
        assert isinstance(head.pool, nn.AvgPool2d) and head.pool.kernel_size == 5 and head.pool.stride == 3
        assert head.conv.conv.in_channels == chs and head.conv.conv.out_channels == 128
        assert head.conv.conv.kernel_size == (1, 1) and isinstance(head.conv.act, nn.ReLU)
        assert (head.fc1.in_features, head.fc1.out_features) == (128 * 4 * 4, 1024)
        assert head.dropout.p == 0.7
        assert head.fc2.out_features == 1000
        assert count_params(head) == params
    assert AUX_WEIGHT == 0.3 and model.aux_weights == (0.3, 0.3)


@pytest.mark.parametrize("name", ["googlenet", "googlenet_tv"])
def test_forward_aux_returns_main_and_two_aux_logits(name):
    model = meta_model(name, aux_logits=True).train()
    x = torch.empty(2, 3, 224, 224, device="meta")
    logits, aux = model.forward_aux(x)
    assert logits.shape == (2, 1000) and len(aux) == 2 and all(a.shape == (2, 1000) for a in aux)
    assert model(x).shape == (2, 1000)  # forward: main logits only, also in train mode
    model.reset_classifier(10)
    _, aux = model.forward_aux(x)
    assert model.aux1.fc2.out_features == model.aux2.fc2.out_features == 10
    assert all(a.shape == (2, 10) for a in aux)


def test_without_aux_heads_forward_aux_gives_an_empty_tuple():
    model = meta_model("googlenet", aux_logits=False)
    assert not hasattr(model, "aux1") and model.aux_weights == ()
    logits, aux = model.forward_aux(torch.empty(2, 3, 224, 224, device="meta"))
    assert logits.shape == (2, 1000) and aux == ()


def test_paper_build_stem_lrn_biases_5x5_dropout():
    model = meta_model("googlenet")
    # Fig. 3: LocalRespNorm after the first max pool and after conv2's 3x3.
    assert model.stem == ["conv1", "maxpool1", "lrn1", "conv2_reduce", "conv2", "lrn2", "maxpool2"]
    assert all(isinstance(model.get_submodule(n), nn.LocalResponseNorm) for n in ("lrn1", "lrn2"))
    assert model.conv2_reduce.conv.kernel_size == (1, 1) and model.conv2_reduce.conv.out_channels == 64
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.bias is not None for c in convs)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    for row in TABLE1:
        if isinstance(row, Inception):
            assert model.get_submodule(module_name(row)).branch3[1].conv.kernel_size == (5, 5)
    assert [m.kernel_size for n, m in model.named_children() if n.startswith("maxpool")] == [3, 3, 3, 3]
    assert all(m.ceil_mode for m in model.modules() if isinstance(m, nn.MaxPool2d))
    assert model.dropout.p == 0.4
    assert isinstance(model.avgpool, nn.AvgPool2d) and model.avgpool.kernel_size == 7


def test_dropout_rate_comes_from_the_table_row():
    (row,) = [r for r in TABLE1 if isinstance(r, Dropout)]
    assert row.drop_prob == 0.4  # Table 1: "dropout (40%)"
    assert model_options("googlenet")["drop_prob"] == row.drop_prob
    (tv_row,) = [r for r in TORCHVISION_LAYOUT if isinstance(r, Dropout)]
    assert tv_row.drop_prob == 0.2 and model_options("googlenet_tv")["drop_prob"] == 0.2
    with torch.device("meta"):
        assert GoogLeNet(TABLE1).dropout.p == 0.4  # the class reads the row too
        assert GoogLeNet(TABLE1, drop_prob=0.1).dropout.p == 0.1
    assert meta_model("googlenet", drop_prob=0.25).dropout.p == 0.25


def test_accepted_input_sizes():
    """223 to 254 all reach the 7x7 map that the fixed 7x7 average pool needs."""
    model = meta_model("googlenet")
    for size in (223, 224, 254):
        model.check_input(torch.empty(2, 3, size, size, device="meta"))
    for size in (222, 255):
        with pytest.raises(InputShapeError, match="use input 3x224x224"):
            model.check_input(torch.empty(2, 3, size, size, device="meta"))


def test_paper_build_declares_its_choices():
    deviations = " ".join(cnnlab.model_card("googlenet").deviations)
    for fact in ("BVLC", "ceil_mode", "mean subtraction"):
        assert fact in deviations, fact


@pytest.mark.parametrize(
    "options, message",
    [
        ({"transform_input": "yes"}, "transform_input='yes'"),
        ({"drop_prob": 1.0}, "drop_prob=1.0"),
        ({"aux_drop_prob": -0.1}, "aux_drop_prob=-0.1"),
        ({"aux_logits": 1}, "aux_logits=1"),
    ],
)
def test_bad_options_are_refused(options, message):
    with torch.device("meta"), pytest.raises(ConfigError, match=message):
        cnnlab.create_model("googlenet_tv", **options)


@pytest.mark.parametrize("name", ["googlenet", "googlenet_tv"])
def test_reset_classifier_keeps_dtype_and_the_builds_initialisation(name):
    model = cnnlab.create_model(name, aux_logits=True).double()
    model.reset_classifier(10)
    for fc in (model.fc, model.aux1.fc2, model.aux2.fc2):
        assert fc.weight.dtype == torch.float64 and fc.out_features == 10
    if name == "googlenet_tv":  # torchvision's N(0, 0.01^2) again
        assert abs(model.fc.weight.std().item() - 0.01) < 0.0005
    logits, aux = model.forward_aux(torch.randn(2, 3, 224, 224, dtype=torch.float64))
    assert logits.dtype == torch.float64 and all(a.shape == (2, 10) for a in aux)


def test_torchvision_build_initialises_as_torchvision():
    model = cnnlab.create_model("googlenet_tv", aux_logits=True)
    for weight in (
        model.conv1.conv.weight,
        model.inception4e.branch2[1].conv.weight,
        model.fc.weight,
        model.aux1.fc1.weight,
    ):
        assert abs(weight.std().item() - 0.01) < 0.0005 and abs(weight.mean().item()) < 0.001
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(bool((m.weight == 1).all()) and bool((m.bias == 0).all()) for m in bns)


def test_torchvision_build_differs_where_declared():
    model = meta_model("googlenet_tv")
    assert model.stem == ["conv1", "maxpool1", "conv2", "conv3", "maxpool2"]
    assert not any(isinstance(m, nn.LocalResponseNorm) for m in model.modules())
    assert all(m.bias is None for m in model.modules() if isinstance(m, nn.Conv2d))
    assert all(m.eps == 1e-3 for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert model.inception3a.branch3[1].conv.kernel_size == (3, 3)
    assert model.maxpool4.kernel_size == 2 and model.dropout.p == 0.2
    assert [type(r).__name__ for r in TORCHVISION_LAYOUT].count("Conv") == 3


def _weights_in_k(model: nn.Module, names: list[str]) -> float:
    """Weights (biases excluded) of the named modules, in Table 1's unit of 1024."""
    params = (p for n in names for k, p in model.get_submodule(n).named_parameters() if k.endswith("weight"))
    return sum(p.numel() for p in params) / 1024


def test_table1_params_and_ops_columns():
    """Which printed entries follow from the filter counts: the card's notes rely on this."""
    model = meta_model("googlenet", aux_logits=False)
    sum_k, sum_m = 0.0, 0.0
    for row in TABLE1:
        if isinstance(row, (Conv, Inception, Linear)):
            name = module_name(row)
            parts = [f"{name}_reduce", name] if getattr(row, "reduce", None) else [name]
            built_k = _weights_in_k(model, parts)
            printed_k = float(row.params.rstrip("K"))
            sum_k += printed_k
            if name in PRINTED_PARAMS_OFF:
                assert PRINTED_PARAMS_OFF[name] == (printed_k, built_k)
                assert abs(printed_k - built_k) > 1, name
            else:
                assert abs(printed_k - built_k) <= 1, name
            h, w, _ = row.output
            built_ops = built_k * 1024 * h * w / 1e6
            printed_ops = float(row.ops.rstrip("M"))
            sum_m += printed_ops
            assert (abs(printed_ops - built_ops) <= 1) == (name not in ("conv1", "inception5a")), name
    assert round(sum_k / 1000, 1) == 6.8  # "6.8M"
    assert round(sum_m / 1000, 1) == 1.5  # "1.5G"


def _tv(**kwargs):
    import torchvision.models as tvm

    return tvm.googlenet(weights=None, init_weights=True, **kwargs).eval()


def test_torchvision_checkpoint_with_aux_heads_loads_into_default_build(tmp_path):
    reference = _tv(aux_logits=True)
    torch.save(reference.state_dict(), tmp_path / "tv.pth")
    model = cnnlab.create_model("googlenet_tv", weights=tmp_path / "tv.pth", transform_input=False).eval()
    assert not hasattr(model, "aux1")
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert (model(x) - reference(x)).abs().max().item() <= 1e-5


def test_checkpoint_without_batchnorm_step_counters_loads(tmp_path):
    reference = _tv(aux_logits=True)
    state = {k: v for k, v in reference.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "old.pth")
    model = cnnlab.create_model("googlenet_tv", weights=tmp_path / "old.pth", transform_input=False).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert (model(x) - reference(x)).abs().max().item() <= 1e-5


def test_aux_logits_match_torchvision_in_train_mode(tmp_path):
    reference = _tv(aux_logits=True, dropout=0.0, dropout_aux=0.0).train()
    torch.save(reference.state_dict(), tmp_path / "tv.pth")
    model = cnnlab.create_model(
        "googlenet_tv",
        weights=tmp_path / "tv.pth",
        aux_logits=True,
        transform_input=False,
        drop_prob=0.0,
        aux_drop_prob=0.0,
    ).train()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = reference(x)  # (logits, aux_logits2, aux_logits1)
        logits, (aux1, aux2) = model.forward_aux(x)
    for ours, theirs in ((logits, ref.logits), (aux1, ref.aux_logits1), (aux2, ref.aux_logits2)):
        assert (ours - theirs).abs().max().item() <= 1e-5


def test_transform_input_matches_torchvision(tmp_path):
    reference = _tv(aux_logits=False, transform_input=True)
    torch.save(reference.state_dict(), tmp_path / "tv.pth")
    model = cnnlab.create_model("googlenet_tv", weights=tmp_path / "tv.pth", transform_input=True).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert (model(x) - reference(x)).abs().max().item() <= 1e-5


def test_weights_torchvision_switches_transform_input_on(tmp_path, monkeypatch):
    """Like torchvision.models.googlenet(weights=...): on unless the caller says otherwise."""
    import torchvision.models as tvm

    from cnnlab.weights import torchvision_cache_path

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", None)  # no network
    path = torchvision_cache_path(tvm.GoogLeNet_Weights.IMAGENET1K_V1.url)
    path.parent.mkdir(parents=True)
    reference = _tv(aux_logits=True, transform_input=True)  # the checkpoint carries aux heads
    torch.save(reference.state_dict(), path)
    fresh = cnnlab.create_model("googlenet_tv")
    assert fresh.transform_input is None and fresh.transforms_input is False  # auto: off until loaded
    model = cnnlab.create_model("googlenet_tv", weights="torchvision").eval()
    assert model.transform_input is True and not hasattr(model, "aux1")
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert (model(x) - reference(x)).abs().max().item() <= 1e-5
    assert cnnlab.create_model("googlenet_tv", weights="torchvision", transform_input=False).transform_input is False


def test_auto_transform_input_stays_off_for_a_file_by_path(tmp_path):
    reference = _tv(aux_logits=False, transform_input=False)
    torch.save(reference.state_dict(), tmp_path / "tv.pth")
    model = cnnlab.create_model("googlenet_tv", weights=tmp_path / "tv.pth").eval()  # transform_input=None
    assert model.transform_input is None and not model.transforms_input
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert (model(x) - reference(x)).abs().max().item() <= 1e-5


def test_transform_input_needs_three_channels():
    with pytest.raises(ConfigError, match="in_chans=1"):
        cnnlab.create_model("googlenet_tv", in_chans=1, transform_input=True)
    assert meta_model("googlenet_tv", in_chans=1).in_chans == 1
