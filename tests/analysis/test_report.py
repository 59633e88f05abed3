"""Rendering of an Analysis: the table and its depth folding, the totals' numbers and words,
Markdown, CSV and JSON that parse back, and the receptive-field report."""

from __future__ import annotations

import csv
import io
import json

import pytest

from cnnlab import ConfigError
from cnnlab.analysis import SCHEMA, Analysis, analyze
from cnnlab.analysis.report import (
    binary_bytes,
    count,
    render_csv,
    render_json,
    render_markdown,
    render_rf,
    render_rf_check,
    render_table,
    render_totals,
    rf_target,
    si,
    table_lines,
)


@pytest.fixture(scope="module")
def vgg16() -> Analysis:
    return analyze("vgg16")


@pytest.fixture(scope="module")
def resnet18() -> Analysis:
    return analyze("resnet18", measure_saved=False)


def flat(text: str) -> str:
    """The text with every run of whitespace as one space: wrapped prose reads as one line."""
    return " ".join(text.split())


def table_row(text: str, label: str) -> list[str]:
    """The cells of the table line whose layer cell is ``label`` (cells are two spaces apart)."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().split("  ") if c.strip()]
        if any(c.startswith(label + " (") for c in cells):
            return cells
    raise AssertionError(f"no line for {label} in\n{text}")


def test_formatters() -> None:
    assert count(138_357_544) == "138,357,544"
    assert si(15_470_264_320) == "15.47 G" and si(416) == "416"
    assert binary_bytes(61_050_784) == "58.2 MiB" and binary_bytes(512) == "512 B"
    assert binary_bytes(3 * 2**30) == "3.00 GiB"


def test_table_rows_show_per_sample_shapes_params_macs_and_fields(vgg16: Analysis) -> None:
    text = render_table(vgg16)
    assert table_row(text, "conv1_1") == ["conv1_1 (Conv2d)", "64x224x224", "1,792", "86,704,128", "3 / 1"]
    assert table_row(text, "pool5") == ["pool5 (MaxPool2d)", "512x7x7", "-", "-", "212 / 32"]
    assert table_row(text, "fc6") == ["fc6 (Linear)", "4096", "102,764,544", "102,760,448", "global"]
    header = flat(text.split("\n\n")[0])
    assert "batch 1" in header and "per sample (the batch of 1 excluded)" in header
    # one line per row between the rules, and the totals after the table
    body = text.split("\n\n")[1].splitlines()
    assert len(body) == 2 + len(vgg16) + 1
    assert "Params: 138,357,544 total" in text


def test_batch_is_excluded_from_shapes_but_counted_in_macs() -> None:
    a = analyze("lenet5", batch_size=4, measure_saved=False)
    cells = table_row(render_table(a), "c1")
    assert cells[:4] == ["c1 (Conv2d)", "6x28x28", "156", count(4 * 117_600)]
    assert "batch of 4 excluded" in flat(render_table(a))


def test_depth_folds_rows_into_containers_with_summed_counts(resnet18: Analysis) -> None:
    every = table_lines(resnet18)
    assert len(every) == len(resnet18) and sum(ln.params for ln in every) == resnet18.params_used
    for depth in (0, 1, 2):
        lines = table_lines(resnet18, depth)
        assert sum(ln.params for ln in lines) == resnet18.params_used == 11_689_512
        assert sum(ln.macs for ln in lines) == resnet18.macs
        assert sum(max(ln.folded, 1) for ln in lines) == len(resnet18)
    (whole,) = table_lines(resnet18, 0)
    assert (whole.label, whole.output, whole.folded) == ("resnet18", "1000", len(resnet18))
    text = render_table(resnet18, depth=1)
    stage = table_row(text, "conv2_x")
    assert stage[0] == "conv2_x (Sequential, 16 rows)"
    # the container's output shape and the field of its last row
    assert stage[1] == "64x56x56" and stage[-1] == resnet18.row("conv2_x.1.act").rf.describe()
    assert count(sum(r.params for r in resnet18 if r.name.startswith("conv2_x."))) == stage[2]
    assert "conv2_x.0.conv1.conv" not in text
    assert "conv2_x.0 (ResidualBlock, 8 rows)" in render_table(resnet18, depth=2)


def test_depth_and_columns_are_checked(resnet18: Analysis) -> None:
    with pytest.raises(ConfigError, match=r"integer >= 0, got -1"):
        render_table(resnet18, depth=-1)
    with pytest.raises(ConfigError, match=r"unknown table column\(s\) \['size'\]; choose from index"):
        render_table(resnet18, columns=["layer", "size"])
    text = render_table(resnet18, depth=1, columns=["index", "layer", "kind", "flops"])
    assert table_row(text, "conv2_x") == ["5-20", "conv2_x (Sequential, 16 rows)", "-", count(2 * 462_422_016)]
    assert "FLOPs (batch 1)" in text


def test_totals_name_their_units_and_conventions(vgg16: Analysis) -> None:
    text = flat(render_totals(vgg16))
    assert "Params: 138,357,544 total, 138,357,544 trainable, 138,357,544 used by this forward pass" in text
    assert "MACs: 15,470,264,320 multiply-accumulates (15.47 G; conv + linear only)" in text
    assert "= 30,940,528,640 FLOPs (30.94 G; FLOPs = 2 x MACs)" in text
    assert "Other ops (not in MACs" in text and "bias adds 13,556,712" in text
    assert (
        f"Activations (lecture rule: input + conv/linear/pool outputs): {count(vgg16.activation_elements)} "
        f"elements x 4 bytes (float32) = {binary_bytes(vgg16.activation_bytes)} per batch of 1" in text
    )
    assert f"Saved for backward: {binary_bytes(vgg16.saved_bytes)}" in text and "measured" in text
    assert "Training memory (sgd, batch 1): params 527.8 MiB + grads 527.8 MiB + optimizer state 0 B" in text
    assert "KiB/MiB/GiB = 2^10/2^20/2^30 bytes" in text
    # Adam keeps two tensors per parameter: 2 x 138,357,544 x 4 bytes
    adam = flat(render_totals(vgg16, "adam", batch_size=32))
    state = binary_bytes(8 * 138_357_544)
    assert f"Training memory (adam, batch 32): params 527.8 MiB + grads 527.8 MiB + optimizer state {state}" in adam
    with pytest.raises(ConfigError, match="unknown optimizer 'lbfgs'"):
        render_totals(vgg16, "lbfgs")


def test_totals_list_unused_modules_and_unmeasured_memory() -> None:
    a = analyze("googlenet", measure_saved=False)
    text = flat(render_totals(a))
    assert "6,998,552 used by this forward pass" in text
    assert "aux1: 3,188,840 params not used by this forward pass" in text
    assert "aux2: 3,190,888 params not used by this forward pass" in text
    assert "Training memory: not estimated" in text
    assert "not used" not in render_totals(analyze("googlenet", aux=True, measure_saved=False))


def test_markdown_table_and_totals_list(vgg16: Analysis) -> None:
    text = render_markdown(vgg16, depth=1)
    lines = text.splitlines()
    assert "| Layer (type) | Output shape | Params | MACs (batch 1) | RF size / jump |" in lines
    assert "|---|---|---:|---:|---|" in lines
    assert "| `conv1_1` (Conv2d) | 64x224x224 | 1,792 | 86,704,128 | 3 / 1 |" in lines
    assert sum(line.startswith("| `") for line in lines) == len(vgg16)
    assert any(line.startswith("- MACs: 15,470,264,320 multiply-accumulates") for line in lines)


def test_csv_parses_back_one_line_per_row(vgg16: Analysis, resnet18: Analysis) -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(vgg16))))
    assert len(rows) == len(vgg16) == 40
    first = rows[0]
    cells = [first[k] for k in ("label", "type", "output_shapes", "params")]
    assert cells == ["conv1_1", "Conv2d", "1x64x224x224", "1792"]
    assert (first["kernel"], first["padding"], first["macs"], first["flops"]) == ("3x3", "1x1", "86704128", "173408256")
    rf = [first[k] for k in ("op_bias", "rf_kind", "rf_size_h", "rf_jump_w", "rf_start_h", "rf_extent_last_w")]
    assert rf == ["3211264", "spatial", "3", "1", "0", "223"]
    assert first["inputs"] == "0"
    pool1 = rows[4]
    assert (pool1["rf_size_w"], pool1["rf_start_w"], pool1["op_pool"]) == ("6", "0.5", "3211264")
    fc6 = next(r for r in rows if r["label"] == "fc6")
    assert (fc6["rf_kind"], fc6["rf_size_h"], fc6["input_shapes"]) == ("global", "", "1x25088")
    add = next(r for r in csv.DictReader(io.StringIO(render_csv(resnet18))) if r["label"] == "conv2_x.0.add")
    assert add["inputs"] == " ".join(map(str, resnet18.row("conv2_x.0.add").inputs)) and len(add["inputs"].split()) == 2


def test_json_is_the_versioned_dict(resnet18: Analysis) -> None:
    data = json.loads(render_json(resnet18))
    assert data["schema"] == SCHEMA == "cnnlab.analysis/1"
    assert len(data["rows"]) == len(resnet18) and data["totals"]["macs"] == resnet18.macs == 1_814_073_344
    assert data["rows"][0]["label"] == "conv1.conv" and data["rows"][0]["output_shapes"] == [[1, 64, 112, 112]]


def test_rf_table_and_region_of_a_position(vgg16: Analysis) -> None:
    text = render_rf(vgg16, "avgpool", (3, 3))
    assert table_row(text, "pool5") == ["31", "pool5 (MaxPool2d)", "pool", "512x7x7", "212", "32", "15.5"]
    assert table_row(text, "fc6")[-1] == "global"
    # centre of avgpool (3, 3): 15.5 + 3 x 32 = 111.5; half of 212 - 1 is 105.5
    assert "within the 224x224 input: y 6..217, x 6..217 (212x212 pixels)" in text
    corner = render_rf(vgg16, "pool5", (0, 0))
    assert "y 0..121, x 0..121 (122x122 pixels)" in corner and "y -90..121, x -90..121 (212x212 pixels)" in corner
    assert "padding" in corner
    assert "Input region" not in render_rf(vgg16)


def test_region_names_input_pixels_a_stride_leaves_unread() -> None:
    a = analyze("nin_imagenet", measure_saved=False)
    # conv1 (11x11, stride 4, no padding): its 54th and last window ends at 53 x 4 + 10 = 222
    text = render_rf(a, "relu_cccp8", (5, 5))
    assert "within the 224x224 input: y 96..222, x 96..222 (127x127 pixels)" in text
    assert "this map reads only y 0..222, x 0..222 (223x223 pixels) of the input" in " ".join(text.split())


def test_rf_target_defaults_and_errors(vgg16: Analysis, resnet18: Analysis) -> None:
    row, pos = rf_target(vgg16)
    assert (row.label, pos) == ("avgpool", (3, 3))
    with pytest.raises(ConfigError, match=r"fc6 has a global receptive field.*the last row with one is avgpool"):
        rf_target(vgg16, "fc6")
    with pytest.raises(ConfigError, match=r"position \(7, 0\) is outside pool5's 7x7 map \(axis h: 0..6\)"):
        rf_target(vgg16, "pool5", (7, 0))
    with pytest.raises(ConfigError, match=r"gives 1 coordinate\(s\); pool5's 7x7 map needs 2"):
        rf_target(vgg16, "pool5", (1,))
    with pytest.raises(ConfigError, match=r"no row named 'pool' in vgg16; rows containing it: pool1, pool2"):
        rf_target(vgg16, "pool")
    with pytest.raises(ConfigError, match=r"no row named 'pool9' in vgg16; the receptive-field table"):
        rf_target(vgg16, "pool9")
    with pytest.raises(ConfigError, match=r"conv2_x.0.add is a functional op.*such as conv2_x.0.act"):
        rf_target(resnet18, "conv2_x.0.add", modules_only=True)
    assert rf_target(resnet18, modules_only=True)[0].label == "conv5_x.1.act"


def test_rf_check_text(vgg16: Analysis) -> None:
    text, agree = render_rf_check(vgg16, "pool5", (0, 0), ((0, 121), (0, 121)))
    assert agree and "analytic (clipped): y 0..121" in text and text.splitlines()[-1].strip() == "agree"
    text, agree = render_rf_check(vgg16, "pool5", (0, 0), ((0, 120), (0, 121)))
    assert not agree and "DISAGREE" in text
