"""LeNet-5 as printed in 1998 (LeCun et al., Sec. II.B, Table I): the facts beyond the
registry-wide tests."""

from __future__ import annotations

import pytest
import torch

import cnnlab
from cnnlab.analysis import count_params, leaf_trace
from cnnlab.errors import InputShapeError
from cnnlab.models.lenet import RBF_DIGITS_7X12, LeNet5, ScaledTanh
from tests.helpers import meta_model

# Table I of the paper, typed from the printed grid: row = S2 map, column = C3 map 0..15.
TABLE_I = (
    "X...XXX..XXXX.XX",
    "XX...XXX..XXXX.X",
    "XXX...XXX..X.XXX",
    ".XXX..XXXX..X.XX",
    "..XXX..XXXX.XX.X",
    "...XXX..XXXX.XXX",
)


def test_trainable_params_per_layer_sec_II_B():
    model = meta_model("lenet5_1998")
    per_layer = {n: count_params(m) for n, m in model.named_children()}
    assert per_layer == {
        "c1": 156, "act1": 0, "s2": 12, "act2": 0, "c3": 1_516, "act3": 0, "s4": 32, "act4": 0,
        "c5": 48_120, "act5": 0, "f6": 10_164, "act6": 0, "output": 0,
    }  # fmt: skip
    assert count_params(model) == count_params(model, trainable_only=True) == 60_000


def test_rbf_prototypes_are_a_fixed_buffer_in_the_checkpoint():
    model = cnnlab.create_model("lenet5_1998")
    assert "output.prototypes" in model.state_dict()
    assert all("prototypes" not in n for n, _ in model.named_parameters())
    protos = model.output.prototypes
    assert protos.shape == (10, 84) and set(protos.unique().tolist()) == {-1.0, 1.0}
    assert len({tuple(p.tolist()) for p in protos}) == 10


def test_digit_bitmaps_are_7_wide_12_high():
    assert len(RBF_DIGITS_7X12) == 10
    for bitmap in RBF_DIGITS_7X12:
        assert len(bitmap) == 12 and all(len(row) == 7 and set(row) <= {"#", "."} for row in bitmap)


def test_c3_connections_are_table_I():
    c3 = cnnlab.create_model("lenet5_1998").c3
    base = torch.zeros(1, 6, 14, 14)
    with torch.no_grad():
        ref = c3(base)
        seen = []
        for i in range(6):
            x = base.clone()
            x[:, i] = torch.randn(14, 14)
            changed = (c3(x) - ref).abs().flatten(2).amax(2)[0] > 0
            seen.append("".join("X" if c else "." for c in changed.tolist()))
    assert tuple(seen) == TABLE_I
    assert sum(row.count("X") for row in TABLE_I) == 60


def test_row_output_shapes():
    s = {r.name: r.output_shape for r in leaf_trace(meta_model("lenet5_1998"), (1, 32, 32))}
    assert s["c1"] == (6, 28, 28) and s["s2"] == (6, 14, 14) and s["act3"] == (16, 10, 10)
    assert s["s4"] == (16, 5, 5) and s["c5"] == (120, 1, 1) and s["f6"] == (84,) and s["output"] == (10,)


def test_subsampling_is_coefficient_times_window_sum_plus_bias():
    s2 = cnnlab.create_model("lenet5_1998").s2
    x = torch.randn(2, 6, 4, 4)
    sums = x.unfold(2, 2, 2).unfold(3, 2, 2).sum((-1, -2))
    expected = sums * s2.weight.view(1, -1, 1, 1) + s2.bias.view(1, -1, 1, 1)
    with torch.no_grad():
        assert torch.allclose(s2(x), expected, atol=1e-6)


def test_scaled_tanh_appendix_A():
    f = ScaledTanh()
    a = torch.tensor([-1.0, 0.0, 1.0, 10.0])
    assert torch.allclose(f(a), 1.7159 * torch.tanh(2 * a / 3))
    assert abs(f(torch.tensor(1.0)).item() - 1.0) < 1e-4  # f(1) = 1 (Appendix A)


def test_output_is_minus_squared_distance_to_prototypes():
    model = cnnlab.create_model("lenet5_1998").eval()
    x = torch.randn(3, 1, 32, 32)
    with torch.no_grad():
        f6 = model.act6(model.f6(model.forward_head(model.forward_features(x), pre_logits=True)))
        expected = -torch.cdist(f6, model.output.prototypes).pow(2)
        assert torch.allclose(model(x), expected, atol=1e-4)
        # a unit state equal to class 3's bitmap scores 0, the best possible logit
        logits = model.output(model.output.prototypes[3:4])
    assert logits[0, 3] == 0 and logits.argmax().item() == 3


