"""Checkpoints: atomic writes, safe loading (corrupted, truncated and malicious files),
RNG round trips, the checkpointer's files, and exact resume after SIGKILL."""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import cnnlab
from cnnlab.engine import (
    Callback,
    Checkpointer,
    CheckpointError,
    MetricsLogger,
    fit,
    load_checkpoint,
    resume_state,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from cnnlab.engine.checkpoint import restore_training_state
from cnnlab.errors import UnsafeFileError
from tests.engine import StubSchedule, TensorLoader, random_digits

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small_state(epoch=1):
    model = cnnlab.create_model("lenet5", num_classes=10)
    return {
        "model": model.state_dict(),
        "epoch": epoch,
        "global_step": 4 * epoch,
        "rng": rng_state(),
        "history": [{"epoch": epoch, "val_acc1": 0.5}],
    }


# -- writing ----------------------------------------------------------------------------------
def test_round_trip_with_weights_only(tmp_path):
    state = small_state()
    path = save_checkpoint(tmp_path / "a" / "last.pt", state)
    loaded = torch.load(path, weights_only=True)  # what load_checkpoint does, plainly
    assert loaded["format"] == "cnnlab-checkpoint" and loaded["format_version"] == 1
    assert isinstance(loaded["cnnlab_version"], str) and isinstance(loaded["torch_version"], str)
    ckpt = load_checkpoint(path)
    assert all(torch.equal(ckpt["model"][k], v) for k, v in state["model"].items())
    assert ckpt["history"] == state["history"]
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"], "no temporary file is left behind"


def test_failed_write_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "last.pt", small_state(epoch=1))

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, small_state(epoch=2))
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_objects_that_need_code_to_load_are_refused_at_save(tmp_path):
    class Recipe:
        pass

    with pytest.raises(CheckpointError, match=r"state\['recipe'\].*Recipe"):
        save_checkpoint(tmp_path / "x.pt", {"epoch": 1, "recipe": Recipe()})
    assert not (tmp_path / "x.pt").exists()


def test_rng_states_round_trip():
    state = rng_state()
    draws = (torch.rand(3), np.random.rand(3), random.random())
    torch.rand(5), np.random.rand(5), random.random()
    set_rng_state(state)
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(draws[0], again[0]) and np.array_equal(draws[1], again[1]) and draws[2] == again[2]


# -- reading damaged and hostile files --------------------------------------------------------
def test_truncated_checkpoint_names_the_file_and_the_others(tmp_path):
    folder = tmp_path / "checkpoints"
    save_checkpoint(folder / "epoch_001.pt", small_state(1))
    good = save_checkpoint(folder / "last.pt", small_state(2))
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"last\.pt .*truncated or corrupted.*epoch_001\.pt"):
        load_checkpoint(good)
    notes = []
    path, ckpt = resume_state(tmp_path, note=notes.append)
    assert path.name == "epoch_001.pt" and ckpt["epoch"] == 1
    assert len(notes) == 1 and notes[0].startswith("note: resuming from") and "epoch_001" in notes[0]
    assert notes[0].count("(") == notes[0].count(")")  # one reason per file, brackets balanced


@pytest.mark.parametrize("where", [0.3, 0.6, 0.95])
def test_flipped_bytes_are_caught(tmp_path, where):
    path = save_checkpoint(tmp_path / "last.pt", small_state())
    data = bytearray(path.read_bytes())
    data[int(len(data) * where)] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        load_checkpoint(path)


def test_garbage_and_missing_files(tmp_path):
    (tmp_path / "junk.pt").write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError, match=r"junk\.pt .*corrupted"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(
        CheckpointError, match=r"no checkpoint file at .*nope\.pt; try the previous checkpoint; others in .*junk\.pt"
    ):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="no readable checkpoint"):
        resume_state(tmp_path)
    with pytest.raises(CheckpointError, match="no checkpoint to resume from"):
        resume_state(tmp_path / "empty")


def test_bare_state_dict_is_not_a_training_checkpoint(tmp_path):
    torch.save(cnnlab.create_model("lenet5").state_dict(), tmp_path / "w.pt")
    with pytest.raises(CheckpointError, match="not a cnnlab training checkpoint.*load_state_dict"):
        load_checkpoint(tmp_path / "w.pt")


class RunsShell:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class WritesFile:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


