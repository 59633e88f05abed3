"""compare(), stage breakdowns, rendering, and the published-error table."""

import csv
import io
import json

import pytest
import torch
from torch import nn

import cnnlab
from cnnlab.analysis.compare import Comparison, compare, render_comparison, stage_breakdown
from cnnlab.analysis.published import DATASETS, PUBLISHED, find_published, published_error, published_table
from cnnlab.errors import ConfigError, UnknownModelError

VGG16_PARAMS, VGG16_MACS = 138_357_544, 15_470_264_320
ALEXNET_OWT_PARAMS, ALEXNET_OWT_MACS = 61_100_840, 714_188_480


@pytest.fixture(scope="module")
def pair() -> Comparison:
    return compare(["alexnet_owt", "vgg16"])


# -- published data ---------------------------------------------------------------------------
ENTRIES = [e for d in PUBLISHED for e in published_table(d)]


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: f"{e.dataset}-{e.name}")
def test_published_entries_are_sourced_and_plausible(entry):
    assert entry.name in cnnlab.list_models()
    assert entry.dataset in DATASETS
    assert 0 < entry.top1_error < 100
    if entry.top5_error is not None:
        assert 0 < entry.top5_error < entry.top1_error
    assert entry.protocol.strip() and "single model" in entry.protocol
    # a source names a table (papers) or the torchvision weights it documents
    assert (
        "Table" in entry.source or "Figure" in entry.source or "README" in entry.source or "torchvision" in entry.source
    )
    expected_classes = {"imagenet": 1000, "cifar10": 10}[entry.dataset]
    assert cnnlab.model_card(entry.name).num_classes == expected_classes


def test_torchvision_entries_match_the_weights_the_card_loads():
    """Numbers taken from torchvision's documentation are 100 - acc@1 of exactly the weights
    the model card loads, checked against the installed torchvision's metadata."""
    tv_models = pytest.importorskip("torchvision.models")
    checked = 0
    for entry in ENTRIES:
        if not entry.source.startswith("torchvision"):
            continue
        weights = cnnlab.model_card(entry.name).torchvision.weights  # e.g. "AlexNet_Weights.IMAGENET1K_V1"
        assert weights in entry.source
        enum_name, member = weights.split(".")
        metrics = getattr(getattr(tv_models, enum_name), member).meta["_metrics"]["ImageNet-1K"]
        assert entry.top1_error == pytest.approx(100 - metrics["acc@1"], abs=1e-9)
        assert entry.top5_error == pytest.approx(100 - metrics["acc@5"], abs=1e-9)
        checked += 1
    assert checked >= 10


def test_published_lookup():
    vgg = published_error("vgg16")
    assert (vgg.top1_error, vgg.top5_error) == (27.0, 8.8) and "Table 3" in vgg.source
    assert published_error("resnet110", "cifar10").top1_error == 6.43
    assert published_error("resnet110") is None  # a CIFAR model has no ImageNet entry
    assert find_published("resnet110").dataset == "cifar10"
    assert published_error("lenet5") is None and find_published("lenet5") is None
    with pytest.raises(ConfigError, match="unknown dataset 'mnist'.*imagenet, cifar10"):
        published_error("lenet5", "mnist")


# -- compare ----------------------------------------------------------------------------------
def test_ratios_from_exact_counts(pair):
    alex, vgg = pair["alexnet_owt"], pair["vgg16"]
    assert pair.baseline == "alexnet_owt" and pair.names == ("alexnet_owt", "vgg16")
    assert (alex.params, alex.macs) == (ALEXNET_OWT_PARAMS, ALEXNET_OWT_MACS)
    assert (vgg.params, vgg.macs, vgg.flops) == (VGG16_PARAMS, VGG16_MACS, 2 * VGG16_MACS)
    assert vgg.params_ratio == pytest.approx(VGG16_PARAMS / ALEXNET_OWT_PARAMS)  # 2.264...
    assert vgg.macs_ratio == pytest.approx(VGG16_MACS / ALEXNET_OWT_MACS)  # 21.66...
    assert vgg.activations_ratio == pytest.approx(vgg.activation_elements / alex.activation_elements)
    assert alex.params_ratio == alex.macs_ratio == 1.0
    assert vgg.top1_error == 27.0 and alex.top1_error == pytest.approx(43.478)
    assert vgg.saved_bytes > alex.saved_bytes > 0
    assert not pair.mixed_input_sizes and pair.input_size is None


