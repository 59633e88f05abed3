"""Dual Path Networks: Table 1's columns (and the authors' DPN-68 / DPN-131), the dual-path
channel arithmetic, exact counts, options."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch
from torch import nn

import cnnlab
from cnnlab.analysis import count_macs, count_params
from cnnlab.errors import ConfigError
from cnnlab.layers import DropPath
from cnnlab.models.dpn import (
    DPN68,
    DPN92,
    DPN98,
    DPN131,
    Column,
    DualPathBlock,
    DualPathStage,
    authors_settings,
    with_options,
)
from tests.helpers import meta_model

COLUMNS = {"dpn68": DPN68, "dpn92": DPN92, "dpn98": DPN98, "dpn131": DPN131}

# The specification's exact counts at 3x224x224, 1000 classes.
PARAMS = {"dpn68": 12_611_602, "dpn92": 37_668_392, "dpn98": 61_570_728, "dpn131": 79_254_504}
MACS = {
    "dpn68": 2_326_163_456,
    "dpn92": 6_501_684_224,
    "dpn98": 11_671_217_152,
    "dpn131": 16_013_648_896,
}
FEATURE_CHANNELS = {"dpn68": 832, "dpn92": 2688, "dpn98": 2688, "dpn131": 2688}

# The authors' settings files (cypw/DPNs settings/symbol_dpn-*.py): conv1 (kernel, filters),
# k_R, G, k_sec, inc_sec.
AUTHORS = {
    "dpn68": ((3, 10), 128, 32, (3, 4, 12, 3), (16, 32, 32, 64)),
    "dpn92": ((7, 64), 96, 32, (3, 4, 20, 3), (16, 32, 24, 128)),
    "dpn98": ((7, 96), 160, 40, (3, 6, 20, 3), (16, 32, 32, 128)),
    "dpn131": ((7, 128), 160, 40, (4, 8, 28, 3), (16, 32, 32, 128)),
}


def hand_counts(column: Column, in_chans: int = 3, classes: int = 1000, size: int = 224) -> tuple[int, int]:
    """Parameters and conv + linear MACs from a table column alone: pre-activated convolutions
    without bias (BN scale and shift per input channel), conv-BN stem, final BN, fc."""
    c1 = column.conv1
    grid = size // c1.stride
    params = c1.kernel**2 * in_chans * c1.filters + 2 * c1.filters
    macs = c1.kernel**2 * in_chans * c1.filters * grid * grid
    chs, grid = c1.filters, grid // 2  # the max pool before conv2
    for i, s in enumerate(column.stages):
        for b in range(s.blocks):
            out_grid = grid // 2 if (b == 0 and i > 0) else grid
            layers = [(s.num_1x1_a, 1, 1, grid), (s.num_3x3_b, 3, s.cardinality, out_grid),
                      (s.num_1x1_c + s.inc, 1, 1, out_grid)]  # fmt: skip
            if b == 0:  # the projection into residual and 2 x inc dense channels
                layers.insert(0, (s.num_1x1_c + 2 * s.inc, 1, 1, out_grid))
            ins = [chs, chs, s.num_1x1_a, s.num_3x3_b] if b == 0 else [chs, s.num_1x1_a, s.num_3x3_b]
            for (out, k, g, at), cin in zip(layers, ins):
                weights = k * k * cin // g * out
                params += 2 * cin + weights
                macs += weights * at * at
            grid = out_grid
            chs = s.num_1x1_c + (b + 3) * s.inc
    params += 2 * chs + chs * classes + classes
    macs += chs * classes
    return params, macs


@pytest.mark.parametrize("name", COLUMNS)
def test_params_and_macs_exact(name):
    model = meta_model(name)
    assert count_params(model) == PARAMS[name]
    assert count_macs(model, (3, 224, 224)) == MACS[name]
    card = cnnlab.model_card(name)
    assert (card.params, card.macs) == (PARAMS[name], MACS[name])


@pytest.mark.parametrize("name", COLUMNS)
def test_counts_follow_by_hand_from_the_table(name):
    assert hand_counts(COLUMNS[name]) == (PARAMS[name], MACS[name])


@pytest.mark.parametrize("name", COLUMNS)
def test_columns_are_the_authors_settings(name):
    (kernel, filters), k_r, g, k_sec, inc_sec = AUTHORS[name]
    column = COLUMNS[name]
    assert (column.conv1.kernel, column.conv1.filters, column.conv1.stride) == (kernel, filters, 2)
    assert authors_settings(column) == (k_r, g, k_sec, inc_sec)
    # The authors' R = k_R * bw / bw_conv2: bottleneck and residual widths double per stage.
    for i, s in enumerate(column.stages):
        assert s.num_1x1_a == s.num_3x3_b == k_r * 2**i
        assert s.num_1x1_c == column.stages[0].num_1x1_c * 2**i
        assert s.cardinality == g


def test_table1_columns_as_printed():
    # Table 1: [1x1, a; 3x3, b, G; 1x1, c (+k)] x n per stage.
    assert [(s.num_1x1_a, s.cardinality, s.num_1x1_c, s.inc, s.blocks) for s in DPN92.stages] == [
        (96, 32, 256, 16, 3), (192, 32, 512, 32, 4), (384, 32, 1024, 24, 20), (768, 32, 2048, 128, 3),
    ]  # fmt: skip
    assert [(s.num_1x1_a, s.cardinality, s.num_1x1_c, s.inc, s.blocks) for s in DPN98.stages] == [
        (160, 40, 256, 16, 3), (320, 40, 512, 32, 6), (640, 40, 1024, 32, 20), (1280, 40, 2048, 128, 3),
    ]  # fmt: skip
    assert (DPN92.conv1.filters, DPN98.conv1.filters) == (64, 96)


@pytest.mark.parametrize("name", COLUMNS)
def test_stage_outputs_match_table1_sizes_and_channels(name):
    model = meta_model(name).eval()
    column = COLUMNS[name]
    seen = {}
    hooks = [
        model.get_submodule(n).register_forward_hook(lambda m, a, o, key=n: seen.__setitem__(key, tuple(o.shape[1:])))
        for n in ("conv1", *(s.name for s in column.stages))
    ]
    features = model.forward_features(torch.empty(1, 3, 224, 224, device="meta"))
    for h in hooks:
        h.remove()
    assert seen["conv1"] == (column.conv1.filters, 112, 112)
    for s in column.stages:
        assert seen[s.name] == (s.num_1x1_c + (s.blocks + 2) * s.inc, s.output, s.output)
    assert tuple(features.shape[1:]) == (FEATURE_CHANNELS[name], 7, 7)
    assert model.fc.in_features == FEATURE_CHANNELS[name]
    assert [(f.module, f.reduction) for f in model.feature_info] == [
        ("conv1", 2), ("conv2_x", 4), ("conv3_x", 8), ("conv4_x", 16), ("conv5_x", 32),
    ]  # fmt: skip


@pytest.mark.parametrize("name", COLUMNS)
def test_dual_path_widths_per_block(name):
    """Residual path constant within a stage; dense path 2 inc after the projection, + inc
    per block; measured on the blocks' outputs."""
    model = meta_model(name).eval()
    pairs: dict[str, tuple[int, int]] = {}
    hooks = []

    def record(module, args, out, key):
        pairs[key] = (out[0].shape[1], out[1].shape[1])  # (residual, dense) channels

    for n, m in model.named_modules():
        if isinstance(m, DualPathBlock):
            hooks.append(m.register_forward_hook(partial(record, key=n)))
    model.forward_features(torch.empty(1, 3, 224, 224, device="meta"))
    for h in hooks:
        h.remove()
    column = COLUMNS[name]
    assert len(pairs) == sum(s.blocks for s in column.stages)
    for s in column.stages:
        for b in range(1, s.blocks + 1):
            assert pairs[f"{s.name}.block{b}"] == (s.num_1x1_c, (b + 2) * s.inc)
        stage = model.get_submodule(s.name)
        assert stage.block1.c1x1_w is not None and all(
            getattr(stage, f"block{b}").c1x1_w is None for b in range(2, s.blocks + 1)
        )


