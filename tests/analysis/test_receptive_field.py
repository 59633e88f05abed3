"""Receptive fields: the lecture's recurrences, unions at joins, global mixing, the input
region of a position, and the analytic values against gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnnlab
from cnnlab.analysis import analyze, empirical_region


def test_three_stacked_3x3_see_what_one_7x7_sees() -> None:
    stack = nn.Sequential(*(nn.Conv2d(4, 4, 3, bias=False) for _ in range(3)))
    a = analyze(stack, (4, 15, 15))
    assert [r.rf.size for r in a] == [(3.0, 3.0), (5.0, 5.0), (7.0, 7.0)]
    assert analyze(nn.Conv2d(4, 4, 7), (4, 15, 15)).rows[0].rf.size == (7.0, 7.0)
    assert empirical_region(stack, (4, 15, 15), "2", (4, 4)) == ((4, 10), (4, 10))


def test_stride_padding_and_dilation() -> None:
    model = nn.Sequential(nn.Conv2d(1, 1, 3, stride=2, padding=1), nn.Conv2d(1, 1, 3, padding=2, dilation=2))
    a = analyze(model, (1, 16, 16))
    first, second = a.rows
    assert (first.rf.size, first.rf.jump, first.rf.start) == ((3.0, 3.0), (2.0, 2.0), (0.0, 0.0))
    # dilated 3x3 spans 5 positions of a map with jump 2: 3 + 4 * 2 = 11
    assert (second.rf.size, second.rf.jump, second.rf.start) == ((11.0, 11.0), (2.0, 2.0), (0.0, 0.0))
    assert a.input_region("1", (0, 0)) == ((0, 5), (0, 5))
    assert a.input_region("1", (0, 0), clip=False) == ((-5, 5), (-5, 5))
    assert a.input_region("1", (3, 2)) == ((1, 11), (0, 9))
    assert empirical_region(model, (1, 16, 16), "1", (3, 2)) == ((1, 11), (0, 9))
    with pytest.raises(ValueError, match=r"outside 1's 8x8 map"):
        a.input_region("1", (8, 0))


def test_pixels_no_window_reads_are_outside_every_region() -> None:
    # 3x3 stride 2 on 8 pixels reads 0..6: pixel 7 is never read, though the second
    # layer's field at its last position (centre 5, size 7) reaches 8.
    model = nn.Sequential(nn.Conv2d(1, 1, 3, stride=2), nn.Conv2d(1, 1, 3, padding=1))
    a = analyze(model, (1, 8, 8))
    assert a.rows[1].rf.extent == ((0.0, 6.0), (0.0, 6.0))
    assert a.input_region("1", (2, 2), clip=False) == ((2, 8), (2, 8))
    assert a.input_region("1", (2, 2)) == ((2, 6), (2, 6)) == empirical_region(model, (1, 8, 8), "1", (2, 2))


class TwoBranches(nn.Module):
    """1x1 and 5x5 branches joined by concatenation, then a shifted branch joined by
    addition: the union of the regions, not the last branch's."""

    def __init__(self) -> None:
        super().__init__()
        self.b1 = nn.Conv2d(2, 2, 1)
        self.b5 = nn.Conv2d(2, 2, 5, padding=2)
        self.shift = nn.Conv2d(4, 4, 3, padding=(0, 2))  # asymmetric: shifts left in W and grows
        self.pad = nn.ZeroPad2d((0, 0, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([self.b1(x), self.b5(x)], dim=1)
        return y + self.pad(self.shift(y))[..., 2:]


def test_union_at_concatenation_and_addition() -> None:
    model = TwoBranches()
    a = analyze(model, (2, 16, 16))
    assert a.row("cat").rf.size == (5.0, 5.0)
    assert not a.is_chain
    add = a.row("add")
    # shift branch: size 5 + 2 = 7 per axis. H: start +1 (no padding), -1 (ZeroPad2d) = 0.
    # W: start -1 (padding 2), +2 (the slice) = 1, so it covers [-2, 4] around position 0,
    # the other branch [-2, 2]: the union is 7 wide, centred at 1.
    assert add.rf.size == (7.0, 7.0) and add.rf.start == (0.0, 1.0)
    assert empirical_region(model, (2, 16, 16), "", (8, 8)) == a.input_region("add", (8, 8)) == ((5, 11), (6, 12))


def test_global_pooling_flattening_and_gates_mix_every_position() -> None:
    class Gate(nn.Module):
        def forward(self, x):
            return x * torch.sigmoid(F.adaptive_avg_pool2d(x, 1))

    a = analyze(nn.Sequential(nn.Conv2d(1, 2, 3), Gate()), (1, 8, 8))
    assert a.rows[-1].rf.kind == "global"  # squeeze-and-excitation: every position sees all
    b = analyze(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(72, 2)), (1, 8, 8))
    assert [r.rf.kind for r in b] == ["spatial", "global", "global"]
    c = analyze(nn.Sequential(nn.Conv2d(1, 2, 8), nn.Flatten(), nn.Linear(2, 2)), (1, 8, 8))
    assert [r.rf.describe() for r in c] == ["8 / 1", "8 / 1", "8 / 1"]  # one position: nothing mixed
    d = analyze(nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(3)), (1, 8, 8))
    assert d.rows[-1].rf.size == (4.0, 4.0) and d.rows[-1].rf.jump == (2.0, 2.0)  # 6 -> 3: windows of 2
    u = analyze(nn.Sequential(nn.ConvTranspose2d(1, 1, 2, stride=2)), (1, 4, 4))
    assert u.rows[0].rf.kind == "unknown" and "transposed" in u.rows[0].rf.reason


