"""The pages as HTML: well formed, semantic, self-contained, small, and saying the numbers
the run's files hold; what ``cnnlab report`` takes a target to be; the network drawing."""

from __future__ import annotations

import json
import re

import pytest

from cnnlab import analyze
from cnnlab.engine.examples import test_examples as find_examples
from cnnlab.errors import ConfigError
from cnnlab.report import classify, default_output, model_page, network_diagram, run_page, write_report

from .conftest import check_page, page_text

pytestmark = pytest.mark.xdist_group("report")


def test_a_run_page_holds_the_runs_numbers_inline_and_small(runs) -> None:
    html = run_page(runs / "holdout")
    text = page_text(check_page(html))
    report = json.loads((runs / "holdout" / "report.json").read_text())
    test = report["test"]
    assert f"{test['acc1']:.2%}" in text and f"{test['acc5']:.2%}" in text
    assert f"{1 - test['acc1']:.2%}" in text  # the error beside the accuracy
    # the honesty line: the checkpoint, the split that chose it and the split the numbers come from
    assert f"measured with {test['checkpoint']} on the test split ({test['images']} images)" in text
    assert test["selected_on"] in text
    # the run at a glance: machine, torch, split sizes as the run recorded them
    assert report["machine"] in text and report["torch"] in text and report["finished"] in text
    splits = report["splits"]
    assert splits["validation"] == 143 and splits["train"] == 1_438 - 143 and splits["test"] == 359
    assert f"{splits['train']:,}" in text and "validation (held out of training)" in text
    for row in test["report"]["classes"]:  # the per-class table
        assert f"{row['precision']:.3f}" in text and f"{row['f1']:.3f}" in text
    assert "LeCun, Bottou, Bengio & Haffner (1998)" in text  # the paper
    assert "ReLU instead of the scaled tanh" in text  # the card's deviations
    assert "61,706" in text  # the model's parameters in the summary
    assert "Per-layer table (12 rows" in text and "5 / 1" in text  # c1's receptive field: 5 pixels, jump 1
    mistakes = re.findall(r'<img src="data:image/png;base64,[^"]+" alt="test image \d+: a \d, predicted \d">', html)
    wrong = test["images"] - sum(report["confusion"][i][i] for i in range(len(report["confusion"])))
    assert len(mistakes) == min(12, wrong) > 0  # the grid of the most confident mistakes
    assert "Grad-CAM (Selvaraju et al. 2017) at layer" in text
    assert len(html.encode()) < 5 * 2**20


def test_a_run_validated_on_test_says_so_and_an_unfinished_run_says_what_it_lacks(runs) -> None:
    text = page_text(check_page(run_page(runs / "on-test")))
    assert "the test split itself (validate_on: test" in text and "optimistic" in text
    assert "test loss" in text  # the curves' table names the split the val_* columns were measured on
    text = page_text(check_page(run_page(runs / "unfinished")))
    assert "No test numbers yet" in text and "cnnlab train --resume unfinished" in text
    assert "No test results: report.json is missing" in text
    assert "most confident" in text and "61,706" in text  # examples and summary from its checkpoint


def test_the_most_confident_mistakes_are_mistakes_most_confident_first(runs) -> None:
    found = find_examples(runs / "holdout", mistakes=5, examples=3, limit=200, device="cpu")
    assert found.scanned == 200 and found.total == 359 and found.split == "test"
    assert all(m.label != m.predicted for m in found.mistakes)
    probs = [m.probability for m in found.mistakes]
    assert probs == sorted(probs, reverse=True) and len(probs) <= 5
    assert [e.label for e in found.examples] == sorted(
        {e.label for e in found.examples}, key=[e.label for e in found.examples].index
    )
    for e in [*found.mistakes, *found.examples]:
        assert e.pixels.shape == (1, 32, 32) and 0 <= float(e.pixels.min()) and float(e.pixels.max()) <= 1
        assert e.index < 200
    with pytest.raises(ConfigError, match="limit=0"):
        find_examples(runs / "holdout", limit=0)


def test_a_model_page_draws_inception_branches_side_by_side() -> None:
    html = model_page("googlenet")
    text = page_text(check_page(html))
    assert "13,378,280" in text  # exact parameters (aux heads included) ...
    assert "Table 1" in text and "Szegedy" in text
    assert "inception3a (InceptionModule)" in html  # a frame around the module's branches
    assert html.count('<rect class="frame"') == 9  # the nine Inception modules
    assert "concat" in html and "256 × 28 × 28" in html  # the join and inception3a's output
    assert "aux1" in text  # the auxiliary heads' parameters, listed as unused by this forward pass
    assert len(html.encode()) < 2 * 2**20