def test_stage_output_is_residual_then_dense():
    model = cnnlab.create_model("dpn68").eval()
    got = {}
    model.conv2_x.block3.register_forward_hook(lambda m, a, o: got.__setitem__("pair", o))
    model.conv2_x.register_forward_hook(lambda m, a, o: got.__setitem__("stage", o))
    with torch.no_grad():
        model(torch.randn(1, 3, 32, 32))
    assert torch.equal(got["stage"], torch.cat(got["pair"], 1))


def test_block_layout_is_pre_activation_without_bias():
    model = meta_model("dpn92")
    block = model.conv3_x.block1
    for part in (block.c1x1_w, block.c1x1_a, block.c3x3_b, block.c1x1_c):
        assert [type(c) for c in part.children()] == [nn.BatchNorm2d, nn.ReLU, nn.Conv2d]
    assert block.c3x3_b.conv.groups == 32 and block.c3x3_b.conv.stride == (2, 2)
    assert block.c1x1_w.conv.stride == (2, 2) and block.c1x1_a.conv.stride == (1, 1)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.bias is None for c in convs)
    assert all(m.eps == 1e-3 for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert [type(c) for c in model.conv1.children()] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU]
    assert isinstance(model.conv2_x.pool, nn.MaxPool2d) and not hasattr(model.conv3_x, "pool")
    assert model.conv1.conv.kernel_size == (7, 7) and meta_model("dpn68").conv1.conv.kernel_size == (3, 3)