def test_classifier_is_f6_and_reset_gives_new_codes():
    model = cnnlab.create_model("lenet5_1998")
    assert model.get_classifier() is model.f6
    old_f6 = model.f6.weight.detach().clone()
    model.reset_classifier(7)
    assert model.num_classes == 7 and model.output.prototypes.shape == (7, 84)
    assert set(model.output.prototypes.unique().tolist()) == {-1.0, 1.0}
    assert not torch.equal(model.f6.weight, old_f6)
    again = cnnlab.create_model("lenet5_1998", num_classes=7)
    assert torch.equal(again.output.prototypes, model.output.prototypes)  # seeded: reproducible
    model.reset_classifier(10)
    assert torch.equal(model.output.prototypes, cnnlab.create_model("lenet5_1998").output.prototypes)
    assert count_params(model) == 60_000


def test_pre_logits_is_the_120_unit_input_of_f6():
    model = cnnlab.create_model("lenet5_1998").eval()
    with torch.no_grad():
        pre = model.forward_head(model.forward_features(torch.randn(2, 1, 32, 32)), pre_logits=True)
    assert pre.shape == (2, 120) and model.f6.in_features == 120


def test_initialisation_appendix_A():
    model = cnnlab.create_model("lenet5_1998")
    for layer, fan_in in ((model.c1, 25), (model.c3.maps_0_5, 75), (model.c3.maps_6_14, 100),
                          (model.c3.map_15, 150), (model.c5, 400), (model.f6, 120), (model.s2, 4)):  # fmt: skip
        bound = 2.4 / fan_in
        assert layer.weight.abs().max() <= bound and layer.bias.abs().max() <= bound


def test_input_normalisation_sec_II_A():
    card = cnnlab.model_card("lenet5_1998")
    (mean,), (std,) = card.mean, card.std
    assert abs((0 - mean) / std - (-0.1)) < 1e-9 and abs((1 - mean) / std - 1.175) < 1e-9


def test_28x28_input_fails_clearly():
    model = cnnlab.create_model("lenet5_1998")
    with pytest.raises(InputShapeError, match=r"1x28x28.*c5.*1x32x32"):
        model(torch.randn(2, 1, 28, 28))


def test_modern_lenet5_is_unchanged():
    card = cnnlab.model_card("lenet5")
    assert card.params == 61_706 == count_params(meta_model("lenet5"))


def test_connections_sec_II_B():
    """Sec. II.B's connection counts (biases included), derived from the built layer sizes:
    each output unit connects to its kernel window in every input map it sees, plus a bias."""
    model = meta_model("lenet5_1998")
    out = {r.name: r.output_shape for r in leaf_trace(model, (1, 32, 32))}
    (k1, _), (k3, _), (k5, _) = model.c1.kernel_size, model.c3.maps_0_5.kernel_size, model.c5.kernel_size
    assert model.s2.window == model.s4.window
    window = model.s2.window  # 2x2 subsampling (Sec. II.B)

    def units(shape):
        n = 1
        for d in shape:
            n *= d
        return n

    c3_inputs = [col.count("X") for col in zip(*TABLE_I)]  # S2 maps seen by each C3 map
    maps3, h3, w3 = out["act3"]
    connections = {
        "C1": units(out["c1"]) * (model.in_chans * k1 * k1 + 1),
        "S2": units(out["s2"]) * (window * window + 1),
        "C3": h3 * w3 * sum(n * k3 * k3 + 1 for n in c3_inputs),
        "S4": units(out["s4"]) * (window * window + 1),
        "C5": units(out["c5"]) * (out["act4"][0] * k5 * k5 + 1),
        "F6": units(out["f6"]) * (out["act5"][0] + 1),
        "output": units(out["output"]) * out["f6"][0],  # RBF: no bias
    }
    assert maps3 == len(c3_inputs) == 16
    # As printed in Sec. II.B; F6's 10,164 is printed as trainable parameters (fully connected).
    assert connections == {
        "C1": 122_304, "S2": 5_880, "C3": 151_600, "S4": 2_000, "C5": 48_120, "F6": 10_164, "output": 840,
    }  # fmt: skip
    assert sum(connections.values()) == 340_908
    assert cnnlab.model_card("lenet5_1998").paper_macs == "340,908 connections (Sec. II.B)"


def test_padding_2_is_designed_for_28x28():
    model = cnnlab.create_model("lenet5", padding=2)
    assert model.default_input_size == (1, 28, 28)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(InputShapeError, match="use input 1x28x28"):
        model(torch.randn(2, 1, 32, 32))
    assert cnnlab.create_model("lenet5").default_input_size == (1, 32, 32)


@pytest.mark.parametrize("padding", [-1, 16, 1.5, True])
def test_bad_padding_is_refused(padding):
    from cnnlab.errors import ConfigError

    with pytest.raises(ConfigError, match="padding"):
        LeNet5(padding=padding)


@pytest.mark.parametrize("name", ["lenet5", "lenet5_1998"])
def test_reset_classifier_keeps_dtype(name):
    model = cnnlab.create_model(name).double()
    model.reset_classifier(5)
    assert model.get_classifier().weight.dtype == torch.float64
    assert model(torch.randn(2, 1, 32, 32, dtype=torch.float64)).shape == (2, 5)
