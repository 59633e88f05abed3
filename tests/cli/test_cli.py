import json
import subprocess
import sys

import pytest

import cnnlab
from cnnlab.cli import main


def run(*argv):
    lines = []
    code = main(list(argv), print_fn=lines.append)
    return code, "\n".join(lines)


def test_list_table_and_json():
    code, out = run("list")
    assert code == 0 and "lenet5" in out and "61.7K" in out
    code, out = run("list", "--format", "json")
    rows = json.loads(out)
    assert {r["name"] for r in rows} == set(cnnlab.list_models())
    assert next(r for r in rows if r["name"] == "lenet5")["params"] == 61_706


def test_list_pattern():
    code, out = run("list", "lenet*", "--format", "json")
    assert all(r["name"].startswith("lenet") for r in json.loads(out))
    assert run("list", "nothing*")[0] == 1


def test_info_shows_deviations():
    code, out = run("info", "lenet5")
    assert code == 0
    assert "61,706" in out and "deviations from the paper" in out and "ReLU instead" in out
    data = json.loads(run("info", "lenet5", "--format", "json")[1])
    assert data["params"] == 61_706 and data["deviations"] and data["options"] == {"padding": 0, "act": "relu"}


def test_info_unknown_model_is_an_error(capsys):
    assert run("info", "lenett")[0] == 1
    assert "closest registered names: lenet5" in capsys.readouterr().err


def test_help_as_a_program():
    out = subprocess.run([sys.executable, "-m", "cnnlab", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "usage: cnnlab" in out.stdout


@pytest.mark.parametrize("command", [["list"], ["info"]])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as stop:
        main([*command, "--help"])
    assert stop.value.code == 0 and f"usage: cnnlab {command[0]}" in capsys.readouterr().out


def test_list_and_compare_show_googlenets_inference_parameters():
    code, out = run("list", "goog*")
    assert code == 0 and "googlenet: 6,998,552 parameters at inference" in out
    rows = json.loads(run("list", "googlenet", "--format", "json")[1])
    assert rows[0]["params"] == 13_378_280 and rows[0]["params_inference"] == 6_998_552
    code, out = run("compare", "alexnet_2012", "googlenet")
    assert code == 0 and "6,998,552 at inference" in out and "alexnet_2012 uses 8.7x as many at inference" in out
