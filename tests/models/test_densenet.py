"""DenseNet: Table 1's columns and output sizes, the dense-block channel arithmetic, the CIFAR
depth rule, torchvision's weights in both key formats, and memory_efficient=True."""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch import nn

import cnnlab
from cnnlab.analysis import count_params
from cnnlab.errors import ConfigError
from cnnlab.models import densenet as dn
from cnnlab.models.densenet import CIFAR_ROWS, TABLE1, TABLE1_ROWS, DenseNet, cifar_block_config, depth
from tests.helpers import meta_model

IMAGENET = {
    "densenet121": "DenseNet-121",
    "densenet169": "DenseNet-169",
    "densenet201": "DenseNet-201",
    "densenet161": "DenseNet-161",
}


def _outputs(model: nn.Module, names, size) -> dict[str, tuple[int, ...]]:
    """(C, H, W) of each named module's output in an eval forward on the meta device."""
    seen, hooks = {}, []
    for name in names:

        def rec(m, a, out, key=name):
            seen[key] = tuple(out.shape[1:])

        hooks.append(model.get_submodule(name).register_forward_hook(rec))
    model.eval()(torch.empty(1, *size, device="meta"))
    for h in hooks:
        h.remove()
    return seen


# -- Table 1 as data --------------------------------------------------------------------------


def test_table1_columns_are_the_specification():
    assert {c.name: (c.growth_rate, c.block_config) for c in TABLE1.values()} == {
        "DenseNet-121": (32, (6, 12, 24, 16)),
        "DenseNet-169": (32, (6, 12, 32, 32)),
        "DenseNet-201": (32, (6, 12, 48, 32)),
        "DenseNet-161": (48, (6, 12, 36, 24)),
    }
    sizes = [r.output for r in TABLE1_ROWS]
    assert sizes == [112, 56, 56, 28, 28, 14, 14, 7, 7, 1]


@pytest.mark.parametrize("name, column", IMAGENET.items())
def test_the_name_is_the_depth(name, column):
    # L counts conv0, two convolutions per bottleneck layer, the transitions and the FC layer.
    blocks = TABLE1[column].block_config
    assert depth(blocks) == int(name.removeprefix("densenet"))
    model = meta_model(name)
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(convs) == depth(blocks)


def test_bc_100_12_depth_rule():
    # DenseNet-BC with three blocks: L = 6n + 4, so L = 100 has n = 16 layers per block.
    assert cifar_block_config(100) == (16, 16, 16)
    assert depth((16, 16, 16)) == 100
    assert cifar_block_config(40, bottleneck=False) == (12, 12, 12)  # plain DenseNet: L = 3n + 4
    assert cifar_block_config(250) == (41, 41, 41) and cifar_block_config(190) == (31, 31, 31)
    model = meta_model("densenet_bc_100_12")
    for i in (1, 2, 3):
        block = model.get_submodule(f"features.denseblock{i}")
        assert len(list(block.children())) == 16
    assert len([m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]) == 100
    for bad in (99, 4, 0, 101, True):
        with pytest.raises(ConfigError, match=re.escape(f"depth={bad!r}")):
            cifar_block_config(bad)
    with pytest.raises(ConfigError, match="depth=41"):
        cnnlab.create_model("densenet_bc_100_12", depth=41, bottleneck=False)


# -- exact counts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, params",
    [
        ("densenet121", 7_978_856),
        ("densenet169", 14_149_480),
        ("densenet201", 20_013_928),
        ("densenet161", 28_681_000),
        ("densenet_bc_100_12", 769_162),
    ],
)
def test_exact_parameter_counts(name, params):
    assert count_params(meta_model(name)) == params
    assert cnnlab.model_card(name).params == params


@pytest.mark.parametrize(
    "kwargs, params, printed",
    [
        # Table 2 (C10), counted by hand: plain DenseNet (16 initial maps, no bottleneck,
        # theta = 1) and DenseNet-BC (2k initial maps, bottleneck, theta = 0.5).
        ({"depth": 40, "growth_rate": 12, "bottleneck": False, "compression": 1.0}, 1_019_722, 1.0),
        ({"depth": 100, "growth_rate": 12, "bottleneck": False, "compression": 1.0}, 6_979_642, 7.0),
        ({"depth": 100, "growth_rate": 24, "bottleneck": False, "compression": 1.0}, 27_249_082, 27.2),
        ({}, 769_162, 0.8),
        ({"depth": 250, "growth_rate": 24}, 15_324_406, 15.3),
        ({"depth": 190, "growth_rate": 40}, 25_624_430, 25.6),
    ],
)
def test_table2_variants(kwargs, params, printed):
    model = meta_model("densenet_bc_100_12", **kwargs)
    assert count_params(model) == params
    assert round(params / 1e6, 1) == printed  # as Table 2 prints it, in millions


