"""Inception-v3 facts beyond the registry-wide tests: Table 1's grid sizes, the auxiliary head,
transform_input and torchvision's checkpoints."""

from __future__ import annotations

import pytest
import torch

import cnnlab
from cnnlab.analysis import count_macs, count_params
from cnnlab.errors import ConfigError, InputShapeError
from tests.helpers import meta_model

NAME = "inception_v3"


def _outputs(model, size, names):
    """Output shapes (C, H, W) of the named modules for one meta-device forward pass."""
    modules = dict(model.named_modules())
    seen = {}

    def record(module, args, out, name):
        seen[name] = tuple(out.shape[1:])

    hooks = [modules[n].register_forward_hook(lambda m, a, o, n=n: record(m, a, o, n)) for n in names]
    try:
        model.eval()(torch.empty(1, *size, device="meta"))
    finally:
        for h in hooks:
            h.remove()
    return seen


def test_params_with_and_without_aux_head():
    assert count_params(meta_model(NAME)) == 27_161_264  # the default: the paper's training net
    assert count_params(meta_model(NAME, aux_logits=False)) == 23_834_568


def test_aux_head_params_by_hand():
    # 1x1 conv 768->128 + BN, 5x5 conv 128->768 + BN, fc 768->1000 with bias.
    expected = (768 * 128 + 2 * 128) + (128 * 768 * 25 + 2 * 768) + (768 * 1000 + 1000)
    assert expected == 3_326_696
    assert count_params(meta_model(NAME).AuxLogits) == expected


def test_params_with_other_class_count():
    # Both classifiers shrink: fc 2048 -> 10 and AuxLogits.fc 768 -> 10.
    delta = (2048 + 768) * (1000 - 10) + 2 * (1000 - 10)
    assert count_params(meta_model(NAME, num_classes=10)) == 27_161_264 - delta


def test_macs_match_torchvision_published_ops():
    # torchvision's Inception_V3_Weights meta gives "_ops": 5.713 (GMACs, 299x299, no aux).
    assert round(count_macs(meta_model(NAME), (3, 299, 299)) / 1e9, 3) == 5.713


def test_table_1_grid_sizes_at_299():
    model = meta_model(NAME)
    names = [
        "Conv2d_1a_3x3",
        "Conv2d_2a_3x3",
        "Conv2d_2b_3x3",
        "maxpool1",
        "Mixed_5d",
        "Mixed_6a",
        "Mixed_6e",
        "Mixed_7a",
        "Mixed_7c",
    ]
    got = _outputs(model, (3, 299, 299), names)
    assert got == {
        "Conv2d_1a_3x3": (32, 149, 149),  # Table 1 row 2 input 149x149x32
        "Conv2d_2a_3x3": (32, 147, 147),  # row 3 input 147x147x32
        "Conv2d_2b_3x3": (64, 147, 147),  # row 4 input 147x147x64
        "maxpool1": (64, 73, 73),  # row 5 input 73x73x64
        "Mixed_5d": (288, 35, 35),  # after the three Fig. 5 modules: 35x35x288
        "Mixed_6a": (768, 17, 17),  # after the grid reduction
        "Mixed_6e": (768, 17, 17),  # after the five "5xInception" modules: 17x17x768
        "Mixed_7a": (1280, 8, 8),  # row "2xInception" input 8x8x1280
        "Mixed_7c": (2048, 8, 8),  # row "pool 8x8" input 8x8x2048
    }


def test_table_1_rows_that_the_implementation_keeps():
    """The module before each of these Table 1 rows outputs that row's printed input size."""
    from cnnlab.models.inception_v3 import TABLE_1

    before_row = {
        "Conv2d_1a_3x3": 1,
        "Conv2d_2a_3x3": 2,
        "Conv2d_2b_3x3": 3,
        "maxpool1": 4,
        "Mixed_6a": 8,
        "Mixed_7a": 9,
        "Mixed_7c": 10,
    }
    got = _outputs(meta_model(NAME), (3, 299, 299), list(before_row))
    for name, row in before_row.items():
        h, w, c = map(int, TABLE_1[row].input_size.split("x"))
        assert got[name] == (c, h, w), f"{name} -> Table 1 row {row + 1} {TABLE_1[row]}"
    assert TABLE_1[0].input_size == "299x299x3" and TABLE_1[-1].input_size == "1x1x1000"


def test_stage_widths_are_the_published_ones():
    model = meta_model(NAME)
    got = _outputs(model, (3, 299, 299), ["Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c"])
    assert got["Conv2d_4a_3x3"] == (192, 71, 71)
    assert got["maxpool2"] == (192, 35, 35)
    assert got["Mixed_5b"] == (256, 35, 35)  # 64 + 64 + 96 + 32
    assert got["Mixed_5c"] == (288, 35, 35)
    assert model.forward_head(torch.empty(1, 2048, 8, 8, device="meta"), pre_logits=True).shape == (1, 2048)


def test_bn_eps_everywhere():
    bns = [m for m in meta_model(NAME).modules() if isinstance(m, torch.nn.BatchNorm2d)]
    # stem 5 + 3 x 7 (Fig. 5) + 4 (6a) + 4 x 10 (Fig. 6) + 6 (7a) + 2 x 9 (Fig. 7) + 2 (aux)
    assert len(bns) == 96 and all(m.eps == 1e-3 for m in bns)


