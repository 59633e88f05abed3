"""``cnnlab runs``: the runs under a folder, finished or not, side by side."""

import json
import shutil

import pytest

from cnnlab.cli.main import main
from cnnlab.engine.run import list_runs, train_recipe
from cnnlab.errors import ConfigError


def test_runs_lists_finished_and_unfinished_runs(tmp_path, capsys):
    root = tmp_path / "runs"
    for name, epochs in (("short", 1), ("longer", 2)):
        train_recipe(
            "lenet5-digits",
            overrides=[f"epochs={epochs}"],
            run_dir=root / name,
            progress=False,
            print_fn=lambda s: None,
        )
    shutil.copytree(root / "longer", root / "cut")
    (root / "cut" / "report.json").unlink()  # as if killed before its test
    runs = {r["run"]: r for r in list_runs(root)}
    assert set(runs) == {str(root / n) for n in ("short", "longer", "cut")}
    longer, cut = runs[str(root / "longer")], runs[str(root / "cut")]
    assert (
        longer["status"] == "finished" and longer["epochs"] == longer["planned"] == 2 and longer["dataset"] == "digits"
    )
    assert 0 < longer["test_acc1"] <= 1 and longer["best_epoch"] in (1, 2)
    assert (
        cut["status"] == "unfinished" and cut["test_acc1"] is None and cut["best_val_acc1"] == longer["best_val_acc1"]
    )
    lines: list[str] = []
    assert main(["runs", str(root), "--sort", "test_acc1", "--format", "json"], print_fn=lines.append) == 0
    order = [r["test_acc1"] for r in json.loads(lines[0])]
    assert order[-1] is None and order[0] >= order[1]
    lines.clear()
    assert main(["runs", str(root)], print_fn=lines.append) == 0
    assert "unfinished" in lines[0] and "finished" in lines[0]
    with pytest.raises(ConfigError, match="is not a folder of runs"):
        list_runs(tmp_path / "nowhere")
    assert main(["runs", str(tmp_path / "nowhere")]) == 1 and "not a folder of runs" in capsys.readouterr().err


def test_runs_of_a_run_folder_itself_lists_that_run(tmp_path, capsys, monkeypatch):
    for name in ("l1", "l2"):
        (tmp_path / "runs" / name).mkdir(parents=True)
        (tmp_path / "runs" / name / "recipe.yaml").write_text(
            "name: lenet5-digits\nmodel: {name: lenet5}\ndataset: {name: digits}\nepochs: 3\n"
        )
    monkeypatch.chdir(tmp_path)
    lines: list[str] = []
    assert main(["runs", "runs/l1", "--format", "json"], print_fn=lines.append) == 0
    runs = json.loads(lines[0])
    assert [r["run"] for r in runs] == ["runs/l1"] and runs[0]["model"] == "lenet5" and runs[0]["planned"] == 3
    lines.clear()
    assert main(["runs", "runs/l1"], print_fn=lines.append) == 0
    assert "runs/l1" in lines[0] and "runs/l2" not in lines[0] and "no runs" not in lines[0]
    assert len(json.loads((main(["runs", "runs", "--format", "json"], print_fn=lines.append), lines[-1])[1])) == 2