def test_growth_rate_option_sets_the_stem_to_2k():
    model = meta_model("densenet121", growth_rate=48)
    assert model.features.conv0.out_channels == 96
    assert model.features.denseblock1.denselayer1.conv1.out_channels == 4 * 48
    assert count_params(meta_model("densenet121", growth_rate=48)) > 7_978_856


# -- Table 1's channel arithmetic and output sizes ------------------------------------------------


@pytest.mark.parametrize("name, column", IMAGENET.items())
def test_dense_blocks_and_transitions_follow_table1(name, column):
    k, blocks = TABLE1[column].growth_rate, TABLE1[column].block_config
    model = meta_model(name)
    names = ["features.conv0", "features.pool0", "features.relu5", "avgpool", "classifier"]
    names += [f"features.denseblock{i}" for i in range(1, 5)]
    names += [f"features.transition{i}.{part}" for i in range(1, 4) for part in ("conv", "pool")]
    seen = _outputs(model, names, (3, 224, 224))
    assert seen["features.conv0"] == (2 * k, 112, 112)  # "2k convolutions of size 7x7 with stride 2"
    assert seen["features.pool0"] == (2 * k, 56, 56)
    chs = 2 * k
    for i, (n, side) in enumerate(zip(blocks, (56, 28, 14, 7)), start=1):
        block = model.get_submodule(f"features.denseblock{i}")
        for index, layer in enumerate(block.children()):
            # layer l sees k_0 + l k maps, its bottleneck makes 4k, it adds k
            assert layer.norm1.num_features == layer.conv1.in_channels == chs + index * k
            assert layer.conv1.kernel_size == (1, 1) and layer.conv1.out_channels == 4 * k
            assert layer.conv2.kernel_size == (3, 3) and layer.conv2.padding == (1, 1)
            assert layer.conv2.out_channels == k
        chs += n * k
        assert seen[f"features.denseblock{i}"] == (chs, side, side)
        if i < 4:
            half = math.floor(0.5 * chs)  # compression theta = 0.5
            assert seen[f"features.transition{i}.conv"] == (half, side, side)
            assert seen[f"features.transition{i}.pool"] == (half, side // 2, side // 2)
            chs = half
    assert seen["features.relu5"] == (chs, 7, 7)
    assert seen["avgpool"] == (chs, 1, 1)
    assert seen["classifier"] == (1000,)
    assert model.num_features == chs


def test_densenet121_channels_as_literals():
    seen = _outputs(
        meta_model("densenet121"),
        ["features.denseblock1", "features.transition1", "features.denseblock2", "features.transition2",
         "features.denseblock3", "features.transition3", "features.denseblock4"],
        (3, 224, 224),
    )  # fmt: skip
    assert [s[0] for s in seen.values()] == [256, 128, 512, 256, 1024, 512, 1024]
    assert [s[1] for s in seen.values()] == [56, 28, 28, 14, 14, 7, 7]


def test_bc_100_12_channels_and_sizes():
    model = meta_model("densenet_bc_100_12")
    names = ["features.conv0", "features.denseblock1", "features.transition1", "features.denseblock2",
             "features.transition2", "features.denseblock3", "features.relu4", "classifier"]  # fmt: skip
    seen = _outputs(model, names, (3, 32, 32))
    assert seen == {
        "features.conv0": (24, 32, 32),  # 2k
        "features.denseblock1": (216, 32, 32),  # 24 + 16 x 12
        "features.transition1": (108, 16, 16),
        "features.denseblock2": (300, 16, 16),  # 108 + 192
        "features.transition2": (150, 8, 8),
        "features.denseblock3": (342, 8, 8),  # 150 + 192
        "features.relu4": (342, 8, 8),
        "classifier": (10,),
    }
    assert not hasattr(model.features, "norm0")  # the CIFAR stem is the convolution alone
    assert [r.output for r in CIFAR_ROWS] == [32, 32, 16, 16, 8, 8, 1]


def test_feature_info_densenet121():
    assert [tuple(f) for f in meta_model("densenet121").feature_info] == [
        ("features.relu0", 64, 2),
        ("features.denseblock1", 256, 4),
        ("features.denseblock2", 512, 8),
        ("features.denseblock3", 1024, 16),
        ("features.relu5", 1024, 32),
    ]


# -- options ----------------------------------------------------------------------------------


def test_dropout_after_every_convolution_but_the_first():
    model = meta_model("densenet_bc_100_12", depth=16, drop_prob=0.2)  # 2 layers per block
    drops = [n for n, m in model.named_modules() if isinstance(m, nn.Dropout)]
    assert len(drops) == 3 * 2 * 2 + 2 == len([m for m in model.modules() if isinstance(m, nn.Conv2d)]) - 1
    assert all(m.p == 0.2 for m in model.modules() if isinstance(m, nn.Dropout))
    assert list(model.features.transition1._modules) == ["norm", "relu", "conv", "dropout", "pool"]
    assert not [m for m in meta_model("densenet_bc_100_12").modules() if isinstance(m, nn.Dropout)]


def test_plain_densenet_without_bottleneck():
    model = meta_model("densenet_bc_100_12", depth=40, bottleneck=False, compression=1.0)
    layer = model.features.denseblock1.denselayer1
    assert model.features.conv0.out_channels == 16  # Sec. 3: 16 for the plain DenseNet
    assert layer.conv1.kernel_size == (3, 3) and layer.conv1.out_channels == 12
    assert not hasattr(layer, "conv2")
    assert model.features.transition1.conv.out_channels == 16 + 12 * 12  # theta = 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"compression": 0.0}, "compression=0.0"),
        ({"compression": 1.5}, "compression=1.5"),
        ({"growth_rate": 0}, "growth_rate=0"),
        ({"num_init_features": -1}, "num_init_features=-1"),
        ({"drop_prob": 1.0}, "drop_prob=1.0"),
        ({"memory_efficient": 1}, "memory_efficient=1"),
    ],
)
def test_bad_options_are_refused(kwargs, match):
    with pytest.raises(ConfigError, match=re.escape(match)):
        cnnlab.create_model("densenet_bc_100_12", **kwargs)


