"""Wide residual networks (Zagoruyko & Komodakis 2016): Table 1's WRN-d-k, exact counts, the
6N + 4 rule, pre-activation blocks with dropout between the convolutions, stochastic depth."""

from __future__ import annotations

from functools import cache, partial

import pytest
import torch
from torch import nn

import cnnlab
from cnnlab.analysis import count_macs, count_params
from cnnlab.errors import ConfigError
from cnnlab.models.wide_resnet import WideBasic, WideResNet, wide_resnet, wrn_blocks
from tests.helpers import check_whole_branches_dropped, meta_model

NAMES = ["wrn28_10", "wrn16_8", "wrn40_4", "wide_resnet"]
WRN_DEPTH_K = {"wrn28_10": (28, 10), "wrn16_8": (16, 8), "wrn40_4": (40, 4), "wide_resnet": (28, 10)}


@cache
def default_meta(name):
    return meta_model(name)


def formula(depth, k, classes=10):
    """Parameters of WRN-d-k from Table 1, written independently of the builder."""
    n = (depth - 4) // 6
    total, c = 3 * 9 * 16, 16
    for w in (16 * k, 32 * k, 64 * k):
        total += 2 * c + 9 * c * w + 2 * w + 9 * w * w + (c * w if c != w else 0)
        total += (n - 1) * 2 * (2 * w + 9 * w * w)
        c = w
    return total + 2 * c + c * classes + classes


@pytest.mark.parametrize(
    "name, params, macs",
    [
        ("wrn28_10", 36_479_194, 5_243_328_768),
        ("wrn16_8", 10_961_370, 1_548_145_664),
        ("wrn40_4", 8_949_210, 1_298_582_016),
        ("wide_resnet", 36_479_194, 5_243_328_768),  # defaults depth=28, k=10
    ],
)
def test_exact_counts(name, params, macs):
    card = cnnlab.model_card(name)
    model = default_meta(name)
    assert count_params(model) == params == card.params
    assert count_macs(model, card.input_size) == macs == card.macs == macs_formula(*WRN_DEPTH_K[name])


def macs_formula(depth, k, classes=10):
    """Conv + fc multiply-adds of WRN-d-k at 32x32 from Table 1, independent of the builder:
    conv1 3x3, 16 on 32x32; groups of N blocks [3x3, w; 3x3, w] with w = 16k, 32k, 64k on
    32, 16, 8 (the first block's first conv strides); the first block of a group also has a
    1x1 projection from the input width where the width or the size changes; fc 64k x classes."""
    n = (depth - 4) // 6
    total, c, grid = 32 * 32 * 9 * 3 * 16, 16, 32
    for w, stride in ((16 * k, 1), (32 * k, 2), (64 * k, 2)):
        out = grid // stride
        total += out**2 * 9 * c * w + out**2 * 9 * w * w + (out**2 * c * w if (c != w or stride != 1) else 0)
        total += (n - 1) * 2 * out**2 * 9 * w * w
        c, grid = w, out
    return total + c * classes


@pytest.mark.parametrize("depth, k", [(10, 1), (16, 4), (22, 8), (40, 2)])
def test_general_builder_macs_match_the_formula(depth, k):
    with torch.device("meta"):
        model = cnnlab.create_model("wide_resnet", depth=depth, k=k)
    assert count_macs(model, (3, 32, 32)) == macs_formula(depth, k)


@pytest.mark.parametrize("depth, k", [(10, 1), (16, 4), (22, 8), (28, 10), (40, 2), (52, 1), (16, 10), (28, 12)])
def test_general_builder_matches_the_formula(depth, k):
    with torch.device("meta"):
        model = cnnlab.create_model("wide_resnet", depth=depth, k=k)
        assert count_params(model) == formula(depth, k)
        assert count_params(wide_resnet(depth, k, num_classes=100)) == formula(depth, k, 100)


def test_registered_names_are_table_1_networks():
    for name, depth, k in (("wrn28_10", 28, 10), ("wrn16_8", 16, 8), ("wrn40_4", 40, 4)):
        model = default_meta(name)
        assert (model.depth, model.k) == (depth, k)
        assert cnnlab.model_card(name).params == formula(depth, k)


