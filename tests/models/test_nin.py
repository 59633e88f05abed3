"""Network in Network (Lin, Chen & Yan 2014) as the authors' Caffe definitions build it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnnlab
from cnnlab.analysis import count_params, leaf_trace
from cnnlab.errors import ConfigError
from tests.helpers import meta_model

# (out channels, kernel, stride, padding) of every convolution, from the specification.
CIFAR10_CONVS = {
    "conv1": (192, 5, 1, 2),
    "cccp1": (160, 1, 1, 0),
    "cccp2": (96, 1, 1, 0),
    "conv2": (192, 5, 1, 2),
    "cccp3": (192, 1, 1, 0),
    "cccp4": (192, 1, 1, 0),
    "conv3": (192, 3, 1, 1),
    "cccp5": (192, 1, 1, 0),
    "cccp6": (10, 1, 1, 0),
}
IMAGENET_CONVS = {
    "conv1": (96, 11, 4, 0),
    "cccp1": (96, 1, 1, 0),
    "cccp2": (96, 1, 1, 0),
    "conv2": (256, 5, 1, 2),
    "cccp3": (256, 1, 1, 0),
    "cccp4": (256, 1, 1, 0),
    "conv3": (384, 3, 1, 1),
    "cccp5": (384, 1, 1, 0),
    "cccp6": (384, 1, 1, 0),
    "conv4": (1024, 3, 1, 1),
    "cccp7": (1024, 1, 1, 0),
    "cccp8": (1000, 1, 1, 0),
}
SPEC = {"nin_cifar10": (CIFAR10_CONVS, 966_986), "nin_imagenet": (IMAGENET_CONVS, 7_595_176)}


@pytest.mark.parametrize("name", SPEC)
def test_convolutions_as_specified_each_followed_by_relu(name):
    convs, params = SPEC[name]
    model = meta_model(name)
    assert count_params(model) == params
    found = {
        n: (m.out_channels, m.kernel_size[0], m.stride[0], m.padding[0])
        for n, m in model.named_modules()
        if isinstance(m, nn.Conv2d)
    }
    assert found == convs
    children = [n for n, _ in model.named_children()]
    for conv in convs:
        assert children[children.index(conv) + 1] == f"relu_{conv}"


def _shapes(name):
    card = cnnlab.model_card(name)
    return {r.name: r.output_shape for r in leaf_trace(meta_model(name), card.input_size)}


def test_cifar10_rows_shapes_and_pooling():
    s = _shapes("nin_cifar10")
    assert s["relu_cccp2"] == (96, 32, 32)
    assert s["pool1"] == (96, 16, 16)  # 3x3/2 rounded up, as Caffe: 32 -> 16
    assert s["relu_cccp4"] == (192, 16, 16)
    assert s["pool2"] == (192, 8, 8)  # the definition's final 8x8 average pool covers this
    assert s["relu_cccp6"] == (10, 8, 8)
    assert s["gap"] == (10, 1, 1)
    model = meta_model("nin_cifar10")
    assert isinstance(model.pool1, nn.MaxPool2d) and isinstance(model.pool2, nn.AvgPool2d)
    assert model.pool1.ceil_mode and model.pool2.ceil_mode
    drops = {n: m.p for n, m in model.named_modules() if isinstance(m, nn.Dropout)}
    assert drops == {"drop1": 0.5, "drop2": 0.5}  # after all but the last mlpconv (Sec. 4.1)
    order = [n for n, _ in model.named_children()]
    assert order.index("pool1") < order.index("drop1") < order.index("conv2")


def test_imagenet_rows_shapes_and_pooling():
    s = _shapes("nin_imagenet")
    assert s["relu_cccp2"] == (96, 54, 54)
    assert s["pool1"] == (96, 27, 27)
    assert s["pool2"] == (256, 13, 13)
    assert s["pool3"] == (384, 6, 6)  # the definition's final 6x6 average pool covers this
    assert s["relu_cccp8"] == (1000, 6, 6)
    model = meta_model("nin_imagenet")
    pools = [m for m in model.modules() if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d))]
    assert len(pools) == 3 and all(isinstance(p, nn.MaxPool2d) and p.ceil_mode for p in pools)
    assert {n for n, m in model.named_modules() if isinstance(m, nn.Dropout)} == {"drop3"}


@pytest.mark.parametrize("name", SPEC)
def test_features_stop_before_the_class_producing_conv(name):
    model = meta_model(name)
    card = cnnlab.model_card(name)
    f = model.forward_features(torch.empty(2, *card.input_size, device="meta"))
    cls = model.get_classifier()
    assert isinstance(cls, nn.Conv2d) and cls.kernel_size == (1, 1)
    assert cls.out_channels == card.num_classes and f.shape[1] == cls.in_channels
    assert model.forward_head(f, pre_logits=True).shape == (2, cls.in_channels)


def test_head_is_relu_then_global_average_of_class_maps_and_pre_logits_is_gap():
    model = cnnlab.create_model("nin_cifar10").eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        f = model.forward_features(x)
        maps = F.relu(model.cccp6(f))
        torch.testing.assert_close(model(x), maps.mean((2, 3)))
        # the definition's fixed 8x8 average pool gives the same at 32x32
        torch.testing.assert_close(model(x), F.avg_pool2d(maps, 8).flatten(1))
        torch.testing.assert_close(model.forward_head(f, pre_logits=True), f.mean((2, 3)))
        assert (model(x) >= 0).all()  # rectified class maps, as in the definition
        assert model(torch.randn(1, 3, 48, 48)).shape == (1, 10)  # global pooling: any size


@pytest.mark.parametrize("name", SPEC)
def test_reset_classifier_is_a_new_1x1_conv(name):
    model = meta_model(name)
    in_chs = model.get_classifier().in_channels
    model.reset_classifier(37)
    cls = model.get_classifier()
    assert isinstance(cls, nn.Conv2d) and (cls.in_channels, cls.out_channels, cls.kernel_size) == (in_chs, 37, (1, 1))
    assert model.num_classes == 37
    keys = list(model.state_dict())
    assert keys[-2:] == [f"{model.classifier_name}.weight", f"{model.classifier_name}.bias"]


@pytest.mark.parametrize("name", SPEC)
def test_reset_classifier_keeps_device_and_dtype(name):
    model = meta_model(name).to(torch.float64)
    model.reset_classifier(5)
    weight = model.get_classifier().weight
    assert weight.is_meta and weight.dtype == torch.float64


@pytest.mark.parametrize("name", SPEC)
def test_cards_declare_their_preprocessing(name):
    card = cnnlab.model_card(name)
    assert any("normalised" in d and "mean" in d for d in card.deviations)


def test_dropout_option_and_bad_value():
    assert {m.p for m in meta_model("nin_imagenet", drop_prob=0.3).modules() if isinstance(m, nn.Dropout)} == {0.3}
    with pytest.raises(ConfigError, match="drop_prob"):
        meta_model("nin_cifar10", drop_prob=-0.1)


def test_cifar10_card_normalisation_is_cifar10s():
    card = cnnlab.model_card("nin_cifar10")
    assert card.mean == pytest.approx((0.4914, 0.4822, 0.4465), abs=1e-4)
    assert card.input_size == (3, 32, 32) and card.num_classes == 10
