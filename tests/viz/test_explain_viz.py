"""Explanation figures from hand-built results: every kind draws, colour bars carry the units."""

from __future__ import annotations

import pytest
import torch

from cnnlab.explain import Explanation
from cnnlab.viz.explain import plot_explanation, plot_heatmaps, plot_neighbours, save_explanation


def test_heatmap_colour_bar_names_the_units_and_the_normalisation() -> None:
    exp = Explanation("saliency", torch.rand(2, 8, 8), "|d score / d pixel|", target=torch.tensor([1, 2]))
    fig = plot_heatmaps(exp, torch.rand(2, 1, 8, 8), norm="symmetric")
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert "|d score / d pixel|" in labels
    assert any("normalisation: symmetric" in ax.get_title() for ax in fig.axes)
    with pytest.raises(ValueError, match="norm='log'"):
        plot_heatmaps(exp, None, norm="log")


@pytest.mark.parametrize("exp", [
    Explanation("occlusion", torch.rand(1, 3, 3), "probability", extras={"class_map": torch.zeros(1, 3, 3, dtype=torch.long)}),
    Explanation("grad-cam", torch.rand(1, 2, 2), "ReLU(weighted activation)", extras={"upsampled": torch.rand(1, 8, 8)}),
    Explanation("guided-backprop", torch.randn(1, 1, 8, 8), "modified gradient"),
    Explanation("filters", torch.randn(6, 1, 5, 5), "weight"),
    Explanation("activations", torch.rand(1, 6, 4, 4), "activation"),
    Explanation("dead-units", torch.rand(6), "fraction of inputs", layer="c1", extras={"dead": torch.tensor([2])}),
    Explanation("pca", torch.randn(5, 2), "embedding coordinate", layer="fc"),
    Explanation("feature-inversion", torch.rand(1, 1, 8, 8), "pixel [0, 1]",
                extras={"feature_distance_start": torch.tensor([1.0]), "feature_distance_end": torch.tensor([0.1])}),
    Explanation("pgd", torch.rand(1, 1, 8, 8), "pixel [0, 1]", extras={
        "perturbation": torch.randn(1, 1, 8, 8) * 0.01, "success": torch.tensor([True]), "iterations": torch.tensor([3]),
        "l2": torch.tensor([0.1]), "linf": torch.tensor([0.03]), "original_class": torch.tensor([1]), "final_class": torch.tensor([2])}),
], ids=lambda e: e.method)
def test_every_kind_is_saved(exp, tmp_path) -> None:
    images = torch.rand(len(exp.maps) if exp.method not in ("filters", "dead-units") else 1, 1, 8, 8)
    paths = save_explanation(exp, images, tmp_path, exp.method)
    assert paths[0].read_bytes()[:4] == b"\x89PNG"


def test_neighbours_and_unknown_methods() -> None:
    exp = Explanation("nearest-neighbours", torch.tensor([[0, 1]]), "gallery index", extras={"pixel_neighbours": torch.tensor([[1, 0]])})
    fig = plot_neighbours(exp, torch.rand(1, 1, 8, 8), torch.rand(2, 1, 8, 8))
    assert len(fig.axes) == 6
    with pytest.raises(ValueError, match="no figure for method 'magic'"):
        plot_explanation(Explanation("magic", torch.rand(1, 2, 2), ""))
