"""The analysis defects of the outside audit (issue 17), each a test that failed before its fix."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnlab
from cnnlab.cli import main
from tests.helpers import assert_same_fingerprint, flop_counter_macs, model_fingerprint


class ValueBranch(nn.Module):
    """Data-dependent control flow: which conv runs depends on the values."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.small = nn.Conv2d(8, 8, 1)
        self.large = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if y.mean() > -1e9:  # always true for a real input; unanswerable on the meta device
            return self.small(y)
        return self.large(y)


def test_a_forward_that_reads_values_is_traced_for_real_on_the_cpu_at_batch_1():
    """Was: InputShapeError ... Tensor.item() cannot be called on meta tensors."""
    model = ValueBranch()
    before = model_fingerprint(model)
    with pytest.warns(UserWarning, match="traced with real values on the CPU at batch 1"):
        a = cnnlab.analyze(model, input_size=(3, 6, 6), batch_size=4)
    assert_same_fingerprint(before, model_fingerprint(model))
    assert a.batch_size == 1 and "seed 0" in a.trace_note and a.trace_note in a.to_dict()["trace_note"]
    assert a.macs == 6 * 6 * (8 * 3 * 9 + 8 * 8) == flop_counter_macs(model, (3, 6, 6), device="cpu")
    assert [r.name for r in a if r.kind == "conv"] == ["conv", "small"]
    from cnnlab.analysis.report import render_table

    assert "traced with real values" in render_table(a)


def test_a_container_name_gives_its_output_s_receptive_field():
    """docs/analysis.md quotes "Mixed_7c sees 1311"; rf --layer and Analysis.row refused it."""
    a = cnnlab.analyze("inception_v3", measure_saved=False)
    row = a.row("Mixed_7c")
    assert row.rf.size == (1311.0, 1311.0) and row.rf.jump == (32.0, 32.0)
    assert row.name.startswith("Mixed_7c.")  # the row that made the container's output
    r = cnnlab.analyze("resnet18", measure_saved=False)
    assert r.row("conv5_x").rf == r.row(r.row("conv5_x").label).rf


def test_rf_cli_accepts_a_container(capsys):
    assert main(["rf", "resnet18", "--layer", "conv5_x"]) == 0
    assert "Input region" in capsys.readouterr().out
    assert main(["rf", "resnet18", "--layer", "conv9_x"]) != 0
