"""The rough edges a new user hit (issue 19, item 7), each a test that failed before."""

from __future__ import annotations

import pytest

import cnnlab
from cnnlab.cli.main import main
from cnnlab.errors import ConfigError, UnknownModelError, closest, edit_distance


def test_name_suggestions_rank_by_edit_distance():
    assert edit_distance("lenet6", "lenet5") == 1 and edit_distance("kitten", "sitting") == 3
    with pytest.raises(UnknownModelError, match=r"closest registered names: lenet5,"):
        cnnlab.create_model("lenet6")
    assert closest("resnet5", cnnlab.list_models(), n=2)[0] in ("resnet50", "resnet56")


def test_an_unknown_enum_value_says_did_you_mean(capsys):
    assert main(["train", "lenet5", "--set", "optimizer.name=adamw2", "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert "optimizer.name='adamw2': unknown value; did you mean 'adamw'?" in err and "wrong type" not in err


def test_an_unknown_flag_gets_the_command_s_usage_and_a_hint(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "lenet5", "--option", "num_clases=5"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: cnnlab train") and "--set model.options.KEY=VALUE" in err
    with pytest.raises(SystemExit):
        main(["summary", "lenet5", "--inptu", "1x32x32"])
    assert "did you mean --input?" in capsys.readouterr().err


def test_an_unknown_model_option_says_did_you_mean():
    with pytest.raises(
        ConfigError, match=r"unknown option\(s\) num_clases=5 for lenet5 \(did you mean num_classes\?\)"
    ):
        cnnlab.create_model("lenet5", num_clases=5)


def test_a_batch_larger_than_the_training_set_says_so(tmp_path):
    from cnnlab.engine.run import train_recipe

    lines = []
    train_recipe(
        "lenet5-digits",
        overrides=["batch_size=5000", "epochs=1"],
        run_dir=tmp_path / "run",
        progress=False,
        print_fn=lines.append,
    )
    # 1,438 training images less the 10% held out for validation
    assert any("batch size 5,000 is larger than the 1,295 training images of digits" in line for line in lines)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from cnnlab.engine.run import train_recipe

    run_dir = tmp_path_factory.mktemp("runs") / "lenet5"
    train_recipe("lenet5-digits", overrides=["epochs=1"], run_dir=run_dir, progress=False, print_fn=lambda s: None)
    return run_dir


def test_predict_formats_for_batch_inference_and_folders_read_any_image_type(trained_run, tmp_path):
    import csv
    import json

    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    Image.new("L", (8, 8), 200).save(folder / "a.gif")  # a type the folder reader skipped before
    Image.new("L", (8, 8), 50).save(folder / "b.png")
    out: list[str] = []
    assert main(["predict", str(trained_run), str(folder), "--top", "2", "--format", "json"], print_fn=out.append) == 0
    data = json.loads(out[0])
    assert [d["image"].rsplit("/", 1)[-1] for d in data] == ["a.gif", "b.png"]
    assert all(len(d["top"]) == 2 and 0 <= d["top"][0]["probability"] <= 1 for d in data)
    out.clear()
    assert main(["predict", str(trained_run), str(folder), "--top", "3", "--format", "csv"], print_fn=out.append) == 0
    rows = list(csv.DictReader(out[0].splitlines()))
    assert len(rows) == 6 and rows[0].keys() == {"image", "rank", "class", "probability"}
    assert [r["rank"] for r in rows[:3]] == ["1", "2", "3"]


def test_runs_headers_are_words(trained_run):
    out: list[str] = []
    assert main(["runs", str(trained_run.parent)], print_fn=out.append) == 0
    header = out[0]
    for word in ("best validation", "test rank-1", "test rank-5", "seconds"):
        assert word in header
    assert " s " not in header


def test_curves_name_the_split_they_validated_on_and_tick_whole_epochs():
    from cnnlab.viz.training import curves_figure

    history = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.2 / e} for e in (1, 2, 3)]
    fig = curves_figure(history, validated_on="test")
    labels = {ln.get_label() for ax in fig.axes for ln in ax.get_lines()}
    assert "test loss" in labels and "validation loss" not in labels
    fig.canvas.draw()
    ticks = [t for t in fig.axes[0].get_xticks() if 1 <= t <= 3]
    assert ticks and all(float(t).is_integer() for t in ticks)


def test_repro_run_says_verdicts_once(capsys):
    assert main(["repro", "run", "alexnet-conv1", "stacked-3x3"]) == 0
    assert capsys.readouterr().out.count("verdicts:") == 1


def test_counts_a_person_reads_have_thousands_separators(capsys):
    assert main(["info", "vgg16"]) == 0
    assert "3x224x224, 1,000 classes" in capsys.readouterr().out
    assert main(["list"]) == 0
    assert " 1,000\n" in capsys.readouterr().out
    lines: list[str] = []
    assert main(["data", "list"], print_fn=lines.append) == 0
    assert any(line.startswith("imagenet") and " 1,000 " in line for line in "\n".join(lines).splitlines())
    digits = cnnlab.data.load_dataset("digits", "train")
    assert f"{len(digits):,} images" in repr(digits) and len(digits) >= 1000
    with pytest.raises(ConfigError, match=r"the training split has 1,\d{3} images; use at most 1\d{3}$"):
        cnnlab.engine.run.train_subset(len(digits), 5000, seed=0)


def test_the_probe_table_separates_thousands():
    from cnnlab.cli.transfer_cmd import format_probe

    layer = {"layer": "act1", "features": 4704, "train_acc": 0.99, "test_acc": 0.87, "cached": False}
    layer |= {"extract_seconds": 12.1, "fit_seconds": 2590.5, "converged": False, "iterations": 1000}
    pre = {"channels": 1, "image_size": 32, "resize_mode": "pad", "mean": [0.1307], "std": [0.3081]}
    text = format_probe(
        {"layers": [layer], "preprocessing": pre, "model": "lenet5", "source": "run", "dataset": "fashion-mnist"}
        | {"train_images": 60000, "test_images": 10000, "pool": "flatten", "C": 1.0, "seconds": 2669.9}
    )
    assert "60,000 training, 10,000 test images" in text and " 4,704 " in text
    assert "2,590.5" in text and "no (1,000 iterations)" in text
