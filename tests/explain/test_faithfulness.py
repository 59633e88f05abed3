"""Faithfulness numbers (deletion, insertion, ROAD) and `cnnlab explain compare` (issue 22).

ROAD's noisy linear imputation is checked against pytorch-grad-cam's NoisyLinearImputer (the
ROAD authors' code) and its MoRF/LeRF perturbation metric; the deletion and insertion curves
against their definition (Petsiuk et al. 2018) on a model whose answer is known."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

import cnnlab
from cnnlab.cli import main
from cnnlab.errors import ConfigError
from cnnlab.explain import attribution as A
from cnnlab.explain.compare import compare_methods
from cnnlab.explain.faithfulness import deletion_insertion, linear_impute, road
from tests.explain.test_differential import TARGETS, images, net, pixels_model
from tests.helpers import assert_same_fingerprint, model_fingerprint

road_lib = pytest.importorskip("pytorch_grad_cam.metrics.road")
perturbation = pytest.importorskip("pytorch_grad_cam.metrics.perturbation_confidence")


@pytest.mark.parametrize("share", [0.05, 0.4, 0.9])
def test_linear_imputation_equals_the_road_authors(share):
    """pytorch-grad-cam's NoisyLinearImputer (the ROAD authors' code) takes a mask of the KEPT
    pixels; with noise 0 both solve the same sparse system. Float32 rounding only."""
    g = torch.Generator().manual_seed(1)
    img = torch.rand(3, 11, 9, generator=g)
    removed = torch.rand(11, 9, generator=g) < share
    removed[0, 0] = removed[-1, -1] = True  # corners: border weights renormalised
    theirs = road_lib.NoisyLinearImputer(noise=0.0)(img, (~removed).float())
    torch.testing.assert_close(linear_impute(img, removed), theirs, rtol=1e-5, atol=1e-6)
    assert torch.equal(linear_impute(img, removed)[:, ~removed], img[:, ~removed])  # known pixels kept


def test_road_most_and_least_relevant_first_equal_pytorch_grad_cams():
    """pytorch-grad-cam's RemoveMostRelevantFirst(percentile=p) keeps the pixels below the p-th
    percentile of the map (removes the top 100 - p %), its RemoveLeastRelevantFirst(p) the same
    of 1 - map (the map scaled to [0, 1]: removes the bottom 100 - p %); it imputes the model's input tensor;
    linear imputation commutes with the per-channel normalisation, so with noise 0 cnnlab's
    fill of the pixels equals the peer's fill of the normalised input. Scores: p(target)."""
    model, x = net(), images()
    maps = A.saliency(model, x, TARGETS).maps  # no ties: a rank and a percentile cut pick the same pixels
    fraction = 0.25  # 16 of the 64 pixels: the peer's percentile threshold removes the same 16
    ours = road(model, x, maps, TARGETS, fractions=(fraction,), noise=0.0)
    peer_model = pixels_model(model)
    targets = [lambda out, t=int(t): out.softmax(-1)[t] for t in TARGETS]
    for order, remove, got in (
        ("morf", perturbation.RemoveMostRelevantFirst, ours.morf_probability[0]),
        ("lerf", perturbation.RemoveLeastRelevantFirst, ours.lerf_probability[0]),
    ):
        share = 100 * (1 - fraction)  # the peer's percentile is the share it keeps, in both orders
        cams = maps.numpy() if order == "morf" else (maps / maps.amax(dim=(1, 2), keepdim=True)).numpy()
        metric = perturbation.PerturbationConfidenceMetric(remove(share, road_lib.NoisyLinearImputer(noise=0.0)))
        theirs = metric(x, cams, targets, peer_model, return_diff=False)
        assert got == pytest.approx(float(np.mean(theirs)), rel=1e-5), order


