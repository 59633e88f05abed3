"""ZFNet (Zeiler & Fergus 2013, Fig. 3): the facts beyond the registry-wide tests."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnlab
from cnnlab.analysis import count_params, leaf_trace
from cnnlab.errors import InputShapeError
from tests.helpers import meta_model


def test_per_layer_params():
    model = meta_model("zfnet")
    layers = {n: count_params(m) for n, m in model.named_children() if count_params(m)}
    assert layers == {
        "conv1": 96 * 7 * 7 * 3 + 96,  # 14,208
        "conv2": 256 * 5 * 5 * 96 + 256,
        "conv3": 384 * 3 * 3 * 256 + 384,
        "conv4": 384 * 3 * 3 * 384 + 384,
        "conv5": 256 * 3 * 3 * 384 + 256,
        "fc6": 4096 * 6 * 6 * 256 + 4096,
        "fc7": 4096 * 4096 + 4096,
        "fc8": 1000 * 4096 + 1000,
    }
    assert sum(layers.values()) == 62_357_608


def test_fig3_map_sizes_110_55_26_13_13_13_6():
    s = {r.name: r.output_shape for r in leaf_trace(meta_model("zfnet"), (3, 224, 224))}
    assert s["conv1"] == (96, 110, 110)
    assert s["pool1"] == s["norm1"] == (96, 55, 55)
    assert s["conv2"] == (256, 26, 26)
    assert s["pool2"] == s["norm2"] == (256, 13, 13)
    assert s["conv3"] == (384, 13, 13) and s["conv4"] == (384, 13, 13) and s["conv5"] == (256, 13, 13)
    assert s["pool5"] == (256, 6, 6)
    assert s["fc6"] == s["fc7"] == (4096,) and s["fc8"] == (1000,)


def test_fig3_filters_and_strides():
    model = meta_model("zfnet")
    assert (model.conv1.kernel_size, model.conv1.stride) == ((7, 7), (2, 2))
    assert (model.conv2.kernel_size, model.conv2.stride) == ((5, 5), (2, 2))
    # Sec. 3: dense connections in layers 3-5, unlike AlexNet's two towers.
    assert all(m.groups == 1 for m in model.modules() if isinstance(m, nn.Conv2d))


def test_pool_then_normalise_as_fig3():
    names = [r.name for r in leaf_trace(meta_model("zfnet"), (3, 224, 224))]
    assert names[:8] == ["conv1", "relu1", "pool1", "norm1", "conv2", "relu2", "pool2", "norm2"]
    assert "norm3" not in names and names.index("pool5") == names.index("relu5") + 1


def test_initialisation_sec_3():
    model = cnnlab.create_model("zfnet")
    for name in ("conv1", "conv3", "fc6", "fc8"):
        layer = getattr(model, name)
        assert torch.all(layer.bias == 0)
        assert abs(layer.weight.std().item() - 0.01) < 0.001


def test_fixed_head_refuses_other_sizes():
    model = meta_model("zfnet")
    with pytest.raises(InputShapeError, match=r"fc6.*224x224"):
        model(torch.empty(2, 3, 256, 256, device="meta"))


def test_card_declares_padding_and_normalisation_choices():
    card = cnnlab.model_card("zfnet")
    assert card.input_size == (3, 224, 224) and card.family == "alexnet"
    assert any("110-55-26-13-13-13-6" in d for d in card.deviations)
    assert any("contrast normalisation" in d for d in card.deviations)
    # Sec. 3: "subtracting the per-pixel mean (across all images)"; the card also divides by std.
    assert card.std == (0.229, 0.224, 0.225) and any("per-pixel mean" in d for d in card.deviations)