@pytest.mark.parametrize("depth, n", [(10, 1), (16, 2), (28, 4), (40, 6)])
def test_6n_plus_4_rule(depth, n):
    assert wrn_blocks(depth) == n
    for k in (1, 2, 10):
        model = default_meta("wrn28_10") if (depth, k) == (28, 10) else meta_model("wide_resnet", depth=depth, k=k)
        assert [len(model.get_submodule(g)) for g in ("conv2", "conv3", "conv4")] == [n] * 3
        # d counts the convolutional layers: conv1, 2N per group and the three 1x1 projections
        # (conv2 has none when k = 1).
        convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
        assert convs == (depth - 1 if k == 1 else depth)


@pytest.mark.parametrize(
    "depth, expected",
    [(27, "nearest valid depths: 22 and 28"), (29, "28 and 34"), (8, "nearest valid depths: 10"), (0, "10")],
)
def test_invalid_depths_name_the_value_and_nearest_valid_ones(depth, expected):
    with pytest.raises(ConfigError, match=f"depth {depth} is not 6N \\+ 4") as err:
        wide_resnet(depth=depth)
    assert expected in str(err.value)
    with pytest.raises(ConfigError, match=expected):
        cnnlab.create_model("wide_resnet", depth=depth)


@pytest.mark.parametrize("depth", [28.0, True])
def test_non_integer_depths_are_refused(depth):
    with pytest.raises(ConfigError, match="depth"):
        cnnlab.create_model("wide_resnet", depth=depth)
    with pytest.raises(ConfigError, match="6N \\+ 4"):
        WideResNet(depth=depth)


@pytest.mark.parametrize("k", [0, -2, 2.5, True])
def test_bad_widening_factors_are_refused(k):
    with pytest.raises(ConfigError, match=repr(k)):
        wide_resnet(depth=16, k=k)


def test_table1_output_sizes():
    model = meta_model("wrn28_10").eval()
    expected = {"conv1": (16, 32, 32), "conv2": (160, 32, 32), "conv3": (320, 16, 16), "conv4": (640, 8, 8)}
    seen = {}

    def record(module, args, out, key):
        seen[key] = tuple(out.shape[1:])

    hooks = [model.get_submodule(n).register_forward_hook(partial(record, key=n)) for n in expected]
    model(torch.empty(1, 3, 32, 32, device="meta"))
    for h in hooks:
        h.remove()
    assert seen == expected
    assert model.forward_head(torch.empty(1, 640, 8, 8, device="meta"), pre_logits=True).shape == (1, 640)


@pytest.mark.parametrize("k, conv2_projection", [(1, False), (2, True)])
def test_projections_only_where_width_or_stride_changes(k, conv2_projection):
    model = meta_model("wide_resnet", depth=16, k=k)
    assert model.conv2[0].projection is conv2_projection
    for group in ("conv2", "conv3", "conv4"):
        blocks = list(model.get_submodule(group))
        if group != "conv2" or conv2_projection:
            assert isinstance(blocks[0].shortcut, nn.Conv2d) and blocks[0].shortcut.kernel_size == (1, 1)
        assert all(isinstance(b.shortcut, nn.Identity) for b in blocks[1:])
    assert model.conv3[0].conv1.stride == (2, 2) and model.conv3[0].conv2.stride == (1, 1)
    assert all(m.bias is None for m in model.modules() if isinstance(m, nn.Conv2d))


def test_block_order_bn_relu_conv_with_dropout_between_the_convs():
    model = wide_resnet(depth=16, k=1).eval()
    calls = []
    names = {m: n for n, m in model.named_modules()}
    leaves = [m for m in model.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(lambda mod, a, o: calls.append((names[mod], type(mod).__name__))) for m in leaves]
    with torch.no_grad():
        features = model.forward_features(torch.randn(2, 3, 16, 16))
    for h in hooks:
        h.remove()
    for name, block in model.named_modules():
        if isinstance(block, WideBasic):
            kinds = [t for n, t in calls if n.startswith(name + ".")]
            assert kinds[:7] == ["BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU", "Dropout", "Conv2d"], name
    # forward_features ends with the BN-ReLU after the last block.
    assert [n for n, _ in calls[-2:]] == ["bn_final", "relu_final"] and (features >= 0).all()


