"""``cnnlab report`` from the command line: the three targets, its defaults and its errors."""

from __future__ import annotations

import pytest

from cnnlab.cli import main

pytestmark = pytest.mark.xdist_group("report")


def run(*argv):
    lines: list[str] = []
    code = main([str(a) for a in argv], print_fn=lines.append)
    return code, "\n".join(lines)


def test_report_a_run_a_model_and_a_folder(runs, tmp_path, monkeypatch) -> None:
    code, out = run("report", runs / "holdout", "--limit", "100")
    assert code == 0 and out.startswith(f"wrote {runs / 'holdout' / 'report.html'} (")
    assert "the first 100 of 359 images" in (runs / "holdout" / "report.html").read_text()
    monkeypatch.chdir(tmp_path)
    code, out = run("report", "resnet20", "--input", "48")  # one size: the model's own channels
    assert code == 0 and "wrote resnet20.html" in out
    assert "3x48x48" in (tmp_path / "resnet20.html").read_text()
    code, out = run("report", runs, "-o", tmp_path / "all.html")
    assert code == 0 and out.count("\n  and ") == 3 and (tmp_path / "all.html").is_file()


def test_report_errors_name_the_value_and_the_fix(runs, tmp_path, capsys) -> None:
    assert run("report", "lenet6")[0] == 1
    assert "'lenet6' is neither a folder nor a registered model; did you mean lenet5" in capsys.readouterr().err
    assert run("report", runs / "holdout", "--input", "3x32x32")[0] == 1
    assert "leave --input out" in capsys.readouterr().err
    assert run("report", runs / "holdout", "--limit", "0")[0] == 1
    assert "--limit 0" in capsys.readouterr().err
    assert run("report", "lenet5", "--input", "28", "-o", tmp_path / "x.html")[0] == 1
    assert "input 1x28x28 does not fit lenet5" in capsys.readouterr().err and not (tmp_path / "x.html").exists()


def test_report_help(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["report", "--help"])
    out = capsys.readouterr().out
    assert stop.value.code == 0 and "usage: cnnlab report" in out
    assert "RUN/report.html" in out and "MODEL.html" in out and "DIR/report.html" in out
