"""VGG (Simonyan & Zisserman 2015): Table 1's columns, Table 2's counts, Sec. 2.3's arithmetic."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnlab
from cnnlab.analysis import count_params
from cnnlab.errors import ConfigError
from cnnlab.models.vgg import VGG, VGG_TABLE1, make_vgg_layers, remap_torchvision_vgg
from tests.helpers import meta_model

# The specification's exact counts at 3x224x224 and 1000 classes, and Table 2's printed ones.
EXACT = {"A": 132_863_336, "A-LRN": 132_863_336, "B": 133_047_848, "C": 133_638_952, "D": 138_357_544, "E": 143_667_240}
TABLE2_MILLIONS = {"A": 133, "A-LRN": 133, "B": 133, "C": 134, "D": 138, "E": 144}
# torchvision's published num_params of vgg*_bn (plain count + 2 x every conv's channels).
EXACT_BN = {"A": 132_868_840, "B": 133_053_736, "D": 138_365_992, "E": 143_678_248}
WEIGHT_LAYERS = {"A": 11, "A-LRN": 11, "B": 13, "C": 16, "D": 16, "E": 19}
NAMES = {"A": "vgg11", "A-LRN": "vgg11_lrn", "B": "vgg13", "C": "vgg16_c", "D": "vgg16", "E": "vgg19"}


def meta_vgg(column, **kwargs):
    with torch.device("meta"):
        return VGG(VGG_TABLE1[column], **kwargs)


@pytest.mark.parametrize("column", EXACT)
def test_column_counts_exact_and_as_table2_prints_them(column):
    n = count_params(meta_vgg(column))
    assert n == EXACT[column]
    assert round(n / 1e6) == TABLE2_MILLIONS[column]
    assert cnnlab.model_card(NAMES[column]).params == EXACT[column]


@pytest.mark.parametrize("column", EXACT_BN)
def test_batch_norm_option_counts_and_equals_the_bn_variant(column):
    plain = NAMES[column]
    with_option = meta_model(plain, batch_norm=True)
    assert count_params(with_option) == EXACT_BN[column]
    bn_model = meta_model(f"{plain}_bn")
    assert count_params(bn_model) == EXACT_BN[column]
    assert list(bn_model.state_dict()) == list(with_option.state_dict())
    convs = [m for m in with_option.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in with_option.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == len(convs)
    assert EXACT_BN[column] - EXACT[column] == 2 * sum(c.out_channels for c in convs)


@pytest.mark.parametrize("column", WEIGHT_LAYERS)
def test_number_of_weight_layers(column):
    """Table 1's header: 11, 11, 13, 16, 16, 19 weight layers."""
    model = meta_vgg(column)
    weight_layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(weight_layers) == WEIGHT_LAYERS[column]


def test_three_3x3_convs_have_27_c2_weights_against_49_c2_for_one_7x7():
    """Sec. 2.3: a stack of three 3x3 conv layers with C channels has 3 (3^2 C^2) = 27 C^2
    weights, a single 7x7 layer 7^2 C^2 = 49 C^2."""
    c = 64

    def weights(tokens):
        layers, out = make_vgg_layers(tokens, c)
        assert out == c
        return sum(m.weight.numel() for _, m in layers if isinstance(m, nn.Conv2d))

    assert weights((f"conv3-{c}",) * 3) == 27 * c * c
    assert weights((f"conv7-{c}",)) == 49 * c * c


def test_stack_of_3x3_convs_keeps_the_resolution_and_1x1_has_no_padding():
    layers, _ = make_vgg_layers(("conv3-8", "conv1-8", "conv3-8"), 3)
    convs = [m for _, m in layers if isinstance(m, nn.Conv2d)]
    assert [(m.kernel_size, m.padding, m.stride) for m in convs] == [
        ((3, 3), (1, 1), (1, 1)),
        ((1, 1), (0, 0), (1, 1)),
        ((3, 3), (1, 1), (1, 1)),
    ]
    x = torch.randn(1, 3, 9, 9)
    for _, m in layers:
        x = m(x)
    assert x.shape == (1, 8, 9, 9)


@pytest.mark.parametrize("column", EXACT)
def test_block_output_shapes_at_224(column):
    """Five maxpool rows: 224 -> 112, 56, 28, 14, 7, with 64, 128, 256, 512, 512 channels."""
    model = meta_vgg(column).eval()
    shapes = {}
    hooks = [
        getattr(model, f"pool{b}").register_forward_hook(lambda m, a, o, b=b: shapes.__setitem__(b, tuple(o.shape[1:])))
        for b in range(1, 6)
    ]
    out = model(torch.empty(1, 3, 224, 224, device="meta"))
    for h in hooks:
        h.remove()
    assert shapes == {1: (64, 112, 112), 2: (128, 56, 56), 3: (256, 28, 28), 4: (512, 14, 14), 5: (512, 7, 7)}
    assert out.shape == (1, 1000)
    assert [(f.module, f.num_chs, f.reduction) for f in model.feature_info] == [
        ("pool1", 64, 2),
        ("pool2", 128, 4),
        ("pool3", 256, 8),
        ("pool4", 512, 16),
        ("pool5", 512, 32),
    ]


def test_vgg16_module_names_follow_caffe():
    model = meta_model("vgg16")
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    assert convs == [
        "conv1_1",
        "conv1_2",
        "conv2_1",
        "conv2_2",
        "conv3_1",
        "conv3_2",
        "conv3_3",
        "conv4_1",
        "conv4_2",
        "conv4_3",
        "conv5_1",
        "conv5_2",
        "conv5_3",
    ]
    assert [n for n, m in model.named_modules() if isinstance(m, nn.Linear)] == ["fc6", "fc7", "fc8"]
    assert model.get_classifier() is model.fc8
    assert (model.fc6.in_features, model.fc6.out_features, model.fc7.out_features) == (25088, 4096, 4096)


