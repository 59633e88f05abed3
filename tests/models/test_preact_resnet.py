"""Pre-activation ResNet (He et al. 2016): exact counts, the 9n + 2 rule, the full
pre-activation order, the untouched identity path, and stochastic depth."""

from __future__ import annotations

from functools import cache, partial

import pytest
import torch
from torch import nn

import cnnlab
from cnnlab.analysis import count_macs, count_params
from cnnlab.errors import ConfigError
from cnnlab.layers import DropPath
from cnnlab.models.preact_resnet import PreActBottleneck, cifar_depth_units, preact_resnet_cifar
from tests.helpers import check_whole_branches_dropped, meta_model

NAMES = ["preact_resnet164", "preact_resnet1001", "preact_resnet200"]


@cache
def default_meta(name):
    """One meta-device build per name for the read-only tests (ResNet-1001 takes seconds)."""
    return meta_model(name)


@pytest.mark.parametrize(
    "name, params, macs",
    [
        ("preact_resnet164", 1_703_258, 244_500_992),
        ("preact_resnet1001", 10_327_706, 1_487_849_984),
        ("preact_resnet200", 64_666_280, 14_776_270_848),
    ],
)
def test_exact_counts(name, params, macs):
    card = cnnlab.model_card(name)
    assert count_params(default_meta(name)) == params == card.params
    # test_paper_facts.py holds the model to card.macs (count_macs of ResNet-1001 takes seconds).
    assert card.macs == macs


def preact_macs(units, stride_at="1x1", imagenet=False, classes=None):
    """Conv + fc multiply-adds by hand, independent of the model code. CIFAR (resnet-pre-act.lua):
    conv1 3x3, 16 on 32x32, stages of bottlenecks [1x1, b; 3x3, b; 1x1, o] with (b, o) = (16,
    64), (32, 128), (64, 256) on 32, 16, 8. ImageNet (He et al. 2015 Table 1): conv1 7x7/2, 64
    on 112x112, max pool to 56, (b, o) = (64, 256) ... (512, 2048) on 56, 28, 14, 7. Per unit
    on an out x out grid: in x b for the first 1x1 (on the input grid when the stride sits on
    the 3x3), 9 b^2, b x o, plus in x o for the first unit's projection (no stride-1 identity
    needs one); fc o x classes."""
    if imagenet:
        total, chs, grid = 112 * 112 * (7 * 7 * 3) * 64, 64, 56
        rows, classes = ((64, 256, 1), (128, 512, 2), (256, 1024, 2), (512, 2048, 2)), classes or 1000
    else:
        total, chs, grid = 32 * 32 * (3 * 3 * 3) * 16, 16, 32
        rows, classes = ((16, 64, 1), (32, 128, 2), (64, 256, 2)), classes or 10
    for n, (b, o, stride) in zip(units, rows):
        out = grid // stride
        for i in range(n):
            reduce_grid = grid if (i == 0 and stride_at == "3x3") else out
            total += reduce_grid**2 * chs * b + out**2 * 9 * b * b + out**2 * b * o
            if i == 0:
                total += out**2 * chs * o
            chs = o
        grid = out
    return total + chs * classes


@pytest.mark.parametrize(
    "name, units, imagenet",
    [
        ("preact_resnet164", (18, 18, 18), False),
        ("preact_resnet1001", (111, 111, 111), False),
        ("preact_resnet200", (3, 24, 36, 3), True),
    ],
)
def test_macs_by_hand(name, units, imagenet):
    """The hand formula over the table gives the card's figure and the model's count."""
    card = cnnlab.model_card(name)
    expected = preact_macs(units, imagenet=imagenet)
    assert count_macs(default_meta(name), card.input_size) == expected == card.macs
    if name != "preact_resnet1001":  # the same formula; its count_macs takes seconds
        assert count_macs(meta_model(name, stride_at="3x3"), card.input_size) == preact_macs(units, "3x3", imagenet)


