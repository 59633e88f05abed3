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


def model_fingerprint(model: torch.nn.Module) -> dict:
    """Everything a library could change in a model, to compare before and after: each
    parameter and buffer under every name it has (identity, storage, device, dtype, values,
    ``requires_grad``, ``.grad``), the module graph (every name and the object it holds), each
    module's mode and hooks, the global RNG state and the grad mode."""
    import torch.nn.modules.module as module_mod

    def tensor(t):
        return (
            id(t),
            t.untyped_storage().data_ptr() if t.device.type != "meta" else None,
            t.device,
            t.dtype,
            t.requires_grad,
            t.detach().clone() if t.device.type != "meta" else tuple(t.shape),
            id(t.grad) if t.grad is not None else None,
            type(t),
        )

    return {
        "params": {n: tensor(p) for n, p in model.named_parameters(remove_duplicate=False)},
        "buffers": {n: tensor(b) for n, b in model.named_buffers(remove_duplicate=False)},
        "modules": [(n, id(m), m.training, type(m)) for n, m in model.named_modules(remove_duplicate=False)],
        "hooks": [
            (n, attr, tuple((k, id(h)) for k, h in getattr(m, attr).items()))
            for n, m in model.named_modules(remove_duplicate=False)
            for attr in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
        ],
        "global_hooks": [
            tuple(getattr(module_mod, a).keys())
            for a in ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks")
        ],
        "rng": torch.get_rng_state(),
        "grad_enabled": torch.is_grad_enabled(),
    }


def assert_same_fingerprint(before: dict, after: dict) -> None:
    """``before == after``, tensors compared bitwise, with the first difference named."""
    assert before.keys() == after.keys()
    for key in before:
        a, b = before[key], after[key]
        if key in ("params", "buffers"):
            assert a.keys() == b.keys(), f"{key} names changed"
            for name in a:
                for i, (x, y) in enumerate(zip(a[name], b[name])):
                    same = torch.equal(x, y) if isinstance(x, torch.Tensor) else x == y
                    assert same, f"{key[:-1]} {name!r} changed (field {i}: {x!r:.60} -> {y!r:.60})"
        elif key == "rng":
            assert torch.equal(a, b), "the global RNG state changed"
        else:
            assert a == b, f"{key} changed"


def flop_counter_macs(model: torch.nn.Module, size: tuple[int, ...], device: str = "meta") -> int:
    """The peer's count: ``torch.utils.flop_counter.FlopCounterMode`` total FLOPs / 2 for one
    sample, run on a copy of ``model`` (its forward hooks removed) on ``device``. On the meta
    device it counts every op in its registry; on the CPU it misses the fused kernels (bare
    ``scaled_dot_product_attention``, LSTMs) that dispatch below it."""
    import copy

    from torch.utils.flop_counter import FlopCounterMode

    twin = copy.deepcopy(model)
    for m in twin.modules():
        m._forward_hooks.clear()
        m._forward_pre_hooks.clear()
    twin = twin.to(device).eval()  # as analyze counts: the eval-mode forward
    with FlopCounterMode(display=False) as counter:
        twin(torch.zeros((1, *size), device=device))
    return counter.get_total_flops() // 2