def test_baseline_can_be_any_compared_model():
    c = compare(["alexnet_owt", "vgg16"], baseline="vgg16", measure_saved=False)
    assert c["alexnet_owt"].params_ratio == pytest.approx(ALEXNET_OWT_PARAMS / VGG16_PARAMS)
    assert c["vgg16"].macs_ratio == 1.0


def test_bad_arguments_are_clear_errors():
    with pytest.raises(
        ConfigError, match=r"baseline 'resnet50' is not among the compared models \(alexnet_owt, vgg16\)"
    ):
        compare(["alexnet_owt", "vgg16"], baseline="resnet50")
    with pytest.raises(ConfigError, match="listed twice"):
        compare(["lenet5", "lenet5"])
    with pytest.raises(ConfigError, match="at least one model"):
        compare([])
    with pytest.raises(UnknownModelError):
        compare(["lenet5", "no_such_net"])
    with pytest.raises(ConfigError, match="Analysis objects or nn.Modules, got int"):
        compare([3])


@pytest.mark.parametrize(
    "name", ["alexnet_owt", "vgg16", "resnet18", "googlenet", "squeezenet1_0", "resnet20", "lenet5", "nin_cifar10"]
)
def test_stage_sums_equal_totals(name):
    model = compare([name], measure_saved=False)[name]
    a = model.analysis
    assert model.stage_source == "feature_info"
    assert sum(s.params for s in model.stages) == a.params_total
    assert sum(s.macs for s in model.stages) == a.macs
    assert sum(s.params_share for s in model.stages) == pytest.approx(1.0)
    assert sum(s.macs_share for s in model.stages) == pytest.approx(1.0)
    assert sum(s.activation_elements for s in model.stages) + a.input_elements == a.activation_elements
    # the stages cover every row once, in order
    ranges = [(s.first_row, s.last_row) for s in model.stages if s.first_row is not None]
    assert ranges[0][0] == 1 and ranges[-1][1] == len(a.rows)
    assert all(nxt[0] == prev[1] + 1 for prev, nxt in zip(ranges, ranges[1:]))


def test_resnet_stages_follow_table_1():
    """conv2_x takes the max pooling before it, as He et al.'s Table 1 does; the head is
    global pooling and fc; shapes and feature_info's reductions come along."""
    m = compare(["resnet18"], measure_saved=False)["resnet18"]
    assert [s.name for s in m.stages] == ["conv1", "conv2_x", "conv3_x", "conv4_x", "conv5_x", "head"]
    conv2 = m.stages[1]
    assert m.analysis.rows[conv2.first_row - 1].name == "pool1"
    assert conv2.output_shape == (1, 64, 56, 56) and conv2.reduction == 4 and conv2.channels == 64
    assert m.stages[-1].params == 512 * 1000 + 1000  # fc only
    assert m.stages[-1].kind == "head"


def test_unused_auxiliary_heads_are_their_own_entry():
    m = compare(["googlenet"], measure_saved=False)["googlenet"]
    unused = [s for s in m.stages if s.kind == "unused"]
    assert len(unused) == 1 and "aux1" in unused[0].name and "aux2" in unused[0].name
    assert unused[0].params == m.params - m.analysis.params_used


def test_models_without_feature_info_use_depth1_modules():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3))
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))

        def forward(self, x):
            return self.head(self.body(x))

    net = compare([Net()], input_size=(3, 16, 16), measure_saved=False)["Net"]
    assert net.stage_source == "depth-1 modules"
    assert [s.name for s in net.stages] == ["body", "head"]
    assert sum(s.params for s in net.stages) == net.params == (3 * 9 * 8 + 8) + (8 * 9 * 8 + 8) + (8 * 2 + 2)
    assert net.published is None and net.family is None
    stages, source = stage_breakdown(net.analysis)
    assert source == "depth-1 modules" and stages == net.stages