def test_printed_10_2m_is_the_count_without_batchnorm():
    model = default_meta("preact_resnet1001")
    bn = sum(p.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters())
    assert count_params(model) - bn == 10_178_490  # the paper prints 10.2M


@pytest.mark.parametrize(
    "name, depth, units",
    [
        ("preact_resnet164", 164, {"conv2_x": 18, "conv3_x": 18, "conv4_x": 18}),
        ("preact_resnet1001", 1001, {"conv2_x": 111, "conv3_x": 111, "conv4_x": 111}),
        ("preact_resnet200", 200, {"conv2_x": 3, "conv3_x": 24, "conv4_x": 36, "conv5_x": 3}),
    ],
)
def test_depth_counts_weight_layers(name, depth, units):
    model = default_meta(name)
    assert {n: len(model.get_submodule(n)) for n in units} == units
    # Weight layers on the main path: conv1, three per unit, fc (projections not counted).
    layers = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and "shortcut" not in n]
    assert len(layers) == depth


@pytest.mark.parametrize("depth, n", [(11, 1), (20, 2), (164, 18), (1001, 111)])
def test_9n_plus_2_rule(depth, n):
    assert cifar_depth_units(depth) == n


@pytest.mark.parametrize(
    "depth, expected",
    [(100, "nearest valid depths: 92 and 101"), (10, "nearest valid depths: 11"), (165, "164 and 173"), (0, "11")],
)
def test_invalid_depths_name_the_value_and_nearest_valid_ones(depth, expected):
    with pytest.raises(ConfigError, match=f"depth {depth} is not 9n \\+ 2") as err:
        preact_resnet_cifar(depth)
    assert expected in str(err.value)


@pytest.mark.parametrize("depth", [164.0, True, "164"])
def test_non_integer_depths_are_refused(depth):
    with pytest.raises(ConfigError, match="9n \\+ 2"):
        cifar_depth_units(depth)


def test_general_cifar_builder_matches_the_formula():
    def formula(n):  # conv1, per stage (c in, b width, o out) first unit + (n - 1) others, bn_final, fc
        first = lambda c, b, o: 2 * c + c * b + 2 * b + 9 * b * b + 2 * b + b * o + c * o  # noqa: E731
        other = lambda b, o: 2 * o + o * b + 2 * b + 9 * b * b + 2 * b + b * o  # noqa: E731
        stages = ((16, 16, 64), (64, 32, 128), (128, 64, 256))
        return 432 + sum(first(c, b, o) + (n - 1) * other(b, o) for c, b, o in stages) + 512 + 2570

    for depth in (11, 29, 56, 164):
        with torch.device("meta"):
            assert count_params(preact_resnet_cifar(depth)) == formula(cifar_depth_units(depth))


def _units(model):
    return [m for m in model.modules() if isinstance(m, PreActBottleneck)]


@pytest.mark.parametrize("name", NAMES)
def test_projection_only_where_dimensions_change(name):
    model = default_meta(name)
    for stage in model.stage_names:
        units = list(model.get_submodule(stage))
        assert units[0].projection and isinstance(units[0].shortcut, nn.Conv2d)
        assert units[0].shortcut.kernel_size == (1, 1) and units[0].shortcut.bias is None
        assert all(not u.projection and isinstance(u.shortcut, nn.Identity) for u in units[1:])
    # No BN on any shortcut, no conv biases anywhere (the authors' code).
    assert all(m.bias is None for m in model.modules() if isinstance(m, nn.Conv2d))


def _leaf_calls(model, x):
    """(unit, leaf name, module) for every leaf call, in order."""
    calls = []
    names = {m: n for n, m in model.named_modules()}
    hooks = [
        m.register_forward_hook(lambda mod, a, o: calls.append((names[mod], mod)))
        for m in model.modules()
        if not list(m.children())
    ]
    model(x)
    for h in hooks:
        h.remove()
    return calls