def test_column_c_has_1x1_convs_as_third_conv_of_blocks_3_to_5():
    model = meta_model("vgg16_c")
    kernels = {n: m.kernel_size[0] for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    assert {n for n, k in kernels.items() if k == 1} == {"conv3_3", "conv4_3", "conv5_3"}
    assert model.conv3_3.padding == (0, 0)


def test_a_lrn_is_krizhevsky_lrn_after_the_first_relu():
    model = meta_model("vgg11_lrn")
    order = [n for n, _ in model.named_children()]
    assert order[:4] == ["conv1_1", "relu1_1", "lrn1", "pool1"]
    assert sum(isinstance(m, nn.LocalResponseNorm) for m in model.modules()) == 1
    # Krizhevsky et al. (2012) Sec. 3.3: b = a / (k + alpha * sum_{n neighbours} a^2)^beta,
    # k=2, n=5, alpha=1e-4, beta=0.75, the sum clipped at the first and last channel.
    lrn = model.lrn1  # no parameters or buffers: the meta model's module runs on CPU tensors
    a = torch.rand(1, 64, 3, 3) * 10
    expected = torch.empty_like(a)
    for i in range(64):
        window = a[:, max(0, i - 2) : min(63, i + 2) + 1]
        expected[:, i] = a[:, i] / (2 + 1e-4 * (window**2).sum(1)) ** 0.75
    torch.testing.assert_close(lrn(a), expected)


def test_dropout_after_fc6_and_fc7_only_and_option():
    model = meta_model("vgg16")
    drops = {n: m.p for n, m in model.named_modules() if isinstance(m, nn.Dropout)}
    assert drops == {"drop6": 0.5, "drop7": 0.5}
    assert {m.p for m in meta_model("vgg16", drop_prob=0.2).modules() if isinstance(m, nn.Dropout)} == {0.2}
    with pytest.raises(ConfigError, match="drop_prob"):
        meta_model("vgg16", drop_prob=1.5)


def test_bad_table_tokens_and_options_are_refused_clearly():
    with pytest.raises(ConfigError, match="'conv3x3-64'"):
        VGG(("conv3x3-64", "maxpool", "FC-10", "FC-10", "FC-10", "soft-max"))
    with pytest.raises(ConfigError, match="'avgpool'"):
        VGG(("conv3-8", "avgpool", "FC-10", "FC-10", "FC-10", "soft-max"))
    with pytest.raises(ConfigError, match="batch_norm"):
        meta_model("vgg11", batch_norm="yes")


def test_adaptive_pool_is_identity_at_224_and_small_inputs_run():
    model = meta_model("vgg11", num_classes=10).eval()
    x = torch.randn(2, 512, 7, 7)
    assert torch.equal(model.avgpool(x), x)  # no parameters: runs on CPU tensors
    f = model.forward_features(torch.empty(2, 3, 32, 32, device="meta"))
    assert f.shape == (2, 512, 1, 1)
    assert model.forward_head(f, pre_logits=True).shape == (2, 4096)
    assert model(torch.empty(2, 3, 32, 32, device="meta")).shape == (2, 10)


def test_reset_classifier_replaces_fc8_in_place():
    model = meta_model("vgg13")
    model.reset_classifier(37)
    assert model.fc8.out_features == 37 and model.num_classes == 37
    assert list(model.state_dict())[-2:] == ["fc8.weight", "fc8.bias"]


def test_reset_classifier_keeps_device_and_dtype():
    model = meta_model("vgg11", num_classes=10).to(torch.float64)
    model.reset_classifier(5)
    assert model.fc8.weight.is_meta and model.fc8.weight.dtype == torch.float64
    assert model(torch.empty(2, 3, 32, 32, device="meta", dtype=torch.float64)).shape == (2, 5)


@pytest.mark.parametrize("name", ["vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"])
def test_bn_builders_have_no_batch_norm_option(name):
    """A _bn name always has BatchNorm, as its card and torchvision entry say."""
    assert set(cnnlab.registry.model_options(name)) == {"drop_prob"}
    with pytest.raises(ConfigError, match="batch_norm"):
        meta_model(name, batch_norm=False)


def test_card_declares_the_preprocessing():
    card = cnnlab.model_card("vgg16")
    assert (card.mean, card.std) == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert any("only subtracts the mean RGB value" in d for d in card.deviations)


def test_remap_maps_torchvision_keys():
    import torchvision.models as tvm

    with torch.device("meta"):
        reference = tvm.vgg11_bn()
    model = meta_model("vgg11_bn")
    state = {k: v for k, v in reference.state_dict().items() if not k.endswith("num_batches_tracked")}
    out = remap_torchvision_vgg(state, model)
    own = model.state_dict()
    # Old checkpoints lack the BatchNorm counters; cnnlab.weights.load_state fills them.
    assert set(out) == {k for k in own if not k.endswith("num_batches_tracked")}
    assert all(tuple(out[k].shape) == tuple(own[k].shape) for k in out)
    assert out["conv1_1.weight"] is state["features.0.weight"]
    assert out["bn1_1.running_var"] is state["features.1.running_var"]
    assert out["conv2_1.bias"] is state["features.4.bias"]  # after relu1_1 (2) and pool1 (3)
    assert out["fc7.weight"] is state["classifier.3.weight"]
    assert out["fc8.bias"] is state["classifier.6.bias"]
