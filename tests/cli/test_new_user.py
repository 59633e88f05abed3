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
