"""A whole run from a recipe, through the library and the command line: the run directory's
files, resume, evaluation (1 and 10 crops), prediction, and bad overrides."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.cli.main import main
from cnnlab.data import load_dataset
from cnnlab.engine.run import evaluate_checkpoint, predict_images, train_recipe, train_subset
from cnnlab.errors import ConfigError
from cnnlab.viz import CurvePlotter

QUICK = ["epochs=2", "checkpoint_every=1"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "lenet5"
    result = train_recipe(
        "lenet5-digits",
        overrides=QUICK,
        run_dir=run_dir,
        callbacks=[CurvePlotter()],
        progress=False,
        print_fn=lambda s: None,
    )
    return result


def test_a_run_leaves_its_recipe_metrics_curves_checkpoints_and_report(run) -> None:
    d = run.run_dir
    for name in ("recipe.yaml", "metrics.csv", "metrics.jsonl", "curves.png", "report.json"):
        assert (d / name).is_file(), name
    assert sorted(p.name for p in (d / "checkpoints").iterdir()) == [
        "best.pt",
        "epoch_001.pt",
        "epoch_002.pt",
        "last.pt",
    ]
    assert [h["epoch"] for h in run.history] == [1, 2]
    report = json.loads((d / "report.json").read_text())
    assert report["test"]["images"] == 359 and report["test"]["acc1"] == run.test["acc1"] > 0.5
    assert np.asarray(report["confusion"]).sum() == 359
    assert len((d / "metrics.csv").read_text().strip().splitlines()) == 3  # header + 2 epochs


def test_resume_continues_where_the_run_stopped(run, tmp_path) -> None:
    import shutil

    copy = tmp_path / "resumed"
    shutil.copytree(run.run_dir, copy)
    result = train_recipe("", overrides=["epochs=3"], resume=copy, progress=False, print_fn=lambda s: None)
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    assert result.history[:2] == run.history  # the first two epochs are the original run's rows


def test_evaluation_matches_the_report_and_ten_crops_run(run) -> None:
    one = evaluate_checkpoint(run.run_dir / "checkpoints" / "last.pt")
    assert one["acc1"] == pytest.approx(run.test["acc1"]) and one["images"] == 359
    ten = evaluate_checkpoint(run.run_dir / "checkpoints" / "last.pt", crops=10)
    assert 0.0 < ten["acc1"] <= 1.0 and ten["crops"] == 10
    both = evaluate_checkpoint(run.run_dir, ensemble=[run.run_dir / "checkpoints" / "epoch_001.pt"])
    assert len(both["runs"]) == 2


def test_predict_names_the_top_classes(run, tmp_path) -> None:
    test = load_dataset("digits", "test")
    path = tmp_path / "digit.png"
    Image.fromarray(test.images[0, 0].numpy()).save(path)
    ((name, top),) = predict_images(run.run_dir, [path], k=3)
    assert name == str(path) and len(top) == 3
    assert abs(sum(p for _, p in top) - 1.0) < 0.5 and top[0][1] >= top[1][1] >= top[2][1]


def test_predict_reads_folders_and_names_what_is_missing(run, tmp_path) -> None:
    test = load_dataset("digits", "test")
    folder = tmp_path / "digits"
    folder.mkdir()
    for i in (2, 0, 1):
        Image.fromarray(test.images[i, 0].numpy()).save(folder / f"d{i}.png")
    (folder / "notes.txt").write_text("not an image")
    names = [name for name, _ in predict_images(run.run_dir, [folder], k=1)]
    assert names == [str(folder / f"d{i}.png") for i in (0, 1, 2)]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="holds no image files"):
        predict_images(run.run_dir, [tmp_path / "empty"], k=1)
    with pytest.raises(ConfigError, match=r"'nowhere.png' does not exist"):
        predict_images(run.run_dir, ["nowhere.png"], k=1)


def test_predict_and_eval_refuse_what_they_cannot_read(run, tmp_path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(ConfigError, match="notes.png' is not an image file PIL can read"):
        predict_images(run.run_dir, [text])
    with pytest.raises(ConfigError, match="top k=0"):
        predict_images(run.run_dir, [text], k=0)
    with pytest.raises(ConfigError, match=r"'.*nowhere' does not exist: give a run directory"):
        evaluate_checkpoint(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="lenet5 is a model's name: train it first"):
        predict_images("lenet5", [text])
    # Labels must mean the model's outputs: digits[5-9] relabels 5..9 as 0..4.
    with pytest.raises(
        ConfigError, match=r"trained on 10 classes \(0, 1, 2, 3, 4, 5, \.\.\.\); digits\[5-9\] has 5 \(5, 6"
    ):
        evaluate_checkpoint(run.run_dir, dataset="digits[5-9]")
    assert evaluate_checkpoint(run.run_dir, dataset="digits")["images"] == 359  # the same classes: scored


def test_cli_train_eval_predict(tmp_path) -> None:
    lines: list[str] = []
    run_dir = tmp_path / "cli-run"
    assert (
        main(["train", "lenet5", "--epochs", "1", "--run-dir", str(run_dir), "--no-progress"], print_fn=lines.append)
        == 0
    )
    # one test number, with the checkpoint it comes from and the images that chose it
    assert len([line for line in lines if line.startswith("test with best.pt (epoch")]) == 1
    assert any(line.startswith("checkpoint chosen on a validation split of 143 training images") for line in lines)
    lines.clear()
    assert main(["eval", str(run_dir)], print_fn=lines.append) == 0
    assert (run_dir / "eval.json").is_file() and (run_dir / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert any("macro avg" in line for line in lines)
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((32, 32), dtype=np.uint8)).save(image)
    lines.clear()
    assert main(["predict", str(run_dir), str(image), "--top", "2"], print_fn=lines.append) == 0
    assert len(lines) == 3
    lines.clear()
    assert main(["train", "--list-recipes"], print_fn=lines.append) == 0
    assert any(line.startswith("lenet5-digits") for line in lines)


def test_cli_resume_takes_more_epochs_and_refuses_what_it_would_ignore(tmp_path, capsys) -> None:
    run_dir = tmp_path / "r"
    quiet: list[str] = []
    assert (
        main(["train", "lenet5", "--epochs", "1", "--run-dir", str(run_dir), "--no-progress"], print_fn=quiet.append)
        == 0
    )
    lines: list[str] = []
    assert main(["train", "--resume", str(run_dir), "--no-progress"], print_fn=lines.append) == 0
    assert "already trained 1 of 1 epochs" in lines[0]
    lines.clear()
    assert main(["train", "--resume", str(run_dir), "--epochs", "2", "--no-progress"], print_fn=lines.append) == 0
    assert "planned for 1 epochs and now runs to 2" in lines[0] and any(line.startswith("epoch 2/2") for line in lines)
    assert json.loads((run_dir / "report.json").read_text())["epochs"] == 2
    assert main(["train", "--resume", str(run_dir), "--lr", "0.1"]) == 1
    assert "--lr-on-resume 0.1" in capsys.readouterr().err
    assert main(["train", "resnet20", "--resume", str(run_dir), "--batch-size", "8"]) == 1
    assert "MODEL, --batch-size would change what it resumed from" in capsys.readouterr().err
    # Fewer epochs than trained: refused before the run's recipe.yaml is rewritten.
    recipe_before = (run_dir / "recipe.yaml").read_text()
    assert main(["train", "--resume", str(run_dir), "--epochs", "1"]) == 1
    assert "has trained 2 epochs, more than the 1 asked for; resume with --epochs 2" in capsys.readouterr().err
    assert (run_dir / "recipe.yaml").read_text() == recipe_before
    # Testing a finished run again keeps the seconds its epochs took in report.json.
    trained = sum(json.loads(line)["epoch_seconds"] for line in (run_dir / "metrics.jsonl").read_text().splitlines())
    assert main(["train", "--resume", str(run_dir), "--no-progress"], print_fn=quiet.append) == 0
    assert json.loads((run_dir / "report.json").read_text())["seconds"] >= round(trained, 1)


def test_cli_train_refuses_a_folder_holding_a_run_and_lr_on_resume_without_resume(tmp_path, capsys) -> None:
    run_dir = tmp_path / "r"
    lines: list[str] = []
    assert (
        main(["train", "lenet5", "--epochs", "1", "--run-dir", str(run_dir), "--no-progress"], print_fn=lines.append)
        == 0
    )
    assert not any("validating on the test split" in line for line in lines)  # holdout by default
    source = []
    main(
        [
            "train",
            "lenet5",
            "--epochs",
            "1",
            "--run-dir",
            str(tmp_path / "t"),
            "--set",
            "validate_on=test",
            "--no-progress",
        ],
        print_fn=source.append,
    )
    assert any("validating on the test split, the one the run is tested on" in line for line in source)
    assert any("checkpoint chosen on the test split itself" in line and "optimistic" in line for line in source)
    report = (run_dir / "report.json").read_text()
    assert main(["train", "lenet5", "--epochs", "1", "--run-dir", str(run_dir)]) == 1
    assert (
        f"already holds a run (its recipe.yaml); continue it with `cnnlab train --resume {run_dir}`"
        in capsys.readouterr().err
    )
    assert (run_dir / "report.json").read_text() == report
    assert main(["train", "lenet5", "--run-dir", str(run_dir / "recipe.yaml")]) == 1
    assert "is a file; give a folder" in capsys.readouterr().err
    assert main(["train", "lenet5", "--lr-on-resume", "0.1", "--run-dir", str(tmp_path / "new")]) == 1
    assert "give --resume RUN with it, or --lr 0.1" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_cli_dry_run_resolves_without_training(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    lines: list[str] = []
    assert (
        main(
            ["train", "lenet5", "--dataset", "digits[0-4]", "--set", "optimizer.lr=0.02", "--dry-run"],
            print_fn=lines.append,
        )
        == 0
    )
    assert "name: lenet5-digits[0-4]" in lines and any(line.strip() == "lr: 0.02" for line in lines)
    assert (
        "channels_last auto -> True" in lines[-1]
        and "for 5 classes" in lines[-1]
        and "nothing was trained" in lines[-1]
    )
    assert not (tmp_path / "runs").exists()
    assert main(["train", "--resume", str(tmp_path), "--dry-run"]) == 1 and "--dry-run" in capsys.readouterr().err


def test_cli_refuses_unknown_and_ill_typed_settings_before_training(tmp_path, capsys) -> None:
    assert main(["train", "lenet5", "--set", "optimizer.learning_rate=0.1", "--run-dir", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert "optimizer.learning_rate" in err and "optimizer.lr" in err
    assert main(["train", "lenet5", "--set", "epochs=many", "--run-dir", str(tmp_path / "r")]) == 1
    assert "epochs" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# The torchrun tests share one pytest-xdist worker (make test runs --dist loadgroup): two
# rendezvous at once could race for the same free port.
@pytest.mark.xdist_group("torchrun")
def test_torchrun_two_processes_train_and_report_the_whole_test_split(tmp_path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "cnnlab",
        "train",
        "lenet5",
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--run-dir",
        str(tmp_path / "ddp"),
        "--no-progress",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    reports = [line for line in out.stdout.splitlines() if line.startswith("test with best.pt")]
    assert len(reports) == 1 and "on 359 images" in reports[0]  # rank 0 alone, the whole split
    assert json.loads((tmp_path / "ddp" / "report.json").read_text())["test"]["images"] == 359


def test_a_runs_model_carries_the_preprocessing_it_trained_with(run) -> None:
    from cnnlab.engine.run import load_run_model

    model, recipe, _ = load_run_model(run.run_dir)
    cfg = model.pretrained_cfg
    assert cfg["input_size"] == (1, 32, 32) and cfg["dataset"] == "digits"
    assert cfg["classes"] == [str(i) for i in range(10)]
    info_mean = load_dataset("digits", "train").info.mean
    expected = (0.0,) if recipe.dataset.normalise == "none" else tuple(info_mean)
    assert cfg["mean"] == pytest.approx(expected) and cfg["source"].endswith("best.pt")


def test_cli_train_logs_to_tensorboard_and_wandb_when_asked(tmp_path, monkeypatch) -> None:
    import sys
    import types

    calls: list[str] = []

    class Writer:
        def __init__(self, logdir, purge_step=None):
            calls.append(f"tensorboard {logdir}")

        def add_scalar(self, *args):
            pass

        def flush(self):
            pass

        def close(self):
            calls.append("tensorboard close")

    class Run:
        def log(self, metrics, step):
            calls.append("wandb log")

        def finish(self, exit_code):
            calls.append(f"wandb finish {exit_code}")

    def init(**kwargs):
        calls.append(f"wandb init {kwargs['project']} {kwargs['mode']}")
        return Run()

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=Writer))
    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=init))
    monkeypatch.delenv("WANDB_MODE", raising=False)
    run_dir = tmp_path / "logged"
    args = [
        "train",
        "lenet5",
        "--epochs",
        "1",
        "--run-dir",
        str(run_dir),
        "--no-progress",
        "--tensorboard",
        "--wandb",
        "course",
    ]
    assert main(args, print_fn=lambda s: None) == 0
    assert calls[0] == f"tensorboard {run_dir / 'tensorboard'}" and calls[1] == "wandb init course offline"
    assert "wandb log" in calls and calls[-2:] == ["tensorboard close", "wandb finish 0"]


def _tiny_imagenet_tree(root, classes: int = 200, val: int = 8, per_class: int = 1):
    from tests.data.fakes import write_image

    base = root / "tiny-imagenet-200"
    wnids = [f"n{index:08d}" for index in range(classes)]
    (base / "val" / "images").mkdir(parents=True)
    (base / "wnids.txt").write_text("\n".join(wnids) + "\n")
    for k, wnid in enumerate(wnids):
        for i in range(per_class):
            write_image(base / "train" / wnid / "images" / f"{wnid}_{i}.JPEG", (64, 64), k + 7919 * i)
    lines = []
    for k in range(val):
        write_image(base / "val" / "images" / f"val_{k}.JPEG", (64, 64), 1000 + k)
        lines.append(f"val_{k}.JPEG\t{wnids[k]}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return root


def test_train_and_evaluate_on_a_tiny_imagenet_tree(tmp_path) -> None:
    """A folder dataset end to end: Keras-style affine augmentation image by image, half of
    each class's training images held out to choose best.pt, the validation split as the
    test set (Tiny ImageNet withholds test labels), seen once; 1 and 10 crops."""
    from cnnlab.engine.run import default_recipe, load_run_model

    root = _tiny_imagenet_tree(tmp_path / "data", per_class=2)
    sets = [
        "dataset.val_split=0.5",
        "dataset.image_size=32",
        f"dataset.data_dir={root}",
        "epochs=1",
        "batch_size=50",
        "dataset.augment.shift=3",
        "dataset.augment.rotation=10",
        "dataset.augment.hflip=true",
    ]
    result = train_recipe(
        default_recipe("lenet5", "tiny-imagenet"),
        overrides=sets,
        run_dir=tmp_path / "run",
        progress=False,
        print_fn=lambda s: None,
    )
    assert result.test["images"] == 8 and len(result.test["report"]["classes"]) == 200
    assert "a validation split of 200 training images (50% of each class" in result.test["selected_on"]
    report = json.loads((result.run_dir / "report.json").read_text())
    assert report["splits"] == {"train": 200, "validation": 200, "test": 8}
    with pytest.raises(ConfigError, match=r"dataset.val_split=0.1 holds out 0 of the 400 training images"):
        train_recipe(
            default_recipe("lenet5", "tiny-imagenet"), overrides=sets[1:], run_dir=tmp_path / "r2", progress=False
        )
    model, _, _ = load_run_model(result.run_dir)
    assert model.pretrained_cfg["input_size"] == (3, 32, 32) and model.num_classes == 200
    one = evaluate_checkpoint(result.run_dir)
    assert one["split"] == "val" and one["images"] == 8 and one["acc1"] == pytest.approx(result.test["acc1"])
    ten = evaluate_checkpoint(result.run_dir, crops=10)
    assert ten["images"] == 8 and ten["crops"] == 10 and len(ten["classes"]) == 200


def test_cli_val_every_sets_how_often_a_run_validates(tmp_path, capsys) -> None:
    run_dir, lines = tmp_path / "r", []
    assert (
        main(
            ["train", "lenet5", "--epochs", "3", "--val-every", "2", "--run-dir", str(run_dir), "--no-progress"],
            print_fn=lines.append,
        )
        == 0
    )
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [("val_acc1" in r) for r in rows] == [False, True, True]
    assert "val_every: 2" in (run_dir / "recipe.yaml").read_text()
    assert [("val loss" in line) for line in lines if line.startswith("epoch ")] == [False, True, True]
    assert (
        main(
            ["train", "--resume", str(run_dir), "--epochs", "5", "--val-every", "3", "--no-progress"],
            print_fn=lines.append,
        )
        == 0
    )
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [("val_acc1" in r) for r in rows] == [
        False,
        True,
        True,
        False,
        True,
    ]  # 4 is not a multiple of 3; 5 is the last
    assert main(["train", "lenet5", "--val-every", "0", "--run-dir", str(tmp_path / "z")]) == 1
    assert "val_every=0 must be at least 1" in capsys.readouterr().err


def test_train_subset_takes_one_to_all_images() -> None:
    assert train_subset(10, 10, seed=0).tolist() == list(range(10))
    assert len(train_subset(10, 3, seed=0)) == 3
    for size in (0, -5):
        with pytest.raises(ConfigError, match=f"train_size={size} must be a positive number of images, at most 10"):
            train_subset(10, size, seed=0)
    with pytest.raises(ConfigError, match="use at most 10"):
        train_subset(10, 11, seed=0)


def test_a_val_split_that_empties_a_class_is_refused_naming_it() -> None:
    from cnnlab.engine.recipes import load_recipe
    from cnnlab.engine.run import _held_out

    recipe = load_recipe("lenet5-digits")
    recipe.dataset.val_split = 0.6
    labels = torch.tensor([0] * 10 + [1] + [2] * 4)  # class 1's one image: round(0.6) = 1 held out
    with pytest.raises(ConfigError, match=r"val_split=0.6 holds out every training image of class\(es\) 1 of digits"):
        _held_out(labels, recipe)
    recipe.dataset.val_split = 0.1
    held, kept = _held_out(labels, recipe)
    assert len(held) + len(kept) == 15 and set(labels[kept].tolist()) == {0, 1, 2}
