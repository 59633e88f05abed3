"""Figures of the training experiments (``cnnlab repro run weight-init --out DIR``): drawn
from ``ClaimResult.series``, never from anything recomputed here."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ._save import pyplot, save_figure


def plot_claim(result: Any, out_dir: str | os.PathLike) -> list[Path]:
    """The figures of one experiment's result, written to ``out_dir/<claim id>*.png``;
    ``[]`` for results without series (count claims)."""
    series = result.series
    if not series:
        return []
    claim_id = result.claim.id if result.claim is not None else "claim"
    out = Path(out_dir)
    kind = series.get("kind")
    draw = {
        "layer-statistics": _layer_statistics,
        "gradient-norms": _gradient_norms,
        "dropout": _dropout,
        "loss-curves": _curves,
        "error-curves": _curves,
    }.get(kind)
    if draw is None:
        raise ValueError(f"no figure for series kind {kind!r}")
    return draw(series, out, claim_id)


def _pyplot() -> Any:
    return pyplot()


def _save_one(fig: Any, path: Path) -> list[Path]:
    plt = _pyplot()
    fig.tight_layout()
    saved = save_figure(fig, path)
    plt.close(fig)
    return [saved]


def _layer_statistics(series: dict, out: Path, claim_id: str) -> list[Path]:
    plt = _pyplot()

    cases = series["cases"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, stats in cases.items():
        layers = range(1, len(stats["std"]) + 1)
        axes[0].plot(layers, stats["mean"], marker="o", label=name)
        axes[1].semilogy(layers, [max(s, 1e-12) for s in stats["std"]], marker="o", label=name)
    axes[0].set(title="mean of the activations", xlabel="layer", ylabel="mean")
    axes[1].set(title="std of the activations (log scale)", xlabel="layer", ylabel="std")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    paths = [save_figure(fig, out / f"{claim_id}-stats.png")]
    plt.close(fig)
    fig, axes = plt.subplots(len(cases), 10, figsize=(16, 1.6 * len(cases)), squeeze=False)
    for row, (name, stats) in enumerate(cases.items()):
        for col, counts in enumerate(stats["hist"]):
            ax = axes[row][col]
            ax.bar(range(len(counts)), counts, width=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"layer {col + 1}", fontsize=8)
        axes[row][0].set_ylabel(name, fontsize=7, rotation=0, ha="right", va="center")
    fig.suptitle("histograms of the activations per layer (tanh: bins on [-1, 1]; ReLU: [0, max])", fontsize=9)
    paths.append(save_figure(fig, out / f"{claim_id}-histograms.png"))
    plt.close(fig)
    return paths


def _gradient_norms(series: dict, out: Path, claim_id: str) -> list[Path]:
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(6, 4))
    for act, norms in series["norms"].items():
        ax.semilogy(range(1, len(norms) + 1), norms, marker="o", label=act)
    ax.set(xlabel="layer (input side first)", ylabel="mean |dL/dW| (log scale)", title="gradient size through depth")
    ax.legend()
    return _save_one(fig, out / f"{claim_id}.png")


def _dropout(series: dict, out: Path, claim_id: str) -> list[Path]:
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(series["train_plain"], bins=40, alpha=0.6, label="training outputs, no scaling")
    ax.hist(series["train_inverted"], bins=40, alpha=0.6, label="training outputs, inverted (x 1/(1-p))")
    ax.axvline(series["test_full"], color="k", label="test output, all units")
    ax.axvline(series["test_lecture"], color="r", linestyle="--", label="test output x (1 - p)")
    ax.set(xlabel="output of one unit", ylabel="masks", title=f"dropout, drop_prob = {series['drop_prob']}")
    ax.legend(fontsize=7)
    return _save_one(fig, out / f"{claim_id}.png")


def _curves(series: dict, out: Path, claim_id: str) -> list[Path]:
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for label, values in series["curves"].items():
        ax.plot(range(1, len(values) + 1), values, marker="o", label=label)
    ax.set(xlabel="epoch", ylabel=series.get("ylabel", ""), title=claim_id)
    ax.legend(fontsize=8)
    return _save_one(fig, out / f"{claim_id}.png")
