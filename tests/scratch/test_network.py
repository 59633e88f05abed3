"""The NumPy trainer: LeNet-5 from the scratch layers learns digits."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.scratch import lenet5, train_lenet5_digits
from cnnlab.scratch.network import SGD, digits_split


def test_one_batch_is_overfit_and_momentum_updates_in_place() -> None:
    rng = np.random.default_rng(0)
    xtr, _, ytr, _ = digits_split()
    net = lenet5(rng)
    opt = SGD(net, lr=0.05)
    first = net.layers[0].params["w"]
    losses = [opt.step(g) or loss for loss, g in (net.loss_and_grads(xtr[:16], ytr[:16]) for _ in range(40))]
    assert losses[-1] < 0.1 * losses[0]
    assert net.layers[0].params["w"] is first  # parameters are updated in place


@pytest.mark.slow
def test_lenet5_reaches_95_percent_on_digits() -> None:
    result = train_lenet5_digits(epochs=12, seed=0)
    assert result["test_acc"] >= 0.95, result["history"]