def test_paper_rounding_is_explained():
    """Table 1's 37.8 and 61.7 (x 10^6) and Table 2's sizes (49, 145, 236, 304 MB) match the
    parameters plus BatchNorm moving statistics (MXNet stores both), in float32 MiB rounded up."""
    printed_mb = {"dpn68": 49, "dpn92": 145, "dpn98": 236, "dpn131": 304}
    for name in COLUMNS:
        model = meta_model(name)
        stats = sum(b.numel() for k, b in model.named_buffers() if k.endswith(("running_mean", "running_var")))
        stored = PARAMS[name] + stats
        assert math.ceil(stored * 4 / 2**20) == printed_mb[name]
        if name == "dpn92":
            assert round(stored / 1e6, 1) == 37.8
        if name == "dpn98":
            assert round(stored / 1e6, 1) == 61.7


def test_options_rebuild_another_column():
    # dpn92's builder with DPN-98's k_R, G, k_sec, inc_sec is DPN-98 with a 64-filter conv1:
    # 32 fewer 7x7x3 filters (and their BN), and 32 fewer inputs to conv2's projection (256 + 32)
    # and c1x1_a (160), each with BN.
    model = meta_model("dpn92", k_r=160, cardinality=40, k_sec=(3, 6, 20, 3), inc_sec=(16, 32, 32, 128))
    fewer = 32 * (7 * 7 * 3 + 2) + 32 * (2 + 256 + 32) + 32 * (2 + 160)
    assert count_params(model) == PARAMS["dpn98"] - fewer == 61_551_496


def test_default_options_equal_explicit_table_values():
    k_r, g, k_sec, inc_sec = AUTHORS["dpn131"][1:]
    model = meta_model("dpn131", k_r=k_r, cardinality=g, k_sec=list(k_sec), inc_sec=inc_sec)
    assert count_params(model) == PARAMS["dpn131"]


