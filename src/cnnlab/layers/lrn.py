"""Local response normalisation across channels with ``alpha`` multiplying the *sum* of squares.

Krizhevsky et al. (2012, Sec. 3.3) write

    b[i] = a[i] / (k + alpha * sum_{j = max(0, i - n/2)}^{min(N - 1, i + n/2)} a[j]^2) ** beta

while ``nn.LocalResponseNorm`` (like Caffe) divides ``alpha`` by ``n``: it normalises by the
*mean* of the squares. Papers that quote Krizhevsky's constants (k=2, n=5, alpha=1e-4,
beta=0.75) mean the sum, so ``LRN`` takes ``alpha`` as such a paper prints it and hands
``alpha * n`` to PyTorch. The window is the same: PyTorch pads ``n // 2`` channels on each
side for odd ``n``, which is the paper's clipped ``i - n/2 .. i + n/2``.
"""

from __future__ import annotations

from torch import nn

from ..errors import ConfigError


class LRN(nn.LocalResponseNorm):
    """Cross-channel LRN with the sum convention; ``alpha`` as the paper prints it."""

    def __init__(self, n: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"LRN window n must be a positive integer, got {n!r}; Krizhevsky et al. use n=5")
        super().__init__(size=n, alpha=alpha * n, beta=beta, k=k)
        self.paper_alpha = alpha

    def extra_repr(self) -> str:
        return f"n={self.size}, alpha={self.paper_alpha} (sum of squares), beta={self.beta}, k={self.k}"
