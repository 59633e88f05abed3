"""Ctrl-C and SIGTERM during training (issue 19): the run stops at a step boundary, keeps its
checkpoint, says how to resume, exits 130 / 143, and resumes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from cnnlab.engine.run import train_recipe


def _wait_for_epoch(run_dir, proc, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (run_dir / "checkpoints" / "last.pt").is_file():
            return
        if proc.poll() is not None:
            raise AssertionError(f"training ended early: {proc.communicate()}")
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("no epoch finished in time")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["sigint", "sigterm"])
def test_a_signal_stops_training_at_a_safe_point_and_it_resumes(tmp_path, signum, code):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cnnlab",
            "train",
            "lenet5",
            "--run-dir",
            str(run_dir),
            "--epochs",
            "200",
            "--no-progress",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_epoch(run_dir, proc)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, (out, err)
    assert "Traceback" not in err
    line = next(x for x in out.splitlines() if x.startswith("interrupted after epoch"))
    assert f"resume with `cnnlab train --resume {run_dir}`" in line and signal.Signals(signum).name in line
    assert not (run_dir / "report.json").exists()
    assert not (run_dir / ".lock").read_text()  # the lock went with the run
    # The checkpoint it names resumes (here to a short end), as after any interruption.
    done = int(line.split("epoch ")[1].split(",")[0])
    resumed = train_recipe(
        "", overrides=[f"epochs={done + 1}"], resume=run_dir, progress=False, print_fn=lambda s: None
    )
    assert [h["epoch"] for h in resumed.history] == list(range(1, done + 2))
