"""Stochastic depth: Huang, Sun, Liu, Sedra & Weinberger (2016), "Deep networks with stochastic
depth", ECCV 2016, arXiv:1603.09382.

A residual block computes ``x + f(x)``. In training, stochastic depth drops ``f(x)`` whole with
probability ``drop_prob`` (the paper's 1 - p_l). Survivors are scaled by ``1 / (1 - drop_prob)``
so that the expectation matches the test-time network, which is then the plain residual
network: DropPath is the identity in eval mode. (The paper instead scales f(x) by p_l at test
time; the two are equivalent in expectation, and inverted scaling keeps eval free.)
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError

MODES = ("row", "batch")


def drop_path_rates(drop_path_rate: float, num_blocks: int) -> list[float]:
    """The paper's linear decay rule (Sec. 3, Eq. 4): block l of L gets drop probability
    ``l / L * drop_path_rate`` (p_l = 1 - l/L (1 - p_L)), so the first block is almost never
    dropped and the last one with ``drop_path_rate``; the paper uses 0.5 (p_L = 0.5)."""
    if isinstance(drop_path_rate, bool) or not 0 <= drop_path_rate < 1:
        raise ConfigError(f"drop_path_rate must be in [0, 1), got {drop_path_rate!r}; the paper uses 0.5")
    return [drop_path_rate * (i + 1) / num_blocks for i in range(num_blocks)]


class DropPath(nn.Module):
    """Drops the residual branch it wraps (apply it to ``f(x)``, not to ``x + f(x)``).

    ``mode="row"`` draws one gate per sample (timm's and most reimplementations' choice);
    ``mode="batch"`` one gate per mini-batch, as the paper's Torch code does.
    """

    def __init__(self, drop_prob: float = 0.0, mode: str = "row") -> None:
        super().__init__()
        if isinstance(drop_prob, bool) or not 0 <= drop_prob < 1:
            raise ConfigError(f"drop_prob must be in [0, 1), got {drop_prob!r}")
        if mode not in MODES:
            raise ConfigError(f"unknown DropPath mode {mode!r}; choose 'row' (per sample) or 'batch'")
        self.drop_prob = float(drop_prob)
        self.mode = mode

    def forward(self, branch: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_prob == 0.0:
            return branch
        keep = 1.0 - self.drop_prob
        shape = (branch.shape[0],) + (1,) * (branch.dim() - 1) if self.mode == "row" else (1,) * branch.dim()
        gate = branch.new_empty(shape).bernoulli_(keep)
        return branch * gate / keep

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob:g}, mode={self.mode!r}"
