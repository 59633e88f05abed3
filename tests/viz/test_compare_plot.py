"""plot_comparison(): a real image file, written atomically, with nothing silently dropped."""

import subprocess
import sys

import pytest

from cnnlab.analysis.compare import compare
from cnnlab.errors import ConfigError
from cnnlab.viz import plot_comparison


@pytest.fixture(scope="module")
def comparison():
    # lenet5 has no published error: it must be reported, not dropped
    return compare(["alexnet_owt", "resnet18", "squeezenet1_0", "lenet5"], measure_saved=False)


def test_png_is_written_atomically(comparison, tmp_path):
    target = tmp_path / "chart.png"
    out = plot_comparison(comparison, target)
    assert out == target
    data = target.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    assert [p.name for p in tmp_path.iterdir()] == ["chart.png"]  # no temporary file left behind
    # overwriting an existing chart works the same way
    plot_comparison(comparison, str(target))
    assert [p.name for p in tmp_path.iterdir()] == ["chart.png"]


def test_models_without_published_error_are_listed(comparison, tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    assert comparison.without_published == ("lenet5",)
    target = tmp_path / "chart.svg"
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # keep text as text to read it back
        plot_comparison(comparison, target)
    svg = target.read_text()
    assert "No published top-1 error on file (not plotted): lenet5" in svg
    for name in ("alexnet_owt", "resnet18", "squeezenet1_0"):
        assert name in svg
    assert "log scale" in svg and "parameters" in svg


def test_no_published_errors_still_draws(tmp_path):
    c = compare(["lenet5"], measure_saved=False)
    out = plot_comparison(c, tmp_path / "empty.png")
    assert out.read_bytes().startswith(b"\x89PNG")


def test_bad_paths_are_clear_errors(comparison, tmp_path):
    with pytest.raises(ConfigError, match=r"cannot tell the image format of 'chart.txt'.*\.png"):
        plot_comparison(comparison, tmp_path / "chart.txt")
    with pytest.raises(ConfigError, match="does not exist"):
        plot_comparison(comparison, tmp_path / "missing" / "chart.png")
    with pytest.raises(ConfigError, match="takes the Comparison"):
        plot_comparison(["alexnet_owt"], tmp_path / "chart.png")


def test_importing_cnnlab_does_not_import_matplotlib():
    code = "import sys, cnnlab, cnnlab.viz, cnnlab.cli.main; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