def test_the_drawing_follows_the_data_flow() -> None:
    d = network_diagram(analyze("resnet18"))
    ops = [b.op for b in d.boxes]
    assert ops[:3] == ["input", "conv 7x7, 64, /2 + BN + ReLU", "maxpool 3x3, /2"]
    assert ops.count("identity") == 5 and ops.count("add + ReLU") == 8  # 8 blocks, 3 with projections
    assert "conv 1x1, 128, /2 + BN" in ops and ops[-1] == "fc 1000"
    assert len(d.frames) == 8 and not d.notes
    # every box sits inside the canvas, and the branches of a block side by side
    assert all(0 <= b.x and b.x + b.w <= d.width and 0 <= b.y and b.y + b.h <= d.height for b in d.boxes)
    block = [b for b in d.boxes if b.name.startswith("conv3_x.0.")]
    assert {b.y for b in block if b.name.endswith(("conv1.conv", "shortcut.conv"))}.__len__() == 1
    # ResNet-152: runs of identical blocks are folded, and said
    d = network_diagram(analyze("resnet152", measure_saved=False))
    assert any(b.op == "34 more ResidualBlock like conv4_x.1" for b in d.boxes)
    assert any("34 ResidualBlock blocks like conv4_x.1" in n for n in d.notes)
    # DenseNet: a dense block is one box, and the page says why
    d = network_diagram(analyze("densenet121", measure_saved=False))
    assert [b.op for b in d.boxes if b.cls == "collapsed"] == [
        f"features.denseblock{i} (DenseBlockModule)" for i in range(1, 5)
    ]
    assert any("a layer reads several earlier ones" in n for n in d.notes)


def test_a_model_at_another_input_size() -> None:
    html = model_page("resnet20", (3, 64, 64))
    text = page_text(check_page(html))
    assert "3x64x64" in text and "16 × 64 × 64" in html and "64 × 16 × 16" in html  # conv1's and conv4_x's outputs


def test_what_a_target_is(runs, tmp_path) -> None:
    assert classify(runs / "holdout").kind == "run"
    assert classify(runs).kind == "runs"
    assert classify("resnet50").kind == "model"
    assert default_output(classify(runs / "holdout")) == runs / "holdout" / "report.html"
    assert default_output(classify("resnet50")).name == "resnet50.html"
    with pytest.raises(ConfigError, match=r"'resnet5' is neither a folder nor a registered model; did you mean"):
        classify("resnet5")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="holds no run: no recipe.yaml"):
        classify(tmp_path / "empty")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        classify(tmp_path / "file.txt")
    with pytest.raises(ConfigError, match="--input sets the input of a model's page"):
        write_report(runs / "holdout", tmp_path / "x.html", input_size=(1, 32, 32))
    with pytest.raises(ConfigError, match="an .html file"):
        write_report("lenet5", tmp_path / "x.pdf")


def test_a_folder_page_links_every_run_and_writes_their_pages(runs, tmp_path) -> None:
    out = tmp_path / "class" / "index.html"
    paths = write_report(runs, out)
    assert paths[0] == out and {p.parent.name for p in paths[1:]} == {"holdout", "on-test", "unfinished"}
    html = out.read_text()
    text = page_text(check_page(html))
    hrefs = re.findall(r'<a href="([^"#][^"]*)"', html)
    assert len(hrefs) == 3 and all((out.parent / h).resolve().is_file() for h in hrefs)
    assert "Validation curves" in text and "3 training runs side by side" in text
    holdout = json.loads((runs / "holdout" / "report.json").read_text())
    assert f"{holdout['test']['acc1']:.2%}" in text and "unfinished" in text
    back = re.search(r'href="([^"]+)">All runs', (runs / "holdout" / "report.html").read_text()).group(1)
    assert (runs / "holdout" / back).resolve() == out.resolve()


def test_figures_are_inline_svg_or_png(runs) -> None:
    html = run_page(runs / "holdout", mistakes=2, gradcam=1)
    svgs = re.findall(r'src="data:image/svg\+xml;base64,', html)
    assert len(svgs) == 3  # curves, learning rate, confusion matrix
    assert len(re.findall(r'src="data:image/png;base64,', html)) == 2 + 1  # two mistakes, one Grad-CAM figure