@pytest.mark.parametrize("payload", [RunsShell, WritesFile])
@pytest.mark.parametrize("container", ["torch.save", "raw pickle"])
def test_malicious_checkpoint_is_refused_and_runs_nothing(tmp_path, payload, container):
    # The payload is live: plain unpickling would run it.
    probe = tmp_path / "probe"
    obj = pickle.loads(pickle.dumps(payload(probe)))
    if hasattr(obj, "close"):
        obj.close()
    assert probe.exists()

    marker = tmp_path / "pwned"
    path = tmp_path / "checkpoints" / "last.pt"
    path.parent.mkdir()
    state = {"format": "cnnlab-checkpoint", "format_version": 1, "epoch": 1, "model": payload(marker)}
    if container == "torch.save":
        torch.save(state, path)
    else:
        path.write_bytes(pickle.dumps(state, protocol=2))
    with pytest.raises(
        UnsafeFileError, match=r"refused: .*last\.pt would execute code when loaded.*nothing was executed"
    ):
        load_checkpoint(path)
    with pytest.raises(CheckpointError):
        resume_state(tmp_path)
    assert not marker.exists()


# -- the checkpointer -------------------------------------------------------------------------
def test_checkpointer_files_best_and_resume_lr(tmp_path):
    torch.manual_seed(0)
    x, y = random_digits(64)
    train, val = TensorLoader(x, y, 16), TensorLoader(x, y, 32, shuffle=False)
    model = cnnlab.create_model("lenet5", num_classes=10)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    ckpt = Checkpointer(every=2, monitor="train_loss", mode="min")
    history = fit(
        model,
        train,
        val,
        opt,
        epochs=4,
        device="cpu",
        run_dir=tmp_path,
        callbacks=[ckpt],
        recipe={"lr": 0.05, "out": tmp_path},
    )
    folder = tmp_path / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["best.pt", "epoch_002.pt", "epoch_004.pt", "last.pt"]
    last = load_checkpoint(folder / "last.pt")
    assert last["epoch"] == 4 and last["global_step"] == 16 and last["metrics"] == history[-1]
    assert last["recipe"] == {"lr": 0.05, "out": str(tmp_path)}
    assert last["model_config"] == {"name": "lenet5", "num_classes": 10, "in_chans": 1, "options": {}}
    assert last["loader"]["epoch"] == 4 and last["loader"]["seed"] == 0
    best_epoch = min(history, key=lambda r: r["train_loss"])["epoch"]
    assert load_checkpoint(folder / "best.pt")["epoch"] == best_epoch
    assert load_checkpoint(folder / "epoch_002.pt")["epoch"] == 2

    # resume with a new learning rate, as the course does after an interruption
    model2 = cnnlab.create_model("lenet5", num_classes=10)
    opt2 = torch.optim.SGD(model2.parameters(), lr=0.05, momentum=0.9)
    start = restore_training_state(last, model2, opt2, lr=0.01)
    assert start == 4 and opt2.param_groups[0]["lr"] == 0.01
    assert opt2.state_dict()["state"][0]["momentum_buffer"].abs().sum() > 0
    wrong = cnnlab.create_model("lenet5", num_classes=7)
    with pytest.raises(CheckpointError, match="lenet5 with 10 classes"):
        restore_training_state(last, wrong)


# -- exact resume after SIGKILL ---------------------------------------------------------------
EPOCHS, STEPS_PER_EPOCH, KILL_AT = 4, 4, 10  # global step 10 is the middle of epoch 3


class KillAt(Callback):
    def __init__(self, step):
        self.step = step

    def on_batch_end(self, state, batch_metrics):
        if batch_metrics.get("phase") == "train" and state.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


@contextlib.contextmanager
def deterministic():
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(det)
        torch.set_num_threads(threads)


def train_run(run_dir, kill_at=None, resume=False):
    """LeNet-5 on a small digits-like set, 4 epochs of 4 steps, with momentum, a schedule,
    random flips from the global generator and dropout-free determinism."""
    with deterministic():
        torch.manual_seed(1234)
        random.seed(1234)
        np.random.seed(1234)
        x, y = random_digits(64)
        train = TensorLoader(x, y, 16, seed=7, flip=True)
        val = TensorLoader(x, y, 32, shuffle=False)
        model = cnnlab.create_model("lenet5", num_classes=10)
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
        sched = StubSchedule(opt, gamma=0.99)
        callbacks = [MetricsLogger(), Checkpointer(every=1)]
        if kill_at is not None:
            callbacks.append(KillAt(kill_at))
        history = fit(
            model,
            train,
            val,
            opt,
            epochs=EPOCHS,
            device="cpu",
            scheduler=sched,
            callbacks=callbacks,
            run_dir=run_dir,
            resume_from=run_dir if resume else None,
        )
        return model.state_dict(), history, sched.state_dict()


def _comparable(rows):
    return [{k: v for k, v in r.items() if not k.endswith(("seconds", "per_s"))} for r in rows]


