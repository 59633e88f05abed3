"""``cnnlab summary`` and ``cnnlab rf``: formats, options, errors and the empirical check."""

from __future__ import annotations

import csv
import io
import json

import pytest

from cnnlab.cli import main


def run(*argv: str) -> tuple[int, str]:
    lines: list[str] = []
    code = main(list(argv), print_fn=lines.append)
    return code, "\n".join(lines)


def usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run a command argparse must refuse (exit status 2); returns its stderr."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv), print_fn=print)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_summary_prints_the_table_and_totals() -> None:
    code, out = run("summary", "vgg16")
    assert code == 0
    line = next(ln for ln in out.splitlines() if ln.startswith("conv1_1 (Conv2d)"))
    assert line.split() == ["conv1_1", "(Conv2d)", "64x224x224", "1,792", "86,704,128", "3", "/", "1"]
    text = " ".join(out.split())
    assert "MACs: 15,470,264,320 multiply-accumulates" in text and "Training memory (sgd, batch 1)" in text


def test_summary_depth_batch_and_optimizer() -> None:
    code, out = run("summary", "resnet18", "--depth", "1", "--batch-size", "8", "--optimizer", "adam")
    assert code == 0
    line = next(ln for ln in out.splitlines() if ln.startswith("conv2_x "))
    assert line.split()[:5] == ["conv2_x", "(Sequential,", "16", "rows)", "64x56x56"]
    assert f"{8 * 462_422_016:,}" in line
    text = " ".join(out.split())
    assert "batch of 8 excluded" in text and "Training memory (adam, batch 8)" in text
    assert "conv2_x.0.conv1.conv" not in out


