"""Class subsets by name: ``mnist[5-9]``, ``cifar10[0,1,8,9]``: the kept classes' images,
relabelled 0, 1, ... in the order given, for every kind of dataset."""

import pytest
import torch

from cnnlab.data import dataset_info, load_dataset, split_subset
from cnnlab.errors import ConfigError
from tests.data.fakes import write_cifar10, write_image


def test_names_parse_and_infos_describe_the_subset():
    assert split_subset("mnist[5-9]") == ("mnist", "5-9") and split_subset("mnist") == ("mnist", None)
    info = dataset_info("Fashion_MNIST[9, 0-1]")
    assert info.name == "fashion-mnist[9,0-1]" and info.class_subset == (9, 0, 1)
    assert info.classes == ("Ankle boot", "T-shirt/top", "Trouser") and info.num_classes == 3
    assert info.mean == dataset_info("fashion-mnist").mean and "full set" in info.notes[-1]


@pytest.mark.parametrize(
    "name, message",
    [
        ("mnist[5-]", r"cannot read the class selection '5-'.*mnist\[0-4\]"),
        ("mnist[x]", "cannot read the class selection 'x'"),
        ("mnist[3-1]", "runs backwards; write 1-3"),
        ("mnist[1,1]", "selects a class twice"),
        ("mnist[12]", "selects class 12, but mnist has classes 0-9"),
        ("mnist[3]", "keeps 1 class"),
        ("minst[1-3]", r"unknown dataset 'minst\[1-3\]' \(did you mean 'mnist'\?\)"),
    ],
)
def test_bad_selections_say_what_is_wrong(name, message):
    with pytest.raises(ConfigError, match=message):
        dataset_info(name)


def test_in_memory_subset_keeps_and_relabels():
    full = load_dataset("digits", "train")
    part = load_dataset("digits[8,0]", "train")
    want = (full.labels == 8) | (full.labels == 0)
    assert len(part) == int(want.sum())
    assert torch.equal(part.images, full.images[want])
    assert torch.equal(part.labels, (full.labels[want] == 0).long())  # 8 -> 0, 0 -> 1: the order given
    assert part.info.classes == ("8", "0") and part.info.name == "digits[8,0]"


def test_cifar_subset_keeps_extras_and_names(tmp_path):
    md5 = write_cifar10(tmp_path / "cifar-10-batches-py")
    part = load_dataset("cifar10[1,9]", "test", data_dir=tmp_path, verify=md5)
    full = load_dataset("cifar10", "test", data_dir=tmp_path, verify=md5)
    assert part.info.classes == ("automobile", "truck")
    assert torch.equal(part.labels, full.labels[(full.labels == 1) | (full.labels == 9)].eq(9).long())


def test_folder_subset(tmp_path):
    for i, name in enumerate(("cat", "dog", "eel")):
        for k in range(2):
            write_image(tmp_path / name / f"{k}.png", (20, 20), seed=10 * i + k)
    part = load_dataset("imagefolder[2,0]", data_dir=tmp_path)
    assert part.classes == ("eel", "cat") and part.info.classes == ("eel", "cat")
    assert sorted(label for _, label in part.samples) == [0, 0, 1, 1]
    assert all(("eel" in path) == (label == 0) for path, label in part.samples)
    with pytest.raises(ConfigError, match="selects class 5, but the data hold classes 0-2"):
        load_dataset("imagefolder[0,5]", data_dir=tmp_path)


def test_a_run_on_a_subset_trains_its_classes_only(tmp_path):
    from cnnlab.engine.run import evaluate_checkpoint, load_run_model, path_safe, train_recipe

    train_recipe(
        "lenet5-digits",
        overrides=["dataset.name=digits[0-2]", "epochs=1"],
        run_dir=tmp_path / "run",
        progress=False,
        print_fn=lambda s: None,
    )
    model, _, _ = load_run_model(tmp_path / "run")
    assert model.num_classes == 3 and model.pretrained_cfg["classes"] == ["0", "1", "2"]
    assert evaluate_checkpoint(tmp_path / "run")["images"] == len(load_dataset("digits[0-2]", "test"))
    assert path_safe("finetune-lenet5-digits[0-2]") == "finetune-lenet5-digits_0-2"


def test_cli_runs_are_named_after_the_subset(tmp_path):
    import json

    from cnnlab.cli.main import main

    run = tmp_path / "run"
    assert (
        main(
            ["train", "lenet5", "--dataset", "digits[0-2]", "--epochs", "1", "--run-dir", str(run), "--no-progress"],
            print_fn=lambda s: None,
        )
        == 0
    )
    report = json.loads((run / "report.json").read_text())
    assert report["recipe"] == "lenet5-digits[0-2]" and report["dataset"] == "digits[0-2]"
    assert report["test"]["images"] == len(load_dataset("digits[0-2]", "test"))