def test_resume_after_sigkill_matches_an_uninterrupted_run(tmp_path, monkeypatch):
    straight_dir, killed_dir = tmp_path / "straight", tmp_path / "killed"
    weights, history, sched = train_run(straight_dir)

    code = f"import sys; from tests.engine.test_checkpoint import train_run; train_run(sys.argv[1], kill_at={KILL_AT})"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(killed_dir)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert load_checkpoint(killed_dir / "checkpoints" / "last.pt")["epoch"] == 2
    assert len((killed_dir / "metrics.jsonl").read_text().splitlines()) == 2

    shutil.copytree(killed_dir, tmp_path / "no_rng")

    resumed_weights, resumed_history, resumed_sched = train_run(killed_dir, resume=True)
    assert resumed_sched == sched == {"steps": EPOCHS * STEPS_PER_EPOCH, "epochs": EPOCHS}
    for key, value in weights.items():
        assert torch.equal(resumed_weights[key], value), key
    assert _comparable(resumed_history) == _comparable(history)
    rows = [json.loads(line) for line in (killed_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4] and _comparable(rows) == _comparable(history)
    csv_epochs = [line.split(",")[0] for line in (killed_dir / "metrics.csv").read_text().splitlines()]
    assert csv_epochs == ["epoch", "1", "2", "3", "4"]
    assert load_checkpoint(killed_dir / "checkpoints" / "last.pt")["epoch"] == EPOCHS

    # The flips draw from the global generator: without restoring it the run differs, so
    # the equality above is evidence, not luck.
    monkeypatch.setattr("cnnlab.engine.loop.set_rng_state", lambda state: None)
    other_weights, _, _ = train_run(tmp_path / "no_rng", resume=True)
    assert any(not torch.equal(other_weights[k], v) for k, v in weights.items())


def test_every_reader_of_a_run_falls_back_like_resume(tmp_path, capsys):
    """eval, predict, explain, export and transfer read a run through load_run_model: a corrupt
    best.pt falls back to last.pt, then the newest readable epoch file, with one clean note;
    when none is readable, one reason per file with balanced brackets (issue 19)."""
    from cnnlab.engine.run import load_run_model, train_recipe

    run_dir = tmp_path / "run"
    train_recipe(
        "lenet5-digits",
        overrides=["epochs=2", "checkpoint_every=1"],
        run_dir=run_dir,
        progress=False,
        print_fn=lambda s: None,
    )
    folder = run_dir / "checkpoints"
    (folder / "best.pt").write_bytes(b"not a checkpoint")
    capsys.readouterr()
    load_run_model(run_dir)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"note: using {folder / 'last.pt'} (epoch 2) because best.pt")
    (folder / "last.pt").write_bytes(b"")
    load_run_model(run_dir)
    assert f"note: using {folder / 'epoch_002.pt'}" in capsys.readouterr().err
    for f in folder.iterdir():
        f.write_bytes(b"x")
    with pytest.raises(CheckpointError) as info:
        load_run_model(run_dir)
    message = str(info.value)
    assert all(name in message for name in ("best.pt", "last.pt", "epoch_002.pt", "epoch_001.pt"))
    assert message.count("(") == message.count(")")


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize(
    "argv",
    [["eval", "{evil}"], ["export", "{evil}"], ["transfer", "probe", "{evil}", "--dataset", "digits"]],
    ids=["eval", "export", "transfer-probe"],
)
def test_every_command_says_an_unsafe_file_would_execute_code(tmp_path, capsys, argv):
    """Was: export and transfer probe said "neither a cnnlab run nor a registered model" (issue 19)."""
    import pickle

    from cnnlab.cli.main import main

    evil, marker = tmp_path / "evil.pt", tmp_path / "RAN"
    with open(evil, "wb") as f:
        pickle.dump({"w": _RunsCode(marker)}, f, protocol=2)
    assert main([a.format(evil=evil) for a in argv]) == 1
    err = capsys.readouterr().err
    assert f"refused: {evil} would execute code when loaded" in err and "nothing was executed" in err
    assert not marker.exists()


def test_weights_that_would_run_code_are_refused_without_torch_s_advice(tmp_path):
    import pickle

    from cnnlab.errors import WeightsError

    evil, marker = tmp_path / "evil.pth", tmp_path / "RAN"
    with open(evil, "wb") as f:
        pickle.dump({"w": _RunsCode(marker)}, f, protocol=2)
    with pytest.raises(WeightsError, match="would execute code when loaded") as info:
        cnnlab.create_model("lenet5", weights=evil)
    assert "weights_only=False" not in str(info.value) and "Re-running" not in str(info.value)
    assert not marker.exists()
