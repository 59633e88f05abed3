"""The tutorial notebooks (docs/notebooks): each runs top to bottom on a fresh kernel without an
error, with cnnlab's results displayed as tables and pictures; none is committed with outputs;
each opens with the cell that installs cnnlab where it is missing; the README links each.

The kernel is ipykernel's ``python3`` run by this interpreter (jupyter_client starts a kernel
spec's ``python`` as ``sys.executable``), with this checkout's ``src`` first on its
``PYTHONPATH``: it imports the cnnlab under test whether cnnlab is installed editable (CI) or
not at all. One BLAS / OpenMP thread per kernel, as ``tests/conftest.py`` gives each xdist
worker, so two workers do not oversubscribe the 2-core machine. Measured here, one after
another: about 7, 11, 11 and 7 seconds."""

from __future__ import annotations

import os
import re
from pathlib import Path

import ipykernel  # noqa: F401  (the kernel the notebooks run on; in the test extras)
import nbclient
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "docs" / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 180
# What each notebook must show as cnnlab's rich display: (HTML blocks, of which pictures).
DISPLAYS = {
    "01-build-and-inspect": (4, 0),  # model card, analysis, comparison, claim
    "02-train-lenet5-digits": (1, 0),  # the runs table
    "03-understand-it": (5, 5),  # filters, saliency, Grad-CAM, occlusion, fooling image
    "04-mechanics-numpy": (0, 0),
}


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def test_the_four_notebooks_are_there() -> None:
    assert [p.stem for p in NOTEBOOKS] == list(DISPLAYS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_committed_notebook_holds_no_outputs(path: Path) -> None:
    nb = _read(path)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert cell.outputs == [], f"{path.name} cell {i} holds outputs: clear them before committing"
        assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"
        assert "execution" not in cell.metadata, f"{path.name} cell {i} holds execution timings"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_opens_with_the_cell_that_installs_cnnlab_where_it_is_missing(path: Path) -> None:
    first = next(c for c in _read(path).cells if c.cell_type == "code").source
    assert re.search(
        r"^try:\n\s+import cnnlab\nexcept ImportError:\n(?:\s+.*\n)*?\s+%pip install --quiet \{source\}", first, re.M
    ), first


def test_the_readme_links_each_notebook_and_the_notebooks_readme_lists_them() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listing = (ROOT / "docs" / "notebooks" / "README.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        assert f"(docs/notebooks/{path.name})" in readme, f"README.md does not link {path.name}"
        assert f"({path.name})" in listing, f"docs/notebooks/README.md does not list {path.name}"


def _kernel_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    env.setdefault("OMP_NUM_THREADS", "1")
    env.pop("MPLBACKEND", None)  # the kernel picks its inline backend itself
    return env


@pytest.mark.xdist_group("notebooks")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_runs_top_to_bottom_on_a_fresh_kernel(path: Path, tmp_path: Path) -> None:
    nb = _read(path)
    # a last cell, in memory only: which cnnlab the kernel imported
    nb.cells.append(nbformat.v4.new_code_cell("import cnnlab\nprint('cnnlab from', cnnlab.__file__)"))
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(tmp_path)}},  # runs/ and pages go to a temporary folder
    )
    client.execute(env=_kernel_env())  # raises CellExecutionError, with the cell's traceback, on any error
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert nb.cells[-1].outputs[0].text.strip() == f"cnnlab from {ROOT / 'src' / 'cnnlab' / '__init__.py'}"
    displays = [o for o in outputs if 'class="cnnlab-display"' in o.get("data", {}).get("text/html", "")]
    pictures = [o for o in displays if o["data"].get("image/png")]
    html_count, png_count = DISPLAYS[path.stem]
    assert (len(displays), len(pictures)) == (html_count, png_count), path.name