def test_full_preactivation_order_in_every_unit():
    model = preact_resnet_cifar(20).eval()  # n = 2: six units, three with projections
    calls = _leaf_calls(model, torch.randn(2, 3, 16, 16))
    for name, unit in model.named_modules():
        if not isinstance(unit, PreActBottleneck):
            continue
        kinds = [type(m).__name__ for n, m in calls if n.startswith(name + ".")]
        # The branch: (BN, ReLU, conv) three times, BatchNorm first; then the shortcut's op.
        assert kinds[:9] == ["BatchNorm2d", "ReLU", "Conv2d"] * 3, name
        assert kinds[10:] == ["DropPath"]
    # After the last unit: the extra activation, then pooling and the classifier.
    assert [n for n, _ in calls[-4:]] == ["bn_final", "relu_final", "avgpool", "fc"]


def test_identity_path_is_untouched_and_projection_sees_the_preactivation():
    model = preact_resnet_cifar(20).eval()
    seen = {}

    def keep(key):
        def hook(mod, args, out):
            seen[key] = (args[0], out)

        return hook

    hooks = []
    for name, unit in model.named_modules():
        if isinstance(unit, PreActBottleneck):
            for part in ("relu1", "conv3", "shortcut"):
                hooks.append(getattr(unit, part).register_forward_hook(keep((name, part))))
            hooks.append(unit.register_forward_hook(keep((name, "unit"))))
    with torch.no_grad():
        model(torch.randn(2, 3, 16, 16))
    for h in hooks:
        h.remove()
    checked = {"identity": 0, "projection": 0}
    for name, unit in model.named_modules():
        if not isinstance(unit, PreActBottleneck):
            continue
        x, y = seen[(name, "unit")]
        branch = seen[(name, "conv3")][1]
        shortcut_in, shortcut_out = seen[(name, "shortcut")]
        if unit.projection:
            # Sec. 4 / the code's "common BN, ReLU": one pre-activation feeds both paths.
            assert shortcut_in is seen[(name, "relu1")][1]
            checked["projection"] += 1
        else:
            # x + F(x): nothing between the unit's input and the addition.
            assert shortcut_in is x and shortcut_out is x
            assert torch.equal(y, x + branch)
            checked["identity"] += 1
    assert checked == {"identity": 3, "projection": 3}


def test_forward_features_ends_with_bn_relu():
    model = preact_resnet_cifar(11).eval()
    calls = []
    names = {m: n for n, m in model.named_modules()}
    leaves = [m for m in model.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(lambda mod, a, o: calls.append(names[mod])) for m in leaves]
    with torch.no_grad():
        features = model.forward_features(torch.randn(2, 3, 32, 32))
    for h in hooks:
        h.remove()
    assert calls[-2:] == ["bn_final", "relu_final"]
    assert isinstance(model.bn_final, nn.BatchNorm2d) and isinstance(model.relu_final, nn.ReLU)
    assert features.shape == (2, 256, 8, 8) and (features >= 0).all()


def test_stage_outputs():
    for name, shapes in (
        (
            "preact_resnet164",
            {"conv1": (16, 32, 32), "conv2_x": (64, 32, 32), "conv3_x": (128, 16, 16), "conv4_x": (256, 8, 8)},
        ),
        (
            "preact_resnet200",
            {
                "maxpool": (64, 56, 56),
                "conv2_x": (256, 56, 56),
                "conv3_x": (512, 28, 28),
                "conv4_x": (1024, 14, 14),
                "conv5_x": (2048, 7, 7),
            },
        ),
    ):
        model = meta_model(name).eval()
        seen = {}

        def record(module, args, out, key, seen=seen):
            seen[key] = tuple(out.shape[1:])

        hooks = [model.get_submodule(n).register_forward_hook(partial(record, key=n)) for n in shapes]
        model(torch.empty(1, *model.card.input_size, device="meta"))
        for h in hooks:
            h.remove()
        assert seen == shapes, name


