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


@pytest.mark.parametrize(
    "exp",
    [
        Explanation(
            "occlusion",
            torch.rand(1, 3, 3),
            "probability",
            extras={"class_map": torch.zeros(1, 3, 3, dtype=torch.long)},
        ),
        Explanation(
            "grad-cam", torch.rand(1, 2, 2), "ReLU(weighted activation)", extras={"upsampled": torch.rand(1, 8, 8)}
        ),
        Explanation("guided-backprop", torch.randn(1, 1, 8, 8), "modified gradient"),
        Explanation("filters", torch.randn(6, 1, 5, 5), "weight"),
        Explanation("activations", torch.rand(1, 6, 4, 4), "activation"),
        Explanation("dead-units", torch.rand(6), "fraction of inputs", layer="c1", extras={"dead": torch.tensor([2])}),
        Explanation("pca", torch.randn(5, 2), "embedding coordinate", layer="fc"),
        Explanation(
            "feature-inversion",
            torch.rand(1, 1, 8, 8),
            "pixel [0, 1]",
            extras={"feature_distance_start": torch.tensor([1.0]), "feature_distance_end": torch.tensor([0.1])},
        ),
        Explanation(
            "pgd",
            torch.rand(1, 1, 8, 8),
            "pixel [0, 1]",
            extras={
                "perturbation": torch.randn(1, 1, 8, 8) * 0.01,
                "success": torch.tensor([True]),
                "iterations": torch.tensor([3]),
                "l2": torch.tensor([0.1]),
                "linf": torch.tensor([0.03]),
                "original_class": torch.tensor([1]),
                "final_class": torch.tensor([2]),
            },
        ),
    ],
    ids=lambda e: e.method,
)
def test_every_kind_is_saved(exp, tmp_path) -> None:
    images = torch.rand(len(exp.maps) if exp.method not in ("filters", "dead-units") else 1, 1, 8, 8)
    paths = save_explanation(exp, images, tmp_path, exp.method)
    assert paths[0].read_bytes()[:4] == b"\x89PNG"


def test_neighbours_and_unknown_methods() -> None:
    exp = Explanation(
        "nearest-neighbours",
        torch.tensor([[0, 1]]),
        "gallery index",
        extras={"pixel_neighbours": torch.tensor([[1, 0]])},
    )
    fig = plot_neighbours(exp, torch.rand(1, 1, 8, 8), torch.rand(2, 1, 8, 8))
    assert len(fig.axes) == 6
    with pytest.raises(ValueError, match="no figure for method 'magic'"):
        plot_explanation(Explanation("magic", torch.rand(1, 2, 2), ""))


def test_minmax_normalises_each_map_by_its_own_range() -> None:
    """Was: one range over the whole batch, so a faint map drew as a flat one."""
    maps = torch.stack([torch.rand(8, 8), torch.rand(8, 8) * 0.01 + 5])
    fig = plot_heatmaps(Explanation("saliency", maps, "u"), torch.rand(2, 1, 8, 8), norm="minmax")
    limits = [ax.images[0].get_clim() for ax in fig.axes if ax.get_title() == "normalisation: minmax"]
    assert limits == [(float(m.min()), float(m.max())) for m in maps]


def test_occlusion_cells_are_drawn_where_their_windows_were() -> None:
    """Was: cells stretched over the whole image, shifted by (window - stride) / 2, and the
    pixels no window covered drawn as covered."""
    from cnnlab.viz.explain import occlusion_pixels

    cells = torch.arange(16.0).view(4, 4)
    positions = {"rows": [0, 5, 10, 15], "cols": [0, 5, 10, 15]}  # window 8, stride 5 on 25 px
    pixels = occlusion_pixels(cells, positions, window=8, stride=5, size=(25, 25))
    assert torch.isnan(pixels[23:, :]).all() and torch.isnan(pixels[:, 23:]).all()  # past 15 + 8: not covered
    assert not torch.isnan(pixels[:23, :23]).any()
    # the window starting at 5 has its centre at 8.5: pixels 6..10 are nearest to it
    assert pixels[8, 0] == cells[1, 0] and pixels[0, 8] == cells[0, 1]
    centres = [s + 3.5 for s in positions["rows"]]
    for p in range(23):
        best = min(abs(p - c) for c in centres)
        nearest = {float(cells[k, 0]) for k in range(4) if abs(p - centres[k]) == best}  # a tie: either
        assert float(pixels[p, 0]) in nearest, p


def test_occlusion_class_map_has_discrete_colours_and_a_legend() -> None:
    exp = Explanation(
        "occlusion",
        torch.rand(1, 2, 2),
        "probability",
        params={"window": 4, "stride": 4},
        extras={"class_map": torch.tensor([[[3, 7], [7, 3]]]), "positions": {"rows": [0, 4], "cols": [0, 4]}},
    )
    fig = plot_heatmaps(exp, torch.rand(1, 1, 8, 8), classes=[str(i) for i in range(10)])
    legend = fig.axes[3].get_legend()
    assert legend is not None and [t.get_text() for t in legend.get_texts()] == ["3", "7"]
    assert [ax.get_label() for ax in fig.axes].count("<colorbar>") == 1  # the map's; the classes have a legend