def test_input_sizes_mixed_or_forced():
    mixed = compare(["lenet5", "alexnet_owt"], measure_saved=False)
    assert mixed.mixed_input_sizes
    assert any("own default input sizes" in n and "lenet5 1x32x32, alexnet_owt 3x224x224" in n for n in mixed.notes)
    assert any("no verified published error on file for: lenet5" in n for n in mixed.notes)
    channels = compare(["lenet5", "resnet20"], measure_saved=False)  # one image size, channels their own
    assert channels.mixed_input_sizes and not any("own default input sizes" in n for n in channels.notes)
    assert any("every model analysed at 32x32 pixels, each with its own input channels" in n for n in channels.notes)
    forced = compare(["resnet20", "resnet32"], input_size="3x64x64", measure_saved=False)
    assert {m.input_size for m in forced} == {(3, 64, 64)} and forced.input_size == (3, 64, 64)
    assert any("every model analysed at input 3x64x64" in n for n in forced.notes)


def test_analysis_objects_are_accepted_and_checked():
    a = cnnlab.analyze("resnet20", measure_saved=False)
    c = compare([a, "resnet32"], measure_saved=False)
    assert c.names == ("resnet20", "resnet32") and c["resnet20"].stage_source == "feature_info"
    assert c["resnet20"].published.top1_error == 8.75
    with pytest.raises(ConfigError, match="was made at 3x32x32, not the requested 3x64x64"):
        compare([a], input_size=(3, 64, 64))


# -- rendering --------------------------------------------------------------------------------
def test_render_table(pair):
    out = render_comparison(pair, "table")
    header = out.splitlines()[0]
    for column in ("model", "params", "MACs", "x MACs", "top-1 err %"):
        assert column in header
    vgg_line = next(line for line in out.splitlines() if line.startswith("vgg16"))
    assert (
        "138.4M" in vgg_line
        and "2.26x" in vgg_line
        and "15.47G" in vgg_line
        and "21.7x" in vgg_line
        and "27" in vgg_line
    )
    assert "baseline: alexnet_owt" in out and "FLOPs = 2 x MACs" in out
    assert "Simonyan & Zisserman 2015, Table 3, row D" in out


def test_render_stages_markdown_csv_json(pair):
    table = render_comparison(pair, "table", stages=True)
    assert "vgg16: stages from feature_info" in table and "pool3 (/8, 256 ch)" in table and "head" in table
    md = render_comparison(pair, "md", stages=True)
    assert md.startswith("| model |") and "| ---: |" in md and "**vgg16**" in md
    rows = list(csv.DictReader(io.StringIO(render_comparison(pair, "csv"))))
    assert [r["model"] for r in rows] == ["alexnet_owt", "vgg16"]
    assert int(rows[1]["params"]) == VGG16_PARAMS and float(rows[1]["params_ratio"]) == pytest.approx(
        VGG16_PARAMS / ALEXNET_OWT_PARAMS
    )
    assert float(rows[1]["top1_error"]) == 27.0
    stage_rows = list(csv.DictReader(io.StringIO(render_comparison(pair, "csv", stages=True))))
    assert sum(int(r["macs"]) for r in stage_rows if r["model"] == "vgg16") == VGG16_MACS
    data = json.loads(render_comparison(pair, "json"))
    assert data["schema"] == "cnnlab.comparison/1" and data["baseline"] == "alexnet_owt"
    vgg = data["models"][1]
    assert vgg["params"] == VGG16_PARAMS and vgg["flops"] == 2 * VGG16_MACS
    assert vgg["published"]["top1_error"] == 27.0 and vgg["stages"][-1]["name"] == "head"
    with pytest.raises(ConfigError, match="unknown format 'xml'; choose one of table, md, csv, json"):
        render_comparison(pair, "xml")


def test_meta_device_only():
    """compare() builds nothing on a real device: the models are meta stand-ins."""
    before = torch.empty(0).device
    compare(["lenet5"], measure_saved=False)
    assert torch.empty(0).device == before


def test_published_errors_only_describe_the_published_configuration() -> None:
    from cnnlab.analysis import compare

    c = compare(["resnet18", "resnet20"], input_size="3x32x32")
    assert c.models[0].published is None and c.models[1].published is not None
    assert any("left out for resnet18" in n for n in c.notes)
    assert compare(["resnet18"]).models[0].published is not None


def test_unregistered_modules_of_one_class_are_numbered() -> None:
    from torch import nn

    from cnnlab.analysis import compare

    c = compare([nn.Sequential(nn.Conv2d(3, 4, 3)), nn.Sequential(nn.Conv2d(3, 8, 3))], input_size=(3, 8, 8))
    assert [m.name for m in c.models] == ["Sequential#1", "Sequential#2"]
