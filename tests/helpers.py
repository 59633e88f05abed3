"""Shared test helpers."""

from __future__ import annotations

import torch

import cnnlab
from cnnlab.registry import model_card


def small_model(name: str, **overrides):
    """A registered model at its card's test options, with the matching input batch."""
    card = model_card(name)
    kwargs = {**card.test_kwargs, **overrides}
    model = cnnlab.create_model(name, **kwargs)
    size = card.test_input_size or card.input_size
    size = (model.in_chans, *size[1:])
    return model, torch.randn(2, *size)


def meta_model(name: str, **kwargs):
    """A registered model on the meta device: shapes only, no memory."""
    with torch.device("meta"):
        return cnnlab.create_model(name, **kwargs)


def check_whole_branches_dropped(model, units, branch_attr: str, x, steps: int = 5) -> None:
    """Each unit's ``drop_path`` receives exactly the unit's branch output (the module named
    ``branch_attr``) and, per sample, zeroes it whole or passes it scaled by 1 / keep; both
    outcomes happen over ``steps`` training forwards of ``x``."""
    branch, calls, hooks = {}, [], []

    def assert_is_branch(name, tensor):
        assert torch.equal(tensor, branch[name]), f"{name}.drop_path must wrap F(x), {branch_attr}'s output"

    for name, unit in units:
        hooks.append(
            getattr(unit, branch_attr).register_forward_hook(
                lambda m, a, o, n=name: branch.__setitem__(n, o.detach().clone())
            )
        )
        hooks.append(unit.drop_path.register_forward_pre_hook(lambda m, a, n=name: assert_is_branch(n, a[0])))
        hooks.append(
            unit.drop_path.register_forward_hook(
                lambda m, a, o, n=name: calls.append((n, m.drop_prob, a[0].detach().clone(), o.detach().clone()))
            )
        )
    try:
        with torch.no_grad():
            for _ in range(steps):
                model(x)
    finally:
        for h in hooks:
            h.remove()
    assert len(calls) == steps * len(units)
    dropped = kept = 0
    for name, drop_prob, inp, out in calls:
        for i in range(inp.shape[0]):
            if not out[i].any():
                assert inp[i].any(), name
                dropped += 1
            else:
                assert torch.allclose(out[i], inp[i] / (1 - drop_prob), rtol=1e-5, atol=1e-6), name
                kept += 1
    assert dropped > 0 and kept > 0
