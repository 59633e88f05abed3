"""`cnnlab compare`."""

import json

import pytest

from cnnlab.cli import main


def run(*argv):
    lines = []
    code = main(list(argv), print_fn=lines.append)
    return code, "\n".join(lines)


def test_compare_prints_ratios_and_published_errors():
    code, out = run("compare", "alexnet_owt", "vgg16")
    assert code == 0
    vgg = next(line for line in out.splitlines() if line.startswith("vgg16"))
    assert "2.26x" in vgg and "21.7x" in vgg  # 138,357,544 / 61,100,840 and 15.47G / 714.2M MACs
    assert "baseline: alexnet_owt" in out and "multiply-accumulates" in out
    assert "AlexNet_Weights.IMAGENET1K_V1" in out  # the source of alexnet_owt's error


def test_baseline_option_and_stages():
    code, out = run("compare", "resnet20", "resnet56", "--baseline", "resnet56", "--stages")
    assert code == 0
    r20 = next(line for line in out.splitlines() if line.startswith("resnet20"))
    assert "0.316x" in r20  # 269,722 / 853,018 parameters
    assert "resnet56: stages from feature_info" in out and "conv4_x (/4, 64 ch)" in out


def test_baseline_not_among_names_is_an_error(capsys):
    code, out = run("compare", "alexnet_owt", "vgg16", "--baseline", "resnet50")
    assert code == 1 and out == ""
    err = capsys.readouterr().err
    assert "baseline 'resnet50' is not among the compared models (alexnet_owt, vgg16)" in err


def test_unknown_model_and_bad_input_are_errors(capsys):
    assert run("compare", "lenet5", "no_such_net")[0] == 1
    assert "no_such_net" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # a usage error, as in summary, rf, bench and export
        run("compare", "lenet5", "--input", "32by32")
    assert exit_info.value.code == 2
    assert "--input: '32by32' is not a size: give CxHxW, e.g. 3x224x224" in capsys.readouterr().err


def test_input_and_formats():
    code, out = run("compare", "resnet20", "resnet32", "--input", "3x64x64", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["input_size"] == [3, 64, 64]
    assert [m["input_size"] for m in data["models"]] == [[3, 64, 64], [3, 64, 64]]
    code, out = run("compare", "resnet20", "resnet32", "--format", "csv")
    assert out.splitlines()[0].startswith("model,family,year,input") and len(out.splitlines()) == 3
    code, out = run("compare", "resnet20", "resnet32", "--format", "md")
    assert out.startswith("| model |")


def test_input_as_one_size_keeps_each_models_channels():
    code, out = run("compare", "resnet20", "resnet32", "--input", "64", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["input_size"] == [3, 64, 64]
    assert [m["input_size"] for m in data["models"]] == [[3, 64, 64], [3, 64, 64]]
    code, out = run("compare", "lenet5", "resnet20", "--input", "32x32", "--format", "json")
    data = json.loads(out)
    assert code == 0 and [m["input_size"] for m in data["models"]] == [[1, 32, 32], [3, 32, 32]]
    assert data["models"][1]["published"]  # resnet20 at its own size keeps its published error
    code, out = run("compare", "lenet5", "resnet20", "--input", "32")
    assert (
        "every model analysed at 32x32 pixels, each with its own input channels (lenet5 1x32x32, resnet20 3x32x32)"
        in out
    )
    assert "pass an input size" not in out  # it was passed


def test_a_chart_that_cannot_be_written_fails_before_the_table(tmp_path, capsys):
    for path, message in (
        (tmp_path / "nodir" / "c.png", "folder"),
        (tmp_path / "c.txt", "cannot tell the image format"),
    ):
        lines: list[str] = []
        assert main(["compare", "resnet20", "resnet32", "--plot", str(path)], print_fn=lines.append) == 1
        assert lines == [] and message in capsys.readouterr().err


def test_plot_option(tmp_path):
    target = tmp_path / "cmp.png"
    code, out = run("compare", "alexnet_owt", "lenet5", "--plot", str(target))
    assert code == 0 and f"wrote {target}" in out
    assert target.read_bytes().startswith(b"\x89PNG")


def test_help_names_the_units(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "multiply-accumulates" in text and "FLOPs = 2 x MACs" in text and "--baseline" in text
