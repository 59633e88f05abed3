"""Human-readable structure snapshots: layer, type, output shape, parameters.

A changed architecture shows up as a reviewable diff of tests/snapshots/NAME.txt.
Regenerate after an intended change with `make snapshots`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import cnnlab
from cnnlab.analysis import leaf_trace
from tests.helpers import meta_model

SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshots"
UPDATE = os.environ.get("CNNLAB_UPDATE_SNAPSHOTS") == "1"


def render(name: str) -> str:
    card = cnnlab.model_card(name)
    model = meta_model(name)
    rows = leaf_trace(model, card.input_size)
    lines = [f"# {name}: input {'x'.join(map(str, card.input_size))}, {card.params:,} parameters"]
    if hasattr(model, "forward_aux"):
        # Auxiliary heads run only in forward_aux: list their rows after the main path.
        seen = {r.name for r in rows}
        extra = [r for r in leaf_trace(model, card.input_size, batch_size=2, aux=True) if r.name not in seen]
        if extra:
            rows += [None, *extra]
    named = [r for r in rows if r is not None]
    width = max(len(r.name) for r in named)
    twidth = max(len(r.type) for r in named)
    for r in rows:
        if r is None:
            lines.append("# auxiliary heads (forward_aux, training mode)")
            continue
        shape = "x".join(map(str, r.output_shape))
        lines.append(f"{r.name:<{width}}  {r.type:<{twidth}}  {shape:>14}  {r.params:>11,}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", cnnlab.list_models())
def test_structure_snapshot(name):
    path = SNAPSHOTS / f"{name}.txt"
    text = render(name)
    if UPDATE:
        path.write_text(text)
        return
    assert path.exists(), f"no snapshot for {name}; create it with `make snapshots` and review it"
    assert text == path.read_text(), f"{name} structure changed; review and run `make snapshots` if intended"


def test_no_stale_snapshots():
    names = set(cnnlab.list_models())
    stale = sorted(p.stem for p in SNAPSHOTS.glob("*.txt") if p.stem not in names)
    assert not stale, f"snapshots of unregistered models: {stale}; delete them"
