"""Figures of explanations: each drawn from an :class:`~cnnlab.explain.Explanation` at its
raw scale, with the normalisation stated and a colour bar in the method's units."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch

from ..explain.methods import METHODS
from ..explain.sanity import pixel_map
from ._save import pyplot, save_figure

NORMS = ("minmax", "symmetric", "none")


def _plt() -> Any:
    return pyplot()


def _image(t: torch.Tensor) -> Any:
    """C x H x W in [0, 1] -> what imshow wants."""
    t = t.detach().float().clamp(0, 1)
    return t[0].numpy() if t.shape[0] == 1 else t.permute(1, 2, 0).numpy()


def _limits(m: torch.Tensor, norm: str) -> tuple[float | None, float | None, str]:
    if norm not in NORMS:
        raise ValueError(f"norm={norm!r} must be one of {', '.join(NORMS)}")
    if norm == "symmetric":
        v = float(m.abs().max()) or 1.0
        return -v, v, "RdBu_r"
    if norm == "minmax":
        return float(m.min()), float(m.max()), "inferno"
    return None, None, "inferno"


def _title(exp: Any, i: int, classes: Any) -> str:
    parts = [exp.method]
    if exp.target is not None and i < len(exp.target):
        t = int(exp.target[i])
        parts.append(f"target {classes[t] if classes and t < len(classes) else t}")
    if exp.layer:
        parts.append(f"layer {exp.layer}")
    return ", ".join(parts)


def occlusion_pixels(
    cells: torch.Tensor, positions: dict, window: int, stride: int, size: tuple[int, int]
) -> torch.Tensor:
    """An occlusion map (``rows x cols`` cells) drawn in pixels: each pixel takes the cell of
    the window whose centre is nearest among the windows that covered it, so every cell sits
    where its window was; pixels no window covered (the last rows and columns when the
    stride does not fit the image) are NaN."""
    out = torch.full(size, float("nan"), dtype=torch.float32)
    index = []
    for starts, extent in ((positions["rows"], size[0]), (positions["cols"], size[1])):
        p = torch.arange(extent, dtype=torch.float32)
        nearest = ((p - (window - 1) / 2) / stride).round().clamp(0, len(starts) - 1).long()
        covered = p < starts[-1] + window
        index.append((nearest, covered))
    (ry, cy), (rx, cx) = index
    values = cells.float()[ry][:, rx]
    mask = cy[:, None] & cx[None, :]
    out[mask] = values[mask]
    return out


def _class_legend(ax: Any, class_map: torch.Tensor, classes: Any) -> None:
    """The most-probable-class map in discrete colours, one per class present, with a legend."""
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    plt = _plt()
    present = (
        sorted({int(v) for v in class_map[~torch.isnan(class_map)].tolist()})
        if class_map.is_floating_point()
        else sorted(set(class_map.flatten().tolist()))
    )
    palette = plt.get_cmap("tab20").colors
    colours = [palette[k % len(palette)] for k in range(len(present))]
    lookup = {c: i for i, c in enumerate(present)}
    shown = class_map.float().clone()
    for c, i in lookup.items():
        shown[class_map == c] = i
    cmap = ListedColormap(colours).with_extremes(bad="lightgrey")
    ax.imshow(
        shown.numpy(), cmap=cmap, norm=BoundaryNorm(range(len(present) + 1), len(present)), interpolation="nearest"
    )
    names = [classes[k] if classes and k < len(classes) else str(k) for k in present]
    ax.legend(
        handles=[Patch(color=colours[i], label=n) for i, n in enumerate(names[:12])],
        fontsize=6,
        loc="upper right",
        framealpha=0.8,
        title="most probable class",
        title_fontsize=6,
    )


def plot_heatmaps(
    exp: Any, images: torch.Tensor | None = None, *, norm: str = "minmax", classes: Any = None, alpha: float = 0.5
) -> Any:
    """One row per image: the image, the map (colour bar in ``exp.units``, limits by
    ``norm``, per map: ``"minmax"`` the map's own range, ``"symmetric"`` +-max |value|,
    ``"none"`` matplotlib's default), and the map over the image. Maps at a coarser
    resolution are shown upsampled (``extras["upsampled"]``). Occlusion draws each cell where
    its window was (pixels no window covered in light grey) and adds its most-probable-class
    map in discrete colours with a legend."""
    plt = _plt()
    maps = exp.extras.get("upsampled", exp.maps).float()  # float: masks (grabcut) are bool
    if maps.dim() == 4:  # signed gradients per channel: the largest magnitude
        maps = maps.abs().amax(dim=1)
    extra = "class_map" in exp.extras
    occluded = "positions" in exp.extras and images is not None
    cols = 3 + int(extra)
    n = maps.shape[0]
    fig, axes = plt.subplots(n, cols, figsize=(3.2 * cols, 3 * n), squeeze=False)
    for i in range(n):
        ax = axes[i]
        m = maps[i]
        class_map = exp.extras["class_map"][i] if extra else None
        if occluded:
            args = (
                exp.extras["positions"],
                int(exp.params["window"]),
                int(exp.params["stride"]),
                tuple(images.shape[-2:]),
            )
            m = occlusion_pixels(m, *args)
            class_map = occlusion_pixels(class_map, *args) if extra else None
        lo, hi, cmap_name = _limits(m[~torch.isnan(m)], norm)
        cmap = plt.get_cmap(cmap_name).with_extremes(bad="lightgrey")  # pixels no occlusion window covered
        if images is not None:
            ax[0].imshow(_image(images[i]), cmap="gray")
        ax[0].set_title(_title(exp, i, classes), fontsize=8)
        im = ax[1].imshow(m.numpy(), cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
        fig.colorbar(im, ax=ax[1], fraction=0.046, pad=0.04).set_label(exp.units, fontsize=7)
        ax[1].set_title(
            f"normalisation: {norm}" + ("; grey: not covered" if occluded and bool(torch.isnan(m).any()) else ""),
            fontsize=8,
        )
        if images is not None:
            ax[2].imshow(_image(images[i]), cmap="gray")
            size = images.shape[-2:]
            over = (
                m
                if occluded
                else torch.nn.functional.interpolate(m[None, None], size=tuple(size), mode="nearest")[0, 0]
            )
            ax[2].imshow(over.numpy(), cmap=cmap, vmin=lo, vmax=hi, alpha=alpha, interpolation="nearest")
        ax[2].set_title("overlay", fontsize=8)
        if extra:
            _class_legend(ax[3], class_map, classes)
        for a in ax:
            a.axis("off")
    fig.tight_layout()
    return fig


def plot_signed(exp: Any, images: torch.Tensor | None = None, *, classes: Any = None) -> Any:
    """Guided backprop and deconvnet: the signed N x C x H x W result shown as an image,
    each normalised on its own to ``0.5 + x / (2 max|x|)`` (grey = 0), as the papers show them."""
    plt = _plt()
    n = exp.maps.shape[0]
    fig, axes = plt.subplots(n, 2, figsize=(6.4, 3 * n), squeeze=False)
    for i in range(n):
        m = exp.maps[i]
        scale = float(m.abs().max()) or 1.0
        if images is not None:
            axes[i][0].imshow(_image(images[i]), cmap="gray")
        axes[i][0].set_title(_title(exp, i, classes), fontsize=8)
        axes[i][1].imshow(_image(0.5 + m / (2 * scale)), cmap="gray")
        axes[i][1].set_title(f"0.5 + x / (2 x {scale:.3g}); {exp.units}", fontsize=7)
        for a in axes[i]:
            a.axis("off")
    fig.tight_layout()
    return fig


def plot_grid(tiles: torch.Tensor, *, title: str, units: str, shared: bool = True) -> Any:
    """Tiles (K x C x h x w, C in {1, 3}; or K x h x w) in a grid: filters or activation
    channels. ``shared``: one colour scale for all (with a colour bar in ``units``); else
    each tile min-max normalised on its own (stated in the title)."""
    plt = _plt()
    if tiles.dim() == 3:
        tiles = tiles[:, None]
    k = tiles.shape[0]
    cols = min(k, 8)
    rows = math.ceil(k / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.4 * cols + 1, 1.4 * rows + 0.6), squeeze=False)
    lo, hi = float(tiles.min()), float(tiles.max())
    im = None
    for j in range(rows * cols):
        ax = axes[j // cols][j % cols]
        ax.axis("off")
        if j >= k:
            continue
        t = tiles[j].float()
        if t.shape[0] == 3:
            t = (t - (lo if shared else t.min())) / max((hi - lo) if shared else float(t.max() - t.min()), 1e-12)
            ax.imshow(t.permute(1, 2, 0).clamp(0, 1).numpy())
        else:
            im = ax.imshow(t[0].numpy(), cmap="gray", vmin=lo if shared else None, vmax=hi if shared else None)
    fig.suptitle(f"{title} ({'one scale for all' if shared else 'each tile min-max normalised'})", fontsize=9)
    if im is not None and shared:
        fig.colorbar(im, ax=axes, fraction=0.02, pad=0.02).set_label(units, fontsize=7)
    return fig


def plot_images(exp: Any, images: torch.Tensor | None = None, *, classes: Any = None) -> Any:
    """Synthesis and attacks: the images the method produced (pixels in [0, 1], shown as
    they are), with the original, the perturbation (magnified, factor stated) and the
    attack's outcome for adversarial methods."""
    plt = _plt()
    adversarial = "perturbation" in exp.extras
    n = exp.maps.shape[0]
    cols = 3 if adversarial and images is not None else 1
    fig, axes = plt.subplots(n, cols, figsize=(3.2 * cols, 3.2 * n), squeeze=False)
    for i in range(n):
        ax = axes[i]
        if adversarial and images is not None:
            delta = exp.extras["perturbation"][i]
            scale = 0.5 / max(float(delta.abs().max()), 1e-12)
            ax[0].imshow(_image(images[i]), cmap="gray")
            ax[0].set_title(f"original: class {int(exp.extras['original_class'][i])}", fontsize=8)
            ax[1].imshow(_image(0.5 + delta * scale), cmap="gray")
            ax[1].set_title(f"perturbation x {scale:.3g} (grey = 0)", fontsize=8)
            ok = bool(exp.extras["success"][i])
            ax[2].imshow(_image(exp.maps[i]), cmap="gray")
            ax[2].set_title(
                f"{'fooled' if ok else 'not fooled'}: class {int(exp.extras['final_class'][i])} after "
                f"{int(exp.extras['iterations'][i])} it.\nL2 {float(exp.extras['l2'][i]):.3g}, "
                f"Linf {float(exp.extras['linf'][i]):.3g}",
                fontsize=7,
            )
        else:
            ax[0].imshow(_image(exp.maps[i]), cmap="gray")
            info = ""
            if "score_end" in exp.extras:
                info = f"\nscore {float(exp.extras['score_start'][i]):.3g} -> {float(exp.extras['score_end'][i]):.3g}"
            if "feature_distance_end" in exp.extras:
                info = (
                    f"\nfeature distance {float(exp.extras['feature_distance_start'][i]):.3g} -> "
                    f"{float(exp.extras['feature_distance_end'][i]):.3g}"
                )
            ax[0].set_title(_title(exp, i, classes) + info, fontsize=8)
        for a in ax:
            a.axis("off")
    fig.tight_layout()
    return fig


def plot_bars(exp: Any) -> Any:
    """Dead units: the fraction of inputs on which each channel is zero everywhere."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.bar(range(len(exp.maps)), exp.maps.numpy())
    ax.set(
        xlabel="channel",
        ylabel=exp.units,
        ylim=(0, 1),
        title=f"dead units of {exp.layer}: {len(exp.extras.get('dead', []))} dead on every input",
    )
    fig.tight_layout()
    return fig


def plot_embedding(exp: Any, images: torch.Tensor | None = None, labels: Any = None, *, zoom: float = 0.6) -> Any:
    """A 2-D map (PCA or t-SNE) of images, drawn with thumbnails when given, coloured by
    label when given."""
    plt = _plt()
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    xy = exp.maps.numpy()
    fig, ax = plt.subplots(figsize=(8, 8))
    colours = {} if labels is None else {"c": [int(v) for v in labels], "cmap": "tab10"}
    ax.scatter(xy[:, 0], xy[:, 1], s=8, **colours)
    if images is not None:
        for i in range(len(xy)):
            box = OffsetImage(_image(images[i]), zoom=zoom, cmap="gray")
            ax.add_artist(AnnotationBbox(box, xy[i], frameon=False))
    ax.set(title=f"{exp.method} of {exp.layer} features", xlabel="component 1", ylabel="component 2")
    return fig


def plot_neighbours(exp: Any, queries: torch.Tensor, gallery: torch.Tensor) -> Any:
    """Each query, then its neighbours in pixel space (top row) and in feature space
    (bottom row)."""
    plt = _plt()
    n, k = exp.maps.shape
    fig, axes = plt.subplots(2 * n, k + 1, figsize=(1.5 * (k + 1), 3 * n), squeeze=False)
    for i in range(n):
        for r, (idx, name) in enumerate(((exp.extras["pixel_neighbours"][i], "pixels"), (exp.maps[i], "features"))):
            ax = axes[2 * i + r]
            ax[0].imshow(_image(queries[i]), cmap="gray")
            ax[0].set_title("query" if r == 0 else "", fontsize=7)
            for j in range(k):
                ax[j + 1].imshow(_image(gallery[int(idx[j])]), cmap="gray")
            ax[1].set_title(f"nearest in {name}", fontsize=7)
            for a in ax:
                a.axis("off")
    fig.tight_layout()
    return fig


SIGNED = ("guided-backprop", "deconvnet", "guided-grad-cam", "integrated-gradients", "input-x-gradient")
IMAGES = ("activation-maximization", "feature-inversion", "fooling", "fooling-image", "fgsm", "pgd")
HEATMAPS = (
    "saliency",
    "smoothgrad",
    "smoothgrad-sq",
    "vargrad",
    "cam",
    "grad-cam",
    "grad-cam++",
    "score-cam",
    "layer-cam",
    "hires-cam",
    "eigen-cam",
    "occlusion",
    "grabcut",
)


def plot_explanation(exp: Any, images: torch.Tensor | None = None, *, classes: Any = None, norm: str = "minmax") -> Any:
    """The figure for any method's result (dispatch on ``exp.method``)."""
    if exp.method in HEATMAPS:
        return plot_heatmaps(exp, images, norm=norm, classes=classes)
    if exp.method in SIGNED:
        return plot_signed(exp, images, classes=classes)
    if exp.method in IMAGES:
        return plot_images(exp, images, classes=classes)
    if exp.method == "filters":
        return plot_grid(exp.maps, title=f"filters of {exp.layer}", units=exp.units)
    if exp.method == "activations":
        return plot_grid(exp.maps[0], title=f"activations of {exp.layer}, image 1", units=exp.units)
    if exp.method == "dead-units":
        return plot_bars(exp)
    if exp.method in ("pca", "tsne"):
        return plot_embedding(exp, images)
    raise ValueError(f"no figure for method {exp.method!r}")


def save_explanation(
    exp: Any,
    images: torch.Tensor | None,
    out_dir: str | os.PathLike,
    stem: str,
    *,
    classes: Any = None,
    norm: str = "minmax",
) -> list[Path]:
    """Draw ``exp`` and write ``out_dir/stem.png`` atomically; returns the paths written."""
    plt = _plt()
    fig = plot_explanation(exp, images, classes=classes, norm=norm)
    try:
        return [save_figure(fig, Path(out_dir) / f"{stem}.png")]
    finally:
        plt.close(fig)


def plot_comparison(comparison: Any, images: torch.Tensor, *, classes: Any = None) -> Any:
    """``cnnlab explain compare``: one row per image (the image, then each method's map over
    it at the image's resolution, min-max per map), each column titled with its method, its
    deletion and insertion areas (lower and higher are better) and, where they were measured,
    the sanity checks' scores (rank correlation with the randomised model's map and between
    classes' maps: lower is better), and a last row of every method's deletion and insertion
    curves."""
    plt = _plt()
    n, k = len(images), len(comparison.methods)
    fig, axes = plt.subplots(n + 1, k + 1, figsize=(2.6 * (k + 1), 2.6 * (n + 1)), squeeze=False)
    for i in range(n):
        t = comparison.targets[i]
        axes[i][0].imshow(_image(images[i]), cmap="gray")
        axes[i][0].set_title(f"target {classes[t] if classes and t < len(classes) else t}", fontsize=8)
        for j, scores in enumerate(comparison.methods, start=1):
            m = pixel_map(scores.explanation, images.shape[-2:])[i]
            if METHODS[scores.method].low_is_important:
                m = -m  # occlusion: low p(class) marks the important pixels
            ax = axes[i][j]
            ax.imshow(_image(images[i]), cmap="gray")
            ax.imshow(m.numpy(), cmap="inferno", alpha=0.6, interpolation="nearest")
            if i == 0:
                c = scores.curves
                title = f"{scores.method}\ndeletion {c.deletion_auc:.3f}, insertion {c.insertion_auc:.3f}"
                if scores.randomisation is not None and scores.sensitivity is not None:
                    title += f"\nrandomised {scores.randomisation.score:.2f}, classes {scores.sensitivity.score:.2f}"
                ax.set_title(title, fontsize=7)
    for ax in (a for row in axes[:n] for a in row):
        ax.axis("off")
    for ax in axes[n][2:]:
        ax.axis("off")
    for kind, ax in (("deletion", axes[n][0]), ("insertion", axes[n][1])):
        for scores in comparison.methods:
            ax.plot(scores.curves.fractions, getattr(scores.curves, kind), label=scores.method)
        ax.set_xlabel("fraction of pixels, most important first", fontsize=7)
        ax.set_ylabel("p(target), mean over images", fontsize=7)
        ax.set_title(f"{kind} ({'lower' if kind == 'deletion' else 'higher'} is better)", fontsize=8)
        ax.tick_params(labelsize=6)
    axes[n][1].legend(fontsize=6)
    fig.tight_layout()
    return fig
