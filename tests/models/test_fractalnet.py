"""FractalNet (Larsson et al. 2017): the expansion rule, drop-path, single columns."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnlab
from cnnlab.analysis import count_macs, count_params
from cnnlab.errors import ConfigError
from cnnlab.models.fractalnet import PAPER_DROPOUT, FractalConv, Join
from tests.helpers import meta_model

WIDTHS = (64, 128, 256, 512, 512)
# By hand: 3 convs from the previous width (first of each column), 4 width -> width, 3x3,
# no bias, BatchNorm scale and shift on all 7.
BLOCK_PARAMS = {
    "block1": 3 * 9 * 3 * 64 + 4 * 9 * 64 * 64 + 7 * 2 * 64,  # 153,536
    "block2": 3 * 9 * 64 * 128 + 4 * 9 * 128 * 128 + 7 * 2 * 128,  # 812,800
    "block3": 3 * 9 * 128 * 256 + 4 * 9 * 256 * 256 + 7 * 2 * 256,  # 3,247,616
    "block4": 3 * 9 * 256 * 512 + 4 * 9 * 512 * 512 + 7 * 2 * 512,  # 12,983,296
    "block5": 7 * 9 * 512 * 512 + 7 * 2 * 512,  # 16,522,240
}


def test_params_exact():
    model = meta_model("fractalnet20")
    assert count_params(model) == 33_724_618
    got = {n: sum(p.numel() for p in model.get_submodule(n).parameters()) for n in BLOCK_PARAMS}
    assert got == BLOCK_PARAMS
    assert sum(p.numel() for p in model.fc.parameters()) == 512 * 10 + 10


def test_macs_by_hand():
    """All columns (eval) at 32x32, independent of the model code: block b on a g x g map
    (g = 32, 16, 8, 4, 2) has C = 3 columns of 1, 2, 4 3x3 convs; each column's first reads
    the previous width c, the other 4 the block width w: g^2 x 9 (3 c w + 4 w^2); fc 512 x 10."""
    total, c, g = 0, 3, 32
    for w in WIDTHS:
        first, rest = 3, sum(2 ** (col - 1) - 1 for col in (1, 2, 3))
        assert (first, rest) == (3, 4)
        total += g * g * 9 * (first * c * w + rest * w * w)
        c, g = w, g // 2
    total += 512 * 10
    card = cnnlab.model_card("fractalnet20")
    assert count_macs(meta_model("fractalnet20").eval(), card.input_size) == total == card.macs


def test_fractal_structure():
    model = meta_model("fractalnet20")
    for b, width in enumerate(WIDTHS, 1):
        block = model.get_submodule(f"block{b}")
        convs = [m for m in block.modules() if isinstance(m, FractalConv)]
        assert len(convs) == 2**3 - 1 == 7
        assert [len(block.get_submodule(f"col{c}")) for c in (1, 2, 3)] == [1, 2, 4]
        prev = 3 if b == 1 else WIDTHS[b - 2]
        for c in (1, 2, 3):  # every column's first conv reads the block input
            col = block.get_submodule(f"col{c}")
            assert col.conv1.conv.in_channels == prev
            assert all(m.conv.out_channels == width and m.conv.kernel_size == (3, 3) for m in col)
            assert all(m.conv.in_channels == width for m in list(col)[1:])
        joins = {n: m.num_inputs for n, m in block.named_children() if isinstance(m, Join)}
        assert joins == {"join2": 2, "join4": 3}
        assert isinstance(model.get_submodule(f"pool{b}"), nn.MaxPool2d)
        assert model.get_submodule(f"pool{b}").kernel_size == 2


def _convs_run(model, x):
    ran = []
    hooks = [
        m.register_forward_hook(lambda mod, a, o, n=n: ran.append(n))
        for n, m in model.named_modules()
        if isinstance(m, FractalConv)
    ]
    out = model(x)
    for h in hooks:
        h.remove()
    return ran, out


def test_deepest_column_is_20_layers():
    model = meta_model("fractalnet20", column=3).eval()
    ran, _ = _convs_run(model, torch.empty(1, 3, 32, 32, device="meta"))
    assert len(ran) == 5 * 2 ** (3 - 1) == 20
    assert all(".col3." in n for n in ran)
    full, _ = _convs_run(meta_model("fractalnet20").eval(), torch.empty(1, 3, 32, 32, device="meta"))
    assert len(full) == 5 * 7


def test_block_is_the_expansion_rule_with_mean_joins():
    """f_3(z) = join(f_2(f_2(z)), conv(z)), f_2(z) = join(conv(conv(z)), conv(z)); joins are
    element-wise means over all columns meeting there."""
    model = cnnlab.create_model("fractalnet20").eval()
    block = model.block1
    z = torch.randn(2, 3, 8, 8)
    c1, c2, c3 = block.col1, block.col2, block.col3
    with torch.no_grad():
        j2 = (c2.conv1(z) + c3.conv2(c3.conv1(z))) / 2
        want = (c1.conv1(z) + c2.conv2(j2) + c3.conv4(c3.conv3(j2))) / 3
        torch.testing.assert_close(block(z), want)


def test_eval_averages_all_columns_and_is_deterministic():
    model = cnnlab.create_model("fractalnet20", drop_prob=PAPER_DROPOUT).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.manual_seed(1)
        a = model(x)
        torch.manual_seed(2)
        b = model(x)
    assert torch.equal(a, b)


def test_single_column_evaluation_is_a_plain_chain():
    model = cnnlab.create_model("fractalnet20", column=3).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        h = x
        for b in range(1, 6):
            h = getattr(model, f"pool{b}")(getattr(model, f"block{b}").col3(h))
        torch.testing.assert_close(model(x), model.fc(h.flatten(1)))
        full = model.select_column(None)(x)
        assert not torch.allclose(full, model.fc(h.flatten(1)))
    assert model.select_column(1).column == 1
    for bad in (0, 4, 1.0, True):
        with pytest.raises(ConfigError, match="column"):
            model.select_column(bad)
    with pytest.raises(ConfigError, match="column"):
        meta_model("fractalnet20", column=4)


def test_local_drop_path_never_drops_all_inputs():
    join = Join(3, drop_path_local=0.99).train()
    torch.manual_seed(0)
    kept = [join.sample_kept() for _ in range(500)]
    assert all(len(k) >= 1 for k in kept)
    assert {tuple(k) for k in kept} >= {(0,), (1,), (2,)}  # the survivor is chosen at random
    inputs = [torch.full((1, 1, 2, 2), v) for v in (1.0, 10.0, 100.0)]
    subsets = {1.0, 10.0, 100.0, 5.5, 50.5, 55.0, 37.0}  # means of non-empty subsets
    for _ in range(50):
        out = join(inputs)
        assert out.unique().numel() == 1 and round(out[0, 0, 0, 0].item(), 4) in subsets


def test_local_drop_path_rate_and_eval():
    join = Join(2, drop_path_local=0.15).train()
    torch.manual_seed(0)
    draws = [join.sample_kept() for _ in range(4000)]
    dropped = sum(2 - len(k) for k in draws) / (2 * len(draws))
    assert 0.12 < dropped < 0.18
    a, b = torch.ones(1, 1, 1, 1), torch.full((1, 1, 1, 1), 3.0)
    assert join.eval()([a, b]).item() == 2.0


def test_global_drop_path_uses_exactly_one_column():
    model = cnnlab.create_model("fractalnet20", global_drop_ratio=1.0).train()
    x = torch.randn(1, 3, 32, 32)
    # One seed per column: the column the model's own draw gives under that seed (the draw's
    # distribution is tested below), so every column must be reached and must be the drawn one.
    seeds = {}
    for seed in range(100):
        torch.manual_seed(seed)
        seeds.setdefault(model.sample_global_column(), seed)
    assert set(seeds) == {1, 2, 3}
    seen = set()
    for expected, seed in sorted(seeds.items()):
        torch.manual_seed(seed)
        ran, _ = _convs_run(model, x)
        columns = {n.split(".")[1] for n in ran}
        assert columns == {f"col{expected}"}
        # The whole column in every block (2^(c-1) convs each), nothing else.
        assert ran == [
            f"block{b}.col{expected}.conv{i}" for b in range(1, 6) for i in range(1, 2 ** (expected - 1) + 1)
        ]
        seen.add(expected)
    assert seen == {1, 2, 3}


def test_global_and_local_are_mixed_per_mini_batch():
    model = meta_model("fractalnet20")
    torch.manual_seed(0)
    draws = [model.sample_global_column() for _ in range(3000)]
    globals_ = [d for d in draws if d is not None]
    assert 0.45 < len(globals_) / len(draws) < 0.55  # 50% global (Sec. 3.1)
    counts = [globals_.count(c) for c in (1, 2, 3)]
    assert all(abs(n / len(globals_) - 1 / 3) < 0.05 for n in counts)  # a column uniformly
    assert meta_model("fractalnet20", global_drop_ratio=0.0).sample_global_column() is None


def test_training_with_local_drop_path_only_runs_every_column():
    model = cnnlab.create_model("fractalnet20", global_drop_ratio=0.0, drop_path_local=0.99).train()
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    ran, out = _convs_run(model, x)
    assert len(ran) == 35
    assert torch.isfinite(out).all()


def test_same_seed_same_output_in_training():
    model = cnnlab.create_model("fractalnet20", drop_prob=PAPER_DROPOUT).train()
    x = torch.randn(2, 3, 32, 32)
    torch.manual_seed(7)
    a = model(x)  # the first call also runs the input check, which must draw nothing
    torch.manual_seed(7)
    b = model(x)
    assert torch.equal(a, b)


def test_dropout_per_block():
    model = meta_model("fractalnet20", drop_prob=PAPER_DROPOUT)
    for b, rate in enumerate(PAPER_DROPOUT, 1):
        drops = [m.p for m in model.get_submodule(f"block{b}").modules() if isinstance(m, nn.Dropout)]
        assert drops == ([rate] * 7 if rate else [])
    conv = model.block2.col1.conv1
    assert [n for n, _ in conv.named_children()] == ["conv", "drop", "bn", "act"]
    assert all(m.p == 0.2 for m in meta_model("fractalnet20", drop_prob=0.2).modules() if isinstance(m, nn.Dropout))
    assert not any(isinstance(m, nn.Dropout) for m in meta_model("fractalnet20").modules())
    assert count_params(model) == 33_724_618


@pytest.mark.parametrize(
    "options",
    [
        {"drop_prob": (0.1, 0.2)},
        {"drop_prob": (0.0, 0.1, 0.2, 0.3, 1.0)},
        {"drop_prob": 1.0},
        {"drop_path_local": 1.0},
        {"drop_path_local": -0.1},
        {"global_drop_ratio": 1.5},
    ],
)
def test_bad_options(options):
    with pytest.raises(ConfigError, match=next(iter(options))):
        meta_model("fractalnet20", **options)


def test_options_and_defaults():
    model = meta_model("fractalnet20")
    assert model.drop_path_local == 0.15 and model.global_drop_ratio == 0.5
    assert all(j.drop_path_local == 0.15 for j in model.modules() if isinstance(j, Join))
    off = meta_model("fractalnet20", drop_path_local=0.0, global_drop_ratio=0.0)
    assert all(j.drop_path_local == 0.0 for j in off.modules() if isinstance(j, Join))
    assert [tuple(f) for f in model.feature_info] == [(f"block{b}", w, 2 ** (b - 1)) for b, w in enumerate(WIDTHS, 1)]


def test_head_reads_the_flattened_1x1_map():
    model = meta_model("fractalnet20")
    f = model.forward_features(torch.empty(2, 3, 32, 32, device="meta"))
    assert f.shape == (2, 512, 1, 1)
    assert model.forward_head(f, pre_logits=True).shape == (2, 512)
    assert cnnlab.model_card("fractalnet20").mean == pytest.approx((0.4914, 0.4822, 0.4465), abs=1e-4)
