"""A read-only or full disk (issue 19): one line naming the folder and the errno's meaning,
no traceback, and no earlier checkpoint lost. The disk is mocked at the system call."""

from __future__ import annotations

import errno
import os

import pytest
import torch

from cnnlab.cli.main import main
from cnnlab.engine.checkpoint import load_checkpoint

REAL_REPLACE = os.replace


def _full_disk_at(name: str, after: int):
    """os.replace that raises ENOSPC for the ``after``-th and later renames onto ``name``."""
    seen = {"n": 0}

    def replace(src, dst, *args, **kwargs):
        if os.path.basename(dst) == name:
            seen["n"] += 1
            if seen["n"] >= after:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
        return REAL_REPLACE(src, dst, *args, **kwargs)

    return replace


def test_a_full_disk_mid_training_is_one_line_and_keeps_the_last_checkpoint(tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "run"
    monkeypatch.setattr(os, "replace", _full_disk_at("last.pt", after=2))
    assert main(["train", "lenet5", "--run-dir", str(run_dir), "--epochs", "3", "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert f"cannot write last.pt in {run_dir / 'checkpoints'}: No space left on device (ENOSPC)" in err
    assert "no earlier file was changed" in err
    ckpt = load_checkpoint(run_dir / "checkpoints" / "last.pt")  # epoch 1's, whole and loadable
    assert ckpt["epoch"] == 1
    assert not [p for p in (run_dir / "checkpoints").iterdir() if p.name.startswith(".")]  # no temporary left


@pytest.mark.parametrize("command", ["eval", "export", "explain"])
def test_a_read_only_output_folder_is_one_line(tmp_path, monkeypatch, capsys, command):
    run_dir = tmp_path / "run"
    assert main(["train", "lenet5", "--run-dir", str(run_dir), "--epochs", "1", "--no-progress"]) == 0
    capsys.readouterr()
    before = (run_dir / "checkpoints" / "last.pt").read_bytes()
    import tempfile

    real = tempfile.mkstemp

    def read_only(*args, dir=None, **kwargs):
        if dir is not None and "out" in str(dir):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(dir))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    out = tmp_path / "out"
    out.mkdir()  # there, but the disk refuses to write in it
    image = tmp_path / "x.png"
    from PIL import Image

    Image.new("L", (32, 32), 128).save(image)
    argv = {
        "eval": ["eval", str(run_dir), "-o", str(out / "eval.json")],
        "export": ["export", str(run_dir), "--out", str(out / "m.onnx")],
        "explain": ["explain", "saliency", str(run_dir), "--image", str(image), "-o", str(out)],
    }[command]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err and "Read-only file system (EROFS)" in err
    assert str(out) in err
    assert (run_dir / "checkpoints" / "last.pt").read_bytes() == before
    assert torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 1
