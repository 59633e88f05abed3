"""What cnnlab's results show in Jupyter (``cnnlab.display``, rendered by
``cnnlab.report.notebook``): each ``_repr_html_`` is well-formed HTML holding the key numbers,
an explanation is also a PNG, ``repr`` stays one short line, and ``import cnnlab`` fills the
table without loading the engine, ``viz`` or matplotlib."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from torch import nn

import cnnlab
from cnnlab import analyze, compare, display, explain, model_card
from cnnlab.engine.run import RunTable, list_runs
from cnnlab.repro import run_claim

from .conftest import check_fragment, page_text

PNG = b"\x89PNG\r\n\x1a\n"
KINDS = ("analysis", "model-card", "comparison", "explanation", "runs", "claim")


def shown(obj) -> str:
    """The text a reader sees in ``obj``'s display, after checking the HTML."""
    html = obj._repr_html_()
    assert isinstance(html, str) and html.strip().startswith('<div class="cnnlab-display">')
    return page_text(check_fragment(html))


def short_repr(obj) -> str:
    text = repr(obj)
    assert "\n" not in text and len(text) < 300 and "<div" not in text, text
    return text


@pytest.fixture(scope="module")
def lenet():
    torch.manual_seed(0)
    return cnnlab.create_model("lenet5").eval()


def test_import_cnnlab_registers_every_kind_and_loads_no_figure_code() -> None:
    code = (
        "import json, sys, cnnlab; from cnnlab import display; "
        "print(json.dumps([sorted(display.registered()), "
        "[m for m in ('matplotlib', 'cnnlab.viz', 'cnnlab.engine') if m in sys.modules]]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    kinds, loaded = json.loads(out)
    assert kinds == sorted(KINDS)
    assert loaded == []  # the table of an analysis needs neither the engine nor a figure


def test_an_analysis_shows_its_totals_stages_and_collapsed_layers() -> None:
    a = analyze("lenet5")
    text = shown(a)
    assert "61,706" in text and "416,520" in text  # parameters, multiply-accumulates at 1x32x32
    assert f"{a.flops:,}" in text and f"{a.activation_elements:,}" in text
    assert "lenet5 at 1x32x32, batch 1" in text
    html = a._repr_html_()
    assert "<details>" in html and f"Per-layer table ({len(a.rows)} rows" in text
    for r in a.rows:  # every layer call is a row of the table
        assert r.label in text
    assert "Stages (from" in text and "The network, drawn" in text
    assert short_repr(a).startswith("<Analysis of lenet5 at 1x32x32, batch 1: 61,706 parameters")


def test_an_analysis_of_any_module_at_a_batch_says_so() -> None:
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))
    a = analyze(net, input_size=(3, 16, 16), batch_size=4)
    text = shown(a)
    assert "242" in text and f"{a.macs:,}" in text  # 3*8*9 + 8 + 8*2 + 2 parameters; MACs of the batch
    assert "multiply-adds per batch of 4 at 3x16x16" in text and "Stages (from depth-1 modules)" in text


def test_a_model_card_shows_the_paper_the_exact_counts_and_the_deviations() -> None:
    card = model_card("vgg16")
    text = shown(card)
    assert "138,357,544" in text and "15,470,264,320" in text
    assert "Simonyan & Zisserman (2015)" in text and "Table 1, column D" in text
    assert "138M" in text  # as the paper prints it, beside the exact count
    for deviation in card.deviations:
        assert " ".join(deviation.split()) in text
    assert "138,357,544 parameters" in short_repr(card)


def test_a_comparison_shows_the_models_ratios_and_notes() -> None:
    c = compare(["alexnet_owt", "vgg16"])
    text = shown(c)
    assert "61,100,840" in text and "138,357,544" in text and "15,470,264,320" in text
    assert "2.26x" in text and "21.7x" in text  # vgg16 over the baseline, as render_comparison prints them
    assert "baseline's (alexnet_owt)" in text
    for note in c.notes:
        assert " ".join(note.split()) in text
    assert "Simonyan & Zisserman 2015, Table 3" in text  # where the published error comes from
    assert "vgg16: stages at 3x224x224" in text
    assert short_repr(c) == "<Comparison of alexnet_owt, vgg16, baseline alexnet_owt>"