def test_too_small_input_names_the_layer():
    model = meta_model(NAME).eval()
    fits = r"input 3x64x64 does not fit inception_v3: at Mixed_7a\..*use input 3x299x299"
    with pytest.raises(InputShapeError, match=fits):
        model(torch.empty(1, 3, 64, 64, device="meta"))
    with pytest.raises(InputShapeError, match=r"input 3x74x74 .* at Mixed_7a\."):
        model(torch.empty(1, 3, 74, 74, device="meta"))
    assert model(torch.empty(1, 3, 75, 75, device="meta")).shape == (1, 1000)  # torchvision's min_size


def test_aux_head_needs_the_full_299_input():
    model = meta_model(NAME)
    main, (aux,) = model.forward_aux(torch.empty(2, 3, 299, 299, device="meta"))
    assert main.shape == aux.shape == (2, 1000)
    assert model(torch.empty(2, 3, 298, 298, device="meta")).shape == (2, 1000)
    with pytest.raises(InputShapeError, match=r"AuxLogits.*as 16x16.*at least 17x17.*aux_logits=False"):
        model.forward_aux(torch.empty(2, 3, 298, 298, device="meta"))


def test_forward_aux_without_aux_head_and_forward_returns_tensor():
    model = meta_model(NAME, aux_logits=False).train()
    assert model.AuxLogits is None
    main, aux = model.forward_aux(torch.empty(2, 3, 299, 299, device="meta"))
    assert main.shape == (2, 1000) and aux == ()
    full = meta_model(NAME).train()
    assert isinstance(full(torch.empty(2, 3, 299, 299, device="meta")), torch.Tensor)


def test_reset_classifier_resizes_aux_head():
    model = meta_model(NAME)
    model.reset_classifier(5)
    assert model.fc.out_features == 5 and model.AuxLogits.fc.out_features == 5
    assert model.fc.weight.is_meta
    double = meta_model(NAME).to(torch.float64)
    double.reset_classifier(5)
    assert double.fc.weight.dtype == double.AuxLogits.fc.weight.dtype == torch.float64


@pytest.mark.parametrize(
    "options, match",
    [
        ({"transform_input": True, "in_chans": 1}, r"in_chans=1"),
        ({"transform_input": "yes"}, r"transform_input.*'yes'"),
        ({"drop_prob": 1.5}, r"drop_prob.*1.5"),
        ({"aux_logits": 1}, r"aux_logits.*1"),
    ],
)
def test_bad_options(options, match):
    # create_model checks types and ranges first; the class repeats the checks for direct use.
    with pytest.raises(ConfigError, match=match):
        meta_model(NAME, **options)
    from cnnlab.models.inception_v3 import InceptionV3

    with torch.device("meta"), pytest.raises(ConfigError, match=match):
        InceptionV3(**options)


def test_transform_input_maps_imagenet_normalisation_to_minus_one_one():
    model = meta_model(NAME, transform_input=True)  # the transform uses no weights
    mean, std = torch.tensor(model.card.mean).view(1, 3, 1, 1), torch.tensor(model.card.std).view(1, 3, 1, 1)
    pixels = torch.rand(2, 3, 4, 4)
    got = model._transform_input((pixels - mean) / std)
    assert torch.allclose(got, (pixels - 0.5) / 0.5, atol=1e-6)
    assert not meta_model(NAME).transforms_input  # random initialisation: off


def _torchvision(**kwargs):
    import torchvision.models as tvm

    return tvm.inception_v3(weights=None, init_weights=True, **kwargs).eval()


def test_keys_are_torchvision_keys():
    tv = _torchvision(aux_logits=True).state_dict()
    assert list(meta_model(NAME).state_dict()) == list(tv)
    no_aux = [k for k in tv if not k.startswith("AuxLogits.")]
    assert list(meta_model(NAME, aux_logits=False).state_dict()) == no_aux


def test_transform_input_equals_torchvision(tmp_path):
    tv = _torchvision(aux_logits=True, transform_input=True)
    torch.save(tv.state_dict(), tmp_path / "tv.pth")
    model = cnnlab.create_model(NAME, weights=tmp_path / "tv.pth", transform_input=True).eval()
    x = torch.randn(1, 3, 107, 107)  # eval mode runs no aux head: a small input suffices
    with torch.no_grad():
        assert (model(x) - tv(x)).abs().max().item() <= 1e-5


def test_torchvision_weights_switch_transform_on_and_drop_aux(tmp_path, monkeypatch):
    """weights="torchvision" (from the hub cache, no network): Google's weights expect [-1, 1]
    input, so the model re-normalises the ImageNet-normalised input its pretrained_cfg asks
    for; a checkpoint without num_batches_tracked (saved before BatchNorm counted) loads too;
    aux_logits=False drops the checkpoint's AuxLogits."""
    import torchvision.models as tvm

    from cnnlab.weights import torchvision_cache_path

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", None)  # any network use would fail
    tv = _torchvision(aux_logits=True, transform_input=True)
    state = {k: v for k, v in tv.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = torchvision_cache_path(tvm.get_weight("Inception_V3_Weights.IMAGENET1K_V1").url)
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    x = torch.randn(1, 3, 107, 107)
    with torch.no_grad():
        expected = tv(x)
    for aux_logits in (True, False):
        model = cnnlab.create_model(NAME, weights="torchvision", aux_logits=aux_logits).eval()
        assert model.transforms_input and model.transform_input is True
        assert model.pretrained_cfg["mean"] == (0.485, 0.456, 0.406)
        assert model.pretrained_cfg["input_size"] == (3, 299, 299)
        with torch.no_grad():
            assert (model(x) - expected).abs().max().item() <= 1e-5
    model.transform_input = False  # an explicit setting overrides the weights' default
    assert not model.transforms_input
