"""DistributedDataParallel on the CPU: two gloo processes under torchrun, each with half of
every global batch, end with the weights and metrics of one process on the whole batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cnnlab.engine import all_reduce_metrics, init_distributed, is_main_process, unwrap, wrap_ddp
from cnnlab.engine.distributed import training_module, uses_aux
from cnnlab.errors import ConfigError
from tests.engine import TwoHeads

WORKER = Path(__file__).with_name("_ddp_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def test_single_process_defaults(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    info = init_distributed(device="cpu")
    assert (info.rank, info.world_size, info.distributed, info.backend) == (0, 1, False, None)
    assert is_main_process()
    assert all_reduce_metrics({"loss": 2, "acc": 0.5}) == {"loss": 2.0, "acc": 0.5}
    model = TwoHeads()
    assert wrap_ddp(model, "cpu") is model
    assert uses_aux(model) and unwrap(training_module(model)) is model
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ConfigError, match="WORLD_SIZE='two'"):
        init_distributed(device="cpu")


@pytest.mark.xdist_group("torchrun")  # one worker for all torchrun tests: no two rendezvous at once
def test_two_gloo_processes_match_one_process_on_the_global_batch(tmp_path):
    out = tmp_path / "ddp.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(WORKER), str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ddp = torch.load(out, weights_only=True)
    assert ddp["sum"] == {"rank": 1.0, "one": 2.0} and ddp["mean"] == {"rank": 0.5}
    assert ddp["rng_resumed"] == {"ok": 2.0}  # both ranks got their own generators back

    from tests.engine._ddp_worker import train  # noqa: PLC0415

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = train()
    finally:
        torch.set_num_threads(threads)

    for name in ("lenet5", "two_heads"):
        for key, value in single[name]["model"].items():
            torch.testing.assert_close(ddp[name]["model"][key], value, rtol=1e-6, atol=1e-6, msg=f"{name}.{key}")
        assert any(not torch.equal(v, torch.zeros_like(v)) for v in single[name]["model"].values())
        for got, want in zip(ddp[name]["history"], single[name]["history"], strict=True):
            for key in ("train_loss", "train_acc1", "val_loss", "val_acc1"):
                assert got[key] == pytest.approx(want[key], rel=1e-6, abs=1e-7), (name, key)
