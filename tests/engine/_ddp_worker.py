"""Run by test_ddp.py under ``python -m torch.distributed.run --nproc-per-node 2``.

Each of the two gloo processes trains on its half of every global batch through
``init_distributed``, ``wrap_ddp`` and ``fit``; rank 0 saves the weights and metrics to
the file named on the command line. ``train`` is also what the test runs on one process.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for tests.engine

import cnnlab  # noqa: E402
from cnnlab.engine import all_reduce_metrics, cleanup_distributed, fit, init_distributed, wrap_ddp  # noqa: E402
from tests.engine import TensorLoader, TwoHeads, random_digits  # noqa: E402

GLOBAL_BATCH, EPOCHS = 16, 2


def train(rank: int = 0, world_size: int = 1) -> dict:
    """LeNet-5 (no batch norm, so per-rank statistics cannot differ) and a two-head model
    with auxiliary losses, each a few SGD steps with momentum; returns weights and history."""
    device = torch.device("cpu")
    results = {}
    for name in ("lenet5", "two_heads"):
        torch.manual_seed(0)
        if name == "lenet5":
            model = cnnlab.create_model("lenet5", num_classes=10)
            x, y = random_digits(48)
        else:
            model = TwoHeads()
            x, y = torch.randn(48, 1, 4, 4), torch.randint(0, 3, (48,))
        train_loader = TensorLoader(x, y, GLOBAL_BATCH // world_size, seed=3, rank=rank, world_size=world_size)
        val_loader = TensorLoader(x, y, 24 // world_size, shuffle=False, rank=rank, world_size=world_size)
        net = wrap_ddp(model, device)
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
        history = fit(net, train_loader, val_loader, opt, epochs=EPOCHS, device=device, topk=(1,))
        results[name] = {"model": model.state_dict(), "history": list(history)}
    return results


def rank_generators_resume(rank: int) -> bool:
    """Each rank draws different random numbers; a checkpoint of every rank's generators
    gives each rank its own back (not rank 0's)."""
    from cnnlab.engine.checkpoint import own_rng_state, rank_rng_states, set_rng_state

    torch.manual_seed(100 + rank)
    ckpt = {"rng_ranks": rank_rng_states()}
    expected = torch.rand(4)
    torch.manual_seed(999)  # whatever happened after the checkpoint
    set_rng_state(own_rng_state(ckpt))
    return torch.equal(torch.rand(4), expected)


def main(out: str) -> None:
    torch.set_num_threads(1)
    info = init_distributed(device="cpu")
    assert info.distributed and info.world_size == 2 and info.backend == "gloo", info
    results = train(info.rank, info.world_size)
    results["rng_resumed"] = all_reduce_metrics({"ok": float(rank_generators_resume(info.rank))}, op="sum")
    results["sum"] = all_reduce_metrics({"rank": info.rank, "one": 1}, op="sum")
    results["mean"] = all_reduce_metrics({"rank": info.rank}, op="mean")
    if info.is_main:
        torch.save(results, out)
    cleanup_distributed()


if __name__ == "__main__":
    main(sys.argv[1])