def test_smaller_variant_counts_by_hand():
    model = meta_model("dpn68", k_sec=(1, 1, 1, 1), inc_sec=(8, 8, 8, 8), k_r=64, cardinality=16)
    column = with_options(DPN68, 64, 16, (1, 1, 1, 1), (8, 8, 8, 8))
    assert count_params(model) == hand_counts(column)[0]
    assert count_macs(model, (3, 224, 224)) == hand_counts(column)[1]
    assert model.conv5_x.block1.c3x3_b.conv.groups == 16
    assert model.conv3_x.block1.c1x1_a.conv.out_channels == 128


@pytest.mark.parametrize(
    "options, match",
    [
        ({"k_sec": (3, 4, 12)}, r"k_sec=\(3, 4, 12\)"),
        ({"inc_sec": (16, 32, 0, 64)}, r"inc_sec=\(16, 32, 0, 64\)"),
        ({"inc_sec": "16,32,32,64"}, "inc_sec='16,32,32,64'"),
        ({"k_sec": (3, True, 12, 3)}, r"k_sec=\(3, True, 12, 3\)"),
        ({"cardinality": 7}, "cardinality=7 does not divide"),
        ({"k_r": 0}, "k_r=0"),
        ({"k_r": 2.5}, "k_r=2.5"),
        ({"drop_path_rate": 1.0}, "1.0"),
    ],
)
def test_invalid_options_are_refused(options, match):
    with pytest.raises(ConfigError, match=match):
        meta_model("dpn68", **options)


def test_drop_path_extension():
    plain = meta_model("dpn68")
    assert not any(isinstance(m, DropPath) for m in plain.modules())
    model = meta_model("dpn68", drop_path_rate=0.2)
    assert count_params(model) == PARAMS["dpn68"]
    blocks = [m for m in model.modules() if isinstance(m, DualPathBlock)]
    rates = [b.drop_path.drop_prob for b in blocks]
    assert len(rates) == 22 and rates[0] == pytest.approx(0.2 / 22) and rates[-1] == pytest.approx(0.2)


def test_drop_path_acts_on_residual_branch_only_and_is_identity_in_eval():
    torch.manual_seed(0)
    model = cnnlab.create_model("dpn68", drop_path_rate=0.5)
    plain = cnnlab.create_model("dpn68")
    plain.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 32, 32)
    model.eval(), plain.eval()
    with torch.no_grad():
        assert torch.equal(model(x), plain(x))
    # DropPath in training mode (BatchNorm kept in eval, so only the gate differs): the dense
    # half of a block is never dropped; the residual half is kept scaled by 2 or dropped whole.
    block = model.conv5_x.block3  # the last of dpn68's 22 blocks: drop_prob 0.5
    assert block.drop_path.drop_prob == 0.5
    feed = (torch.randn(16, 512, 2, 2), torch.randn(16, 4 * 64, 2, 2))  # residual 512, dense (2 + 2) x 64
    with torch.no_grad():
        residual_eval, dense_eval = block(feed)
        block.drop_path.train()
        residual, dense = block(feed)
    assert torch.equal(dense, dense_eval)
    branch = residual_eval - feed[0]
    dropped = [torch.equal(residual[i], feed[0][i]) for i in range(16)]
    kept = [torch.allclose(residual[i], feed[0][i] + 2 * branch[i], atol=1e-5) for i in range(16)]
    assert all(k or d for k, d in zip(kept, dropped)) and any(dropped) and any(kept)


def test_in_chans_and_classes():
    model = cnnlab.create_model("dpn68", in_chans=1, num_classes=10).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 32, 32)).shape == (2, 10)
    assert model.conv1.conv.in_channels == 1


def test_stage_rejects_unknown_block_kind():
    with pytest.raises(ConfigError, match="'up'"):
        DualPathBlock(64, DPN92.stages[0], "up")
    assert DualPathStage(64, DPN92.stages[0], "proj", [0.0] * 3, pool=True).out_chs == 256 + 5 * 16