def test_block_config_must_fit_the_layout():
    with pytest.raises(ConfigError, match=r"block_config=\(6, 12, 24\) must list 4"):
        DenseNet(TABLE1_ROWS, block_config=(6, 12, 24))
    with pytest.raises(ConfigError, match="must list 3"):
        DenseNet(CIFAR_ROWS, growth_rate=12, block_config=(16, 16, 0))


def test_initialisation():
    model = cnnlab.create_model("densenet_bc_100_12", depth=16)
    conv = model.features.denseblock3.denselayer1.conv1
    std = math.sqrt(2 / (1 * 1 * 48))  # He et al., fan-out as the authors' code: 1x1 kernels, 4k = 48 maps
    assert abs(conv.weight.std().item() - std) < 0.1 * std
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(torch.equal(m.weight, torch.ones_like(m.weight)) and not m.bias.any() for m in norms)
    model.reset_classifier(5)
    assert not model.classifier.bias.any()


# -- memory_efficient=True --------------------------------------------------------------------


def _train_step(model, x, seed):
    torch.manual_seed(seed)  # the same dropout masks for both models
    out = model(x)
    out.pow(2).mean().backward()
    return out


def _pair(drop_prob):
    plain = cnnlab.create_model("densenet_bc_100_12", depth=16, drop_prob=drop_prob).train()
    efficient = cnnlab.create_model("densenet_bc_100_12", depth=16, drop_prob=drop_prob, memory_efficient=True).train()
    efficient.load_state_dict(plain.state_dict())
    return plain, efficient


@pytest.mark.parametrize("drop_prob", [0.0, 0.2])
def test_memory_efficient_changes_no_result(drop_prob):
    plain, efficient = _pair(drop_prob)
    x = torch.randn(4, 3, 32, 32)
    recomputed = []
    conv1 = efficient.features.denseblock1.denselayer1.conv1
    hook = conv1.register_forward_pre_hook(lambda m, a: recomputed.append(1))
    for step in range(2):
        a, b = _train_step(plain, x, step), _train_step(efficient, x, step)
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-7)
    hook.remove()
    assert len(recomputed) == 4, "the checkpointed part runs again during each backward"
    for (name, p), q in zip(plain.named_parameters(), efficient.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-5, atol=1e-7, msg=name)
    # BatchNorm running statistics: updated once per forward, not again by the recomputation.
    for (name, buf), other in zip(plain.named_buffers(), efficient.buffers()):
        torch.testing.assert_close(other, buf, rtol=1e-6, atol=1e-7, msg=name)
    assert efficient.features.denseblock1.denselayer1.norm1.num_batches_tracked.item() == 2
    efficient.eval()
    plain.eval()
    with torch.no_grad():
        torch.testing.assert_close(efficient(x), plain(x), rtol=1e-6, atol=1e-7)


