import pytest
import torch

from cnnlab.errors import ConfigError
from cnnlab.layers import DropPath, drop_path_rates


def test_identity_in_eval():
    layer = DropPath(0.7).eval()
    x = torch.randn(8, 3, 4, 4)
    assert torch.equal(layer(x), x)


@pytest.mark.parametrize("mode", ["row", "batch"])
def test_drops_whole_branches_with_the_configured_probability(mode):
    torch.manual_seed(0)
    drop_prob, trials = 0.3, 4000
    layer = DropPath(drop_prob, mode=mode).train()
    out = (
        layer(torch.ones(trials, 2, 3, 3))
        if mode == "row"
        else torch.cat([layer(torch.ones(1, 2, 3, 3)) for _ in range(trials)])
    )
    per_sample = out.flatten(1)
    # Each sample's branch is either dropped whole (all zeros) or kept whole, scaled by 1/keep.
    kept = (per_sample == 1 / (1 - drop_prob)).all(1)
    dropped = (per_sample == 0).all(1)
    assert bool((kept | dropped).all())
    rate = dropped.float().mean().item()
    assert abs(rate - drop_prob) < 4 * (drop_prob * (1 - drop_prob) / trials) ** 0.5  # 4 sigma
    assert abs(out.mean().item() - 1.0) < 0.05  # unbiased in expectation


def test_batch_mode_shares_one_gate():
    torch.manual_seed(1)
    layer = DropPath(0.5, mode="batch").train()
    for _ in range(20):
        out = layer(torch.ones(6, 1, 2, 2)).flatten(1)
        assert bool((out == out[0]).all())


def test_linear_decay_rule():
    # Huang et al. 2016, Eq. 4 with p_L = 0.5 over L = 54 blocks (ResNet-110).
    rates = drop_path_rates(0.5, 54)
    assert len(rates) == 54 and rates[-1] == 0.5 and rates[0] == pytest.approx(0.5 / 54)
    assert all(b > a for a, b in zip(rates, rates[1:]))


@pytest.mark.parametrize("bad", [-0.1, 1.0, True])
def test_bad_probabilities(bad):
    with pytest.raises(ConfigError, match=repr(bad)):
        DropPath(bad)
    with pytest.raises(ConfigError, match=repr(bad)):
        drop_path_rates(bad, 3)
