"""``cnnlab explain``: every method from the command line on a small model, PNGs and a
manifest, the layer list, and errors that name the value."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from cnnlab.cli.main import main
from cnnlab.explain.methods import METHODS


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "x.png"
    Image.fromarray((np.random.default_rng(0).random((40, 40)) * 255).astype("uint8")).save(path)
    return path


def test_help_lists_every_method_with_one_line(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["explain", "--help"])
    out = capsys.readouterr().out
    for name in METHODS:
        assert f"  {name} " in out
    assert "METHOD.png and METHOD.json" in out and "manifest.json" not in out  # what it really writes


EXTRA = {
    "activations": ["--layer", "c3"],
    "invert": ["--layer", "s4", "--set", "steps=3"],
    "maximize": ["--target", "3", "--set", "steps=3"],
    "fooling": ["--target", "2", "--set", "max_iterations=3"],
    "smoothgrad": ["--set", "samples=2", "--seed", "1"],
    "occlusion": ["--set", "stride=8"],
    "pgd": ["--set", "steps=2"],
    "embed": ["--dataset", "digits", "--count", "40"],
    "neighbours": ["--dataset", "digits", "--count", "40"],
}


@pytest.mark.parametrize("method", [m for m in METHODS if m != "cam"])
def test_each_method_writes_a_png_and_a_manifest(method, image, tmp_path) -> None:
    if method == "grabcut":
        pytest.importorskip("cv2")
    out = tmp_path / "out"
    args = ["explain", method, "lenet5", "--out", str(out), *EXTRA.get(method, [])]
    if METHODS[method].needs_images:
        args += ["--image", str(image)]
    lines: list[str] = []
    assert main(args, print_fn=lines.append) == 0
    stem = method.replace("+", "p")
    assert (out / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
    manifest = json.loads((out / f"{stem}.json").read_text())
    assert manifest["model"] == "lenet5" and manifest["versions"]["torch"] and manifest["params"] is not None
    assert manifest["images"] == ([str(image)] if METHODS[method].needs_images else [])


def test_cam_on_a_gap_model(image, tmp_path) -> None:
    assert (
        main(
            ["explain", "cam", "minigooglenet", "--image", str(image), "--out", str(tmp_path)], print_fn=lambda s: None
        )
        == 0
    )
    # the real layer forward_features ends with, as --list-layers names it (was "forward_features")
    assert json.loads((tmp_path / "cam.json").read_text())["layer"] == "inception3b"


def test_list_layers(capsys) -> None:
    lines: list[str] = []
    assert main(["explain", "saliency", "lenet5", "--list-layers"], print_fn=lines.append) == 0
    assert lines[0].split()[:2] == ["c1", "Conv2d"] and "rf 5x5" in lines[0]


def test_errors_name_the_value(image, tmp_path, capsys) -> None:
    assert (
        main(["explain", "saliency", "lenet5", "--image", str(image), "--set", "noise_level=1", "--out", str(tmp_path)])
        == 1
    )
    assert "noise_level" in capsys.readouterr().err
    assert main(["explain", "saliency", "lenet5", "--image", str(tmp_path / "missing.png")]) == 1
    assert "missing.png" in capsys.readouterr().err
    assert (
        main(["explain", "gradcam", "lenet5", "--image", str(image), "--layer", "conv9", "--out", str(tmp_path)]) == 1
    )
    assert "conv9" in capsys.readouterr().err
    assert main(["explain", "fooling", "lenet5", "--image", str(image), "--out", str(tmp_path)]) == 1
    assert "--target" in capsys.readouterr().err
    assert main(["explain", "cam", "lenet5", "--image", str(image), "--out", str(tmp_path)]) == 1
    assert "grad_cam (on the command line: cnnlab explain gradcam)" in capsys.readouterr().err


def test_options_a_method_cannot_take_are_refused_in_its_own_name(image, tmp_path, capsys) -> None:
    out = ["--out", str(tmp_path / "out")]
    for method in ("activations", "invert"):  # the layer to read has no default
        assert main(["explain", method, "lenet5", "--image", str(image), *out]) == 1
        assert (
            f"{method} needs --layer NAME, the layer to read (cnnlab explain {method} lenet5 --list-layers"
            in capsys.readouterr().err
        )
    assert main(["explain", "filters", "lenet5", "--target", "3", *out]) == 1  # was silently ignored
    assert "--target does not apply to filters" in capsys.readouterr().err
    assert main(["explain", "smoothgrad", "lenet5", "--image", str(image), "--set", "samples=abc", *out]) == 1
    assert "--set 'samples=abc': expected a whole number, got 'abc'" in capsys.readouterr().err
    assert main(["explain", "smoothgrad", "lenet5", "--image", str(image), "--set", "smoothgrad=false", *out]) == 1
    err = capsys.readouterr().err
    assert "--set 'smoothgrad=false': smoothgrad takes" in err and "smoothgrad," not in err  # fixed by the method
    assert main(["explain", "guided-backprop", "lenet5", "--image", str(image), "--channel", "3", *out]) == 1
    assert "(on the command line: --layer NAME --channel C;" in capsys.readouterr().err
    assert not list(tmp_path.glob("out/*.png"))


def test_a_folder_of_images_is_a_batch(image, tmp_path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("b.png", "a.png"):
        (folder / name).write_bytes(image.read_bytes())
    out = tmp_path / "out"
    assert main(["explain", "saliency", "lenet5", "--image", str(folder), "-o", str(out)], print_fn=lambda s: None) == 0
    assert json.loads((out / "saliency.json").read_text())["images"] == [str(folder / "a.png"), str(folder / "b.png")]


def test_dataset_methods_map_and_search_the_dataset(image, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    common = ["lenet5", "--dataset", "digits", "--count", "60", "-o", str(out)]
    assert (
        main(["explain", "embed", *common, "--set", "method=tsne", "--set", "perplexity=5"], print_fn=lambda s: None)
        == 0
    )
    embed = json.loads((out / "embed.json").read_text())
    assert embed["params"]["method"] == "tsne" and len(embed["labels"]) == 60 and embed["dataset"] == "digits"
    assert main(["explain", "neighbours", *common, "--set", "k=3"], print_fn=lambda s: None) == 0
    found = json.loads((out / "neighbours.json").read_text())
    assert set(found["agreement"]) == {"pixel", "feature"} and found["params"]["k"] == 3
    # queries given as files: no labels, so no agreement
    assert main(["explain", "neighbours", *common, "--image", str(image)], print_fn=lambda s: None) == 0
    assert json.loads((out / "neighbours.json").read_text())["agreement"] is None
    assert main(["explain", "embed", "lenet5", "-o", str(out)]) == 1
    assert "needs --dataset" in capsys.readouterr().err
    assert main(["explain", "embed", *common[:-2], "--count", "5000", "-o", str(out)]) == 1
    assert "has 359 images" in capsys.readouterr().err