def test_an_explanation_is_its_figure_as_png_and_html_with_its_facts(lenet) -> None:
    images = torch.rand(2, 1, 32, 32)
    e = explain.grad_cam(lenet, images)
    bundle = e._repr_mimebundle_()
    assert set(bundle) == {"text/html", "image/png"} and bundle["image/png"].startswith(PNG)
    html = bundle["text/html"]
    text = page_text(check_fragment(html))
    assert 'src="data:image/png;base64,' in html  # the same figure inside the HTML
    assert "grad-cam at s4: 2 maps in ReLU(weighted activation)" in text
    assert ", ".join(map(str, e.target.tolist())) in text
    lo, hi = float(e.maps.min()), float(e.maps.max())
    assert f"{lo:.4g} to {hi:.4g}" in text
    assert e._repr_png_().startswith(PNG)
    # IPython's include / exclude, and a figure only where asked
    assert set(e._repr_mimebundle_(exclude={"image/png"})) == {"text/html"}
    assert e._repr_mimebundle_(include={"text/plain"}) is None
    assert e.images is not None and torch.equal(e.images, images)
    assert short_repr(e).startswith("<Explanation grad-cam: maps 2x5x5 in ReLU(weighted activation), layer s4")


def test_an_explanation_of_a_large_batch_draws_its_first_images(lenet) -> None:
    e = explain.saliency(lenet, torch.rand(10, 1, 32, 32))
    text = shown(e)
    assert "the first 8 of 10 images" in text
    filters = explain.filters(lenet)  # a grid of the first convolution's 6 filters: all drawn, no images
    assert filters.images is None and "the first" not in shown(filters)
    assert filters._repr_png_().startswith(PNG)


@pytest.mark.xdist_group("report")  # the runs fixture: trained once per worker of the group
def test_the_runs_table_shows_each_run(runs) -> None:
    table = list_runs(runs)
    assert isinstance(table, RunTable) and isinstance(table, list) and table.root == str(runs)
    text = shown(table)
    report = json.loads((runs / "holdout" / "report.json").read_text())
    assert f"{report['test']['acc1']:.2%}" in text and f"{report['test']['acc5']:.2%}" in text
    for name in ("holdout", "on-test", "unfinished"):
        assert name in text
    assert "3 training runs in" in text and "unfinished" in text
    assert json.loads(json.dumps(table)) == list(table)  # still plain data
    assert short_repr(table) == f"<RunTable of {runs}: 3 runs, 2 finished>"
    assert "No runs under" in shown(RunTable([], runs))


def test_a_claim_shows_each_printed_number_the_exact_value_and_the_verdict() -> None:
    result = run_claim("alexnet-conv1")
    text = shown(result)
    assert result.claim.title.split(":")[0] in text and "Source: CS231n" in text
    for check in result.checks:
        cnn = f"{check.cnnlab:,}" if isinstance(check.cnnlab, int) else str(check.cnnlab)
        assert f"{check.quantity} " in text and cnn in text and check.verdict in text
    for verdict, n in result.summary.items():
        assert f"{n} {verdict}" in text
    assert "34,944" in text  # conv1's parameters: (11*11*3)*96 weights + 96 biases
    assert short_repr(result).startswith("<ClaimResult alexnet-conv1: 16 checks (")


def test_the_table_takes_a_new_renderer_and_falls_back_to_text() -> None:
    class Thing(display.RichDisplay):
        display_kind = "test-thing"

    assert Thing()._repr_html_() is None and Thing()._repr_mimebundle_() is None  # no renderer: the text repr
    display.register("test-thing", lambda obj: {"text/html": "<b>thing</b>"})
    try:
        assert Thing()._repr_html_() == "<b>thing</b>"
    finally:
        display._RENDERERS.pop("test-thing")