def test_vgg16_212_with_jump_32_after_its_last_max_pool() -> None:
    a = analyze("vgg16")
    pool5 = [r for r in a if r.kind == "pool" and r.type == "MaxPool2d"][-1]
    assert (pool5.rf.size, pool5.rf.jump) == ((212.0, 212.0), (32.0, 32.0))


def test_inception_v3_1311_with_jump_32_at_its_last_inception_module() -> None:
    a = analyze("inception_v3")
    mixed_7c = next(m for m in a.modules if m.name == "Mixed_7c")
    last = a.rows[mixed_7c.last_row - 1]
    assert (last.rf.size, last.rf.jump) == ((1311.0, 1311.0), (32.0, 32.0))


# The registered models without branches or joins (test_the_chain_list_is_complete keeps
# this list honest); those over 300M multiply-adds run in float64 on the CPU: slow.
CHAIN_MODELS = (
    "alexnet",
    "alexnet_2012",
    "alexnet_owt",
    "lenet5",
    "minivgg",
    "nin_cifar10",
    "nin_imagenet",
    "plain110",
    "plain18",
    "plain20",
    "plain32",
    "plain34",
    "plain44",
    "plain56",
    "zfnet",
    "vgg11",
    "vgg11_bn",
    "vgg11_lrn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg16_c",
    "vgg19",
    "vgg19_bn",
)


# That CHAIN_MODELS lists every chain model is checked registry-wide in test_capture.py.


def _cost_marks(name: str) -> object:
    return pytest.param(name, marks=pytest.mark.slow) if cnnlab.model_card(name).macs > 300e6 else name


@pytest.mark.parametrize("name", [_cost_marks(n) for n in CHAIN_MODELS])
def test_analytic_and_empirical_fields_agree_on_every_chain_model(name: str) -> None:
    model = cnnlab.create_model(name)
    a = analyze(model)
    last = [r for r in a if r.rf.is_spatial and not r.functional][-1]
    spatial = last.output_shape[2:]
    for position in ((0, 0), tuple(s // 2 for s in spatial), tuple(s - 1 for s in spatial)):
        assert empirical_region(model, a.input_size, last.name, position) == a.input_region(last.label, position), (
            position
        )


class _Moves(nn.Module):
    def __init__(self, how: str) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3)
        self.how = how

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if self.how == "transpose-flatten":  # non-contiguous: clone + _unsafe_view
            return y.transpose(2, 3).flatten(1)
        if self.how == "nhwc":  # ConvNeXt's LayerNorm layout
            return y.permute(0, 2, 3, 1)
        if self.how == "tokens":
            return y.flatten(2).transpose(1, 2)
        if self.how == "normalize":
            return F.hardswish(F.normalize(y, dim=1))
        raise AssertionError(self.how)


@pytest.mark.parametrize(
    ("how", "kind"),
    [("transpose-flatten", "global"), ("nhwc", "unknown"), ("tokens", "unknown"), ("normalize", "spatial")],
)
def test_moving_or_merging_positions_is_never_reported_as_a_local_field(how: str, kind: str) -> None:
    a = analyze(_Moves(how), (2, 8, 9))
    assert a.rows[-1].rf.kind == kind, [(r.label, r.rf) for r in a]
    if kind == "spatial":  # a channel L2 norm and a hardswish keep each position's field
        assert a.rows[-1].rf.size == (3.0, 3.0)


def test_adaptive_pooling_with_uneven_windows_is_unknown_not_wrong() -> None:
    a = analyze(nn.Sequential(nn.Conv2d(1, 1, 1), nn.AdaptiveAvgPool2d(3)), (1, 7, 7))
    assert a.rows[-1].rf.kind == "unknown" and "7 -> 3" in a.rows[-1].rf.reason
    with pytest.raises(ValueError, match="receptive field is unknown"):
        a.input_region("1", (0, 0))
    assert analyze("vgg11", (3, 256, 256)).row("avgpool").rf.kind == "unknown"  # 8x8 -> 7x7
