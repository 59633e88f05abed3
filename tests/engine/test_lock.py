"""One run per folder (issue 19): a second training process on a folder in use is refused
with the holder's PID; a lock left by a killed process is taken over, and said so."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cnnlab.cli.main import main
from cnnlab.engine.lock import LOCK_NAME, run_lock
from cnnlab.engine.run import train_recipe
from cnnlab.errors import RunInUseError

QUIET = {"progress": False, "print_fn": lambda s: None}


def test_a_second_run_on_a_folder_in_use_is_refused_with_the_holder_pid(tmp_path):
    run_dir = tmp_path / "run"
    with run_lock(run_dir):  # another process training here (a separate flock)
        with pytest.raises(RunInUseError, match=rf"{run_dir} is in use: process {os.getpid()} is training in it"):
            train_recipe("lenet5-digits", overrides=["epochs=1"], run_dir=run_dir, **QUIET)
        with pytest.raises(RunInUseError, match="cnnlab train --resume"):
            train_recipe("lenet5-digits", overrides=["epochs=1"], run_dir=run_dir, **QUIET)
    assert not (run_dir / "recipe.yaml").exists()  # the refused run wrote nothing
    lines = []
    result = train_recipe(
        "lenet5-digits", overrides=["epochs=1"], run_dir=run_dir, progress=False, print_fn=lines.append
    )
    assert result.history and (run_dir / LOCK_NAME).read_text() == ""  # released, no PID left behind
    assert not any("taking over" in line for line in lines)


def test_the_cli_refuses_in_one_line(tmp_path, capsys):
    run_dir = tmp_path / "run"
    with run_lock(run_dir):
        assert main(["train", "lenet5", "--run-dir", str(run_dir), "--epochs", "1", "--no-progress"]) != 0
    err = capsys.readouterr().err
    assert f"process {os.getpid()}" in err and "Traceback" not in err


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    (run_dir / LOCK_NAME).write_text(f"{pid}\n")  # its PID stayed; its flock went with it
    lines = []
    train_recipe("lenet5-digits", overrides=["epochs=1"], run_dir=run_dir, progress=False, print_fn=lines.append)
    assert any(f"taking over the lock left by process {pid}, which is no longer running" in line for line in lines)
    assert (run_dir / "report.json").is_file()


def test_a_resume_holds_the_lock_too(tmp_path):
    run_dir = tmp_path / "run"
    train_recipe("lenet5-digits", overrides=["epochs=1"], run_dir=run_dir, **QUIET)
    with run_lock(run_dir), pytest.raises(RunInUseError, match="is in use"):
        train_recipe("", overrides=["epochs=2"], resume=run_dir, **QUIET)
    resumed = train_recipe("", overrides=["epochs=2"], resume=run_dir, **QUIET)
    assert [h["epoch"] for h in resumed.history] == [1, 2]