def test_stride_at_moves_the_stride_not_the_count():
    with torch.device("meta"):
        a, b = preact_resnet_cifar(164), preact_resnet_cifar(164, stride_at="3x3")
    first = a.conv3_x[0], b.conv3_x[0]
    assert (first[0].conv1.stride, first[0].conv2.stride) == ((2, 2), (1, 1))
    assert (first[1].conv1.stride, first[1].conv2.stride) == ((1, 1), (2, 2))
    assert count_params(a) == count_params(b) == 1_703_258
    # The first 1x1s of conv3_x and conv4_x run at the stage's input size: 4x their positions.
    extra = (1024 - 256) * 64 * 32 + (256 - 64) * 128 * 64
    assert count_macs(b, (3, 32, 32)) == count_macs(a, (3, 32, 32)) + extra
    with pytest.raises(ConfigError, match="'2x2'"):
        cnnlab.create_model("preact_resnet164", stride_at="2x2")


def test_drop_path_is_the_identity_in_eval():
    torch.manual_seed(0)
    plain = preact_resnet_cifar(20)
    stochastic = preact_resnet_cifar(20, drop_path_rate=0.5)
    stochastic.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 16, 16)
    plain.eval(), stochastic.eval()
    with torch.no_grad():
        assert torch.equal(plain(x), stochastic(x))


def test_whole_residual_branches_drop_in_training():
    """Every DropPath sits on a unit's branch F(x) (it receives conv3's output) and, per sample,
    either zeroes the whole branch or passes it scaled by 1 / keep; both happen; and the drop
    probabilities are Huang et al.'s linear rule l / L x 0.5 over the L = 6 units."""
    torch.manual_seed(0)
    model = preact_resnet_cifar(20, drop_path_rate=0.5).train()
    units = [(n, u) for n, u in model.named_modules() if isinstance(u, PreActBottleneck)]
    assert [u.drop_path.drop_prob for _, u in units] == pytest.approx([0.5 / 6, 1 / 6, 0.25, 1 / 3, 0.5 * 5 / 6, 0.5])
    check_whole_branches_dropped(model, units, "conv3", torch.randn(4, 3, 16, 16))


@pytest.mark.parametrize("name, units", [("preact_resnet164", 54), ("preact_resnet200", 66)])
def test_drop_path_rates_decay_linearly(name, units):
    model = meta_model(name, drop_path_rate=0.5)
    probs = [u.drop_path.drop_prob for u in _units(model)]
    assert len(probs) == units
    assert probs == pytest.approx([0.5 * (i + 1) / units for i in range(units)])
    assert all(isinstance(u.drop_path, DropPath) for u in _units(model))
    assert all(u.drop_path.drop_prob == 0 for u in _units(default_meta(name)))


def test_drop_path_rate_is_validated():
    with pytest.raises(ConfigError, match="1.0"):
        cnnlab.create_model("preact_resnet164", drop_path_rate=1.0)


def test_init_follows_the_authors_code():
    model = preact_resnet_cifar(11)
    conv = model.conv2_x[0].conv2  # 3x3, 16 -> 16: std sqrt(2 / (9 * 16))
    assert conv.weight.std().item() == pytest.approx((2 / (9 * 16)) ** 0.5, rel=0.15)
    assert torch.equal(model.fc.bias, torch.zeros(10))
    model.reset_classifier(5)
    assert torch.equal(model.fc.bias, torch.zeros(5))


def test_resnet200_stem_and_first_unit():
    model = default_meta("preact_resnet200")
    # He et al. 2015's stem: conv1 7x7/2 - BN - ReLU - max pool 3x3/2, no conv bias.
    assert model.conv1.kernel_size == (7, 7) and model.conv1.stride == (2, 2)
    assert isinstance(model.bn1, nn.BatchNorm2d) and isinstance(model.maxpool, nn.MaxPool2d)
    # The declared reading: conv2_x.0 still pre-activates (its 128 BN parameters are in the
    # count); without them the count would be 64,666,152.
    assert model.conv2_x[0].bn1.num_features == 64 and model.conv2_x[0].projection
    assert count_params(model) - 128 == 64_666_152
    assert not hasattr(default_meta("preact_resnet164"), "bn1")  # CIFAR conv1: no BN-ReLU of its own