def test_recomputation_would_update_running_stats_twice_without_the_guard(monkeypatch):
    """The control for the test above: a plain checkpoint updates BatchNorm twice."""
    monkeypatch.setattr(dn, "_checkpoint_contexts", lambda: (dn.contextlib.nullcontext(), dn.contextlib.nullcontext()))
    plain, efficient = _pair(0.0)
    x = torch.randn(4, 3, 32, 32)
    _train_step(plain, x, 0)
    _train_step(efficient, x, 0)
    norm = efficient.features.denseblock1.denselayer1.norm1
    assert norm.num_batches_tracked.item() == 2
    assert not torch.allclose(norm.running_mean, plain.features.denseblock1.denselayer1.norm1.running_mean)


# -- torchvision's weights ----------------------------------------------------------------------


def _legacy(state):
    # torchvision's downloadable DenseNet files: 'denselayer1.norm.1.weight', no BN counters.
    return {
        re.sub(r"(denselayer\d+\.(?:norm|relu|conv))([12])\.", r"\1.\2.", k): v
        for k, v in state.items()
        if not k.endswith("num_batches_tracked")
    }


def test_remap_handles_legacy_and_current_keys():
    state = {
        "features.denseblock1.denselayer1.norm.1.weight": 1,
        "features.denseblock4.denselayer16.conv.2.weight": 2,
        "features.denseblock1.denselayer1.norm1.running_var": 3,
        "features.transition1.norm.weight": 4,
        "features.norm5.bias": 5,
        "classifier.weight": 6,
    }
    assert dn._densenet_tv_remap(state, None) == {
        "features.denseblock1.denselayer1.norm1.weight": 1,
        "features.denseblock4.denselayer16.conv2.weight": 2,
        "features.denseblock1.denselayer1.norm1.running_var": 3,
        "features.transition1.norm.weight": 4,
        "features.norm5.bias": 5,
        "classifier.weight": 6,
    }


def test_legacy_torchvision_checkpoint_loads(tmp_path):
    import torchvision.models as tvm

    reference = tvm.densenet121(weights=None).eval()
    state = _legacy(reference.state_dict())
    assert "features.denseblock1.denselayer1.norm.1.weight" in state
    torch.save(state, tmp_path / "densenet121-legacy.pth")
    model = cnnlab.create_model("densenet121", weights=tmp_path / "densenet121-legacy.pth").eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert (model(x) - reference(x)).abs().max().item() <= 1e-5


def test_cards():
    for name in IMAGENET:
        card = cnnlab.model_card(name)
        assert card.torchvision.builder == name
        assert card.torchvision.weights == f"DenseNet{name[8:]}_Weights.IMAGENET1K_V1"
        assert len(card.deviations) == 3
    assert cnnlab.model_card("densenet_bc_100_12").paper_params == "0.8M (Table 2)"


def densenet_bc_macs(k, layers, stem, grid, classes):
    """Conv + fc multiply-adds of DenseNet-BC by hand from Table 1 / Sec. 3, independent of the
    model code. ``stem`` is (kernel, output grid) of the first convolution (2k maps); ImageNet
    then max pools to half. A layer with m input maps on a g x g grid costs g^2 (m x 4k + 9 x
    4k x k); a transition g^2 x m x floor(m / 2) before its 2x2 average pool; fc c x classes."""
    kernel, out = stem
    total, chs = out * out * kernel * kernel * 3 * 2 * k, 2 * k
    for b, n in enumerate(layers):
        for i in range(n):
            total += grid * grid * ((chs + i * k) * 4 * k + 9 * 4 * k * k)
        chs += n * k
        if b < len(layers) - 1:
            total += grid * grid * chs * (chs // 2)
            chs, grid = chs // 2, grid // 2
    return total + chs * classes


@pytest.mark.parametrize(
    "name, k, layers, stem, grid, classes",
    [
        ("densenet121", 32, (6, 12, 24, 16), (7, 112), 56, 1000),
        ("densenet169", 32, (6, 12, 32, 32), (7, 112), 56, 1000),
        ("densenet201", 32, (6, 12, 48, 32), (7, 112), 56, 1000),
        ("densenet161", 48, (6, 12, 36, 24), (7, 112), 56, 1000),
        ("densenet_bc_100_12", 12, (16, 16, 16), (3, 32), 32, 10),  # (100 - 4) / 6 = 16 layers per block
    ],
)
def test_macs_by_hand(name, k, layers, stem, grid, classes):
    from cnnlab.analysis import count_macs

    card = cnnlab.model_card(name)
    expected = densenet_bc_macs(k, layers, stem, grid, classes)
    assert count_macs(meta_model(name), card.input_size) == expected == card.macs