def test_identity_path_is_untouched():
    model = wide_resnet(depth=16, k=1).eval()
    block = model.conv2[1]  # an identity block
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        branch = block.conv2(block.relu2(block.bn2(block.conv1(block.relu1(block.bn1(x))))))
        assert torch.equal(block(x), x + branch)


def test_dropout_option():
    model = meta_model("wrn28_10", drop_prob=0.3)  # the paper's best CIFAR setting
    rates = {m.p for m in model.modules() if isinstance(m, nn.Dropout)}
    assert rates == {0.3} and sum(isinstance(m, nn.Dropout) for m in model.modules()) == 12
    assert count_params(model) == 36_479_194
    assert {m.p for m in default_meta("wrn28_10").modules() if isinstance(m, nn.Dropout)} == {0.0}
    with pytest.raises(ConfigError, match="1.0"):
        cnnlab.create_model("wrn28_10", drop_prob=1.0)


@pytest.mark.parametrize("option", ["drop_prob", "drop_path_rate"])
def test_regularisers_are_the_identity_in_eval(option):
    torch.manual_seed(0)
    plain = wide_resnet(depth=10, k=2)
    noisy = wide_resnet(depth=10, k=2, **{option: 0.5})
    noisy.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 16, 16)
    plain.eval(), noisy.eval()
    with torch.no_grad():
        assert torch.equal(plain(x), noisy(x))
    if option == "drop_prob":  # dropout is active in training (DropPath: the test below)
        plain.train(), noisy.train()
        torch.manual_seed(1)
        with torch.no_grad():
            assert not torch.allclose(plain(x), noisy(x))


def test_whole_residual_branches_drop_in_training():
    """Every DropPath sits on a block's branch (it receives conv2's output) and, per sample,
    either zeroes the whole branch or passes it scaled by 1 / keep; both happen; and the drop
    probabilities are Huang et al.'s linear rule l / L x 0.5 over the L = 3N = 6 blocks of
    WRN-16-1."""
    torch.manual_seed(0)
    model = wide_resnet(depth=16, k=1, drop_path_rate=0.5).train()
    blocks = [(n, b) for n, b in model.named_modules() if isinstance(b, WideBasic)]
    assert [b.drop_path.drop_prob for _, b in blocks] == pytest.approx([0.5 / 6, 1 / 6, 0.25, 1 / 3, 0.5 * 5 / 6, 0.5])
    check_whole_branches_dropped(model, blocks, "conv2", torch.randn(4, 3, 16, 16))


def test_drop_path_rates_decay_linearly():
    model = meta_model("wrn28_10", drop_path_rate=0.2)
    probs = [b.drop_path.drop_prob for b in model.modules() if isinstance(b, WideBasic)]
    assert probs == pytest.approx([0.2 * (i + 1) / 12 for i in range(12)])
    with pytest.raises(ConfigError, match="1.5"):
        cnnlab.create_model("wide_resnet", drop_path_rate=1.5)


def test_init_and_classifier_reset():
    model = wide_resnet(depth=10, k=1)
    conv = model.conv3[0].conv2  # 3x3, 32 -> 32: std sqrt(2 / (9 * 32))
    assert conv.weight.std().item() == pytest.approx((2 / (9 * 32)) ** 0.5, rel=0.1)
    assert torch.equal(model.fc.bias, torch.zeros(10))
    # Torch's BatchNormalization reset, which the authors' code keeps: scale U(0, 1), shift 0.
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    scales = torch.cat([m.weight.detach() for m in bns])
    assert 0 <= scales.min() and scales.max() < 1 and scales.std() > 0.2
    assert all(torch.equal(m.bias.detach(), torch.zeros_like(m.bias)) for m in bns)
    model.reset_classifier(100)
    assert model.fc.out_features == 100 and torch.equal(model.fc.bias, torch.zeros(100))