def test_deletion_and_insertion_curves_follow_their_definition():
    """A linear model, logit_1 = -logit_0 = sum_i w_i x_i / 2 with mixed-sign w: ranking pixels
    by their contribution w_i x_i deletes the evidence for class 1 first (a lower deletion
    area) and inserts it first (a higher insertion area) than the reverse ranking; the areas
    are the trapezoid rule over the fractions; fraction 0 is the image, 1 all black."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(64, generator=g)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2, bias=False)).eval()
    with torch.no_grad():
        model[1].weight.copy_(torch.stack([-w, w]) / 2)
    model.pretrained_cfg = {"input_size": (1, 8, 8), "mean": (0.0,), "std": (1.0,)}
    x = torch.rand(2, 1, 8, 8, generator=g)
    contribution = x[:, 0] * w.view(8, 8)
    good = deletion_insertion(model, x, contribution, 1, steps=16)
    bad = deletion_insertion(model, x, -contribution, 1, steps=16)
    assert good.deletion_auc < bad.deletion_auc and good.insertion_auc > bad.insertion_auc
    assert good.deletion[0] == pytest.approx(model(x).softmax(1)[:, 1].mean().item())
    assert good.deletion[-1] == pytest.approx(0.5)  # all black: logits 0, 0
    assert good.deletion_auc == pytest.approx(float(np.trapezoid(good.deletion, good.fractions)))
    with pytest.raises(ConfigError, match="steps=0"):
        deletion_insertion(model, x, x[:, 0], 1, steps=0)


def test_a_batch_equals_one_image_at_a_time_and_the_model_is_left_as_found():
    model, x = net(), images()
    maps = A.saliency(model, x, TARGETS).maps
    before = model_fingerprint(model)
    whole = deletion_insertion(model, x, maps, TARGETS, steps=8)
    roads = road(model, x, maps, TARGETS, fractions=(0.3, 0.6), seed=4)
    assert_same_fingerprint(before, model_fingerprint(model))
    for i in range(len(x)):
        one = deletion_insertion(model, x[i : i + 1], maps[i : i + 1], TARGETS[i : i + 1], steps=8)
        assert one.per_image[0] == pytest.approx(whole.per_image[i])
    single = [
        road(model, x[i : i + 1], maps[i : i + 1], TARGETS[i : i + 1], fractions=(0.3, 0.6), seed=4) for i in range(3)
    ]
    assert roads.morf_probability == pytest.approx(np.mean([s.morf_probability for s in single], axis=0).tolist())
    with pytest.raises(ConfigError, match="fractions"):
        road(model, x, maps, TARGETS, fractions=(1.5,))


def test_compare_scores_each_method_and_refuses_what_is_not_an_attribution():
    model, x = net(), images(2)
    result = compare_methods(
        model,
        x,
        ["saliency", "gradcam"],
        TARGETS[:2],
        options={"gradcam": {"layer": "4"}},
        steps=4,
        road_fractions=(0.5,),
    )
    assert [m.method for m in result.methods] == ["saliency", "gradcam"]
    for m in result.methods:
        assert 0 <= m.curves.deletion_auc <= 1 and m.randomisation is not None and m.sensitivity is not None
    json.dumps(result.to_dict())
    with pytest.raises(ConfigError, match="fgsm does not make an attribution map"):
        compare_methods(model, x, ["fgsm"])


def test_cli_compare_writes_one_figure_and_one_json(tmp_path):
    from PIL import Image

    for i in range(2):
        Image.fromarray((np.random.default_rng(i).random((32, 32)) * 255).astype("uint8")).save(tmp_path / f"{i}.png")
    out = tmp_path / "out"
    lines: list[str] = []
    args = ["explain", "compare", "saliency", "gradcam", "lenet5", "--image", str(tmp_path / "0.png")]
    assert main([*args, str(tmp_path / "1.png"), "--seed", "0", "-o", str(out)], print_fn=lines.append) == 0
    assert (out / "compare.png").read_bytes()[:4] == b"\x89PNG"
    data = json.loads((out / "compare.json").read_text())
    assert [m["method"] for m in data["methods"]] == ["saliency", "gradcam"]
    assert all({"deletion_auc", "insertion_auc", "road", "model_randomisation"} <= set(m) for m in data["methods"])
    assert any(line.startswith("gradcam") and "deletion" in line for line in lines)
    assert main(["explain", "compare", "lenet5", "--image", str(tmp_path / "0.png")]) == 1  # no method
    assert main(["explain", "saliency", "lenet5", "extra", "--image", str(tmp_path / "0.png")]) == 1


def test_explain_help_lists_compare(capsys):
    with pytest.raises(SystemExit):
        main(["explain", "--help"])
    assert "cnnlab explain compare METHOD" in capsys.readouterr().out
    assert cnnlab.explain.compare.ATTRIBUTION_METHODS