def test_summary_formats() -> None:
    code, out = run("summary", "lenet5", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["schema"] == "cnnlab.analysis/1" and len(data["rows"]) == 12
    assert data["totals"]["params"] == 61_706
    code, out = run("summary", "lenet5", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 12 and rows[0]["output_shapes"] == "1x6x28x28"
    code, out = run("summary", "lenet5", "--format", "md")
    assert code == 0 and "|---|---|---:|---:|---|" in out and "| `c1` (Conv2d) | 6x28x28 | 156 |" in out


def test_summary_options_are_literals() -> None:
    code, out = run("summary", "lenet5", "--format", "json", "--option", "num_classes=7", "--option", "act=tanh")
    data = json.loads(out)
    assert code == 0 and data["rows"][-1]["output_shapes"] == [[1, 7]]
    assert {r["type"] for r in data["rows"]} >= {"Tanh"}


def test_summary_usage_errors_name_the_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--input: '3x' is not a size: give CxHxW" in usage_error(capsys, "summary", "lenet5", "--input", "3x")
    assert "got '0'" in usage_error(capsys, "summary", "lenet5", "--batch-size", "0")
    assert "got '-1'" in usage_error(capsys, "summary", "lenet5", "--depth", "-1")
    assert "KEY=VALUE" in usage_error(capsys, "summary", "lenet5", "--option", "classes")
    assert "invalid choice: 'lbfgs'" in usage_error(capsys, "summary", "lenet5", "--optimizer", "lbfgs")


def test_summary_errors_exit_1_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("summary", "vgg16", "--input", "3x16x16")[0] == 1
    assert "cnnlab summary: error: input 3x16x16 does not fit vgg16" in capsys.readouterr().err
    assert run("summary", "lenet5", "--aux")[0] == 1
    assert (
        "lenet5 has no auxiliary heads (no forward_aux); analyse it with aux=False "
        "(on the command line, leave out --aux)" in capsys.readouterr().err
    )
    assert run("summary", "lenett")[0] == 1
    assert "unknown model 'lenett'" in capsys.readouterr().err
    assert run("summary", "lenet5", "--option", "depth=3")[0] == 1
    assert "unknown option(s) depth=3 for lenet5" in capsys.readouterr().err


def test_rf_prints_fields_and_a_region() -> None:
    code, out = run("rf", "vgg16", "--layer", "pool5", "--position", "3,3")
    assert code == 0
    assert next(ln for ln in out.splitlines() if "pool5 (MaxPool2d)" in ln).split()[-3:] == ["212", "32", "15.5"]
    assert "Input region of pool5 (MaxPool2d) output position (3, 3) of its 7x7 map" in out
    assert "within the 224x224 input: y 6..217, x 6..217 (212x212 pixels)" in out


def test_rf_check_agrees_on_lenet5() -> None:
    code, out = run("rf", "lenet5", "--layer", "s4", "--position", "0,4", "--check")
    assert code == 0
    assert "analytic (clipped): y 0..15, x 16..31 (16x16 pixels)" in out
    assert "measured:           y 0..15, x 16..31 (16x16 pixels)" in out
    assert out.splitlines()[-1].strip() == "agree"
    code, out = run("rf", "minivgg", "--check")  # default: the last module with a map, its centre
    assert code == 0 and "Check of dropout2 output position (4, 4)" in out and out.endswith("agree")


def test_rf_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert "like 3,3; got 'a,b'" in usage_error(capsys, "rf", "lenet5", "--position", "a,b")
    code, out = run("rf", "lenet5", "--layer", "c5")
    assert code == 1 and out == ""
    assert "c5 has a global receptive field" in capsys.readouterr().err
    assert run("rf", "lenet5", "--layer", "s4", "--position", "5,0")[0] == 1
    assert "position (5, 0) is outside s4's 5x5 map" in capsys.readouterr().err
    assert run("rf", "resnet20", "--layer", "conv2_x.0.add", "--check")[0] == 1
    assert "conv2_x.0.add is a functional op" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["summary", "rf"])
def test_help_explains_columns_and_the_meta_device(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert exit_info.value.code == 0
    assert "meta device" in out and "no memory allocated" in out and "receptive field" in out.lower()


def test_input_is_cxhxw_or_a_size_for_the_models_own_channels(capsys: pytest.CaptureFixture[str]) -> None:
    """One --input for summary, rf, compare, bench and export: CxHxW, or HxW / S with the
    model's channels (lenet5: 1; --option in_chans=3: 3)."""
    for size in ("32", "32x32", "1x32x32"):
        code, out = run("summary", "lenet5", "--input", size, "--format", "json")
        assert code == 0 and json.loads(out)["input_size"] == [1, 32, 32]
    code, out = run("summary", "lenet5", "--input", "32", "--option", "in_chans=3", "--format", "json")
    assert code == 0 and json.loads(out)["input_size"] == [3, 32, 32]
    code, out = run("rf", "resnet20", "--input", "40")
    assert code == 0 and "resnet20: input 3x40x40" in out
    for bad in ("1x32x32x1", "32x", "x", "0x32", "thirty-two"):
        err = usage_error(capsys, "summary", "lenet5", "--input", bad)
        assert (
            f"argument --input: {bad!r} is not a size: give CxHxW, e.g. 3x224x224 "
            "(or HxW / one size for the model's own channels)" in err
        )
        assert "unsqueeze" not in err
    from cnnlab.cli.inputs import parse_input_arg, with_channels

    assert parse_input_arg("3X224X224") == (3, 224, 224) and parse_input_arg("224 x 192") == (None, 224, 192)
    assert with_channels(parse_input_arg("64"), 3) == (3, 64, 64) and with_channels(None, 3) is None


def test_errors_name_what_the_command_line_accepts(capsys):
    assert main(["summary", "lenet5", "--option", "bogus=1"]) == 1
    assert "valid options: num_classes=10, in_chans=1, padding=0" in capsys.readouterr().err
    assert main(["summary", "lenet5", "--input", "3x32x32"]) == 1
    assert "(on the command line: --option in_chans=3)" in capsys.readouterr().err
