"""Training figures are real PNGs, written atomically, and refuse malformed input."""

from __future__ import annotations

import pytest

from cnnlab.viz import plot_confusion_matrix, plot_curves


def test_curves_and_confusion_matrix_are_pngs(tmp_path) -> None:
    history = [
        {
            "epoch": e,
            "train_loss": 2.0 / (e + 1),
            "val_loss": 2.2 / (e + 1),
            "train_acc1": 0.5 + 0.1 * e,
            "val_acc1": 0.45 + 0.1 * e,
        }
        for e in range(4)
    ]
    curves = plot_curves(history, tmp_path / "curves.png", title="lenet5 on digits")
    matrix = plot_confusion_matrix([[5, 1], [0, 6]], ["zero", "one"], tmp_path / "cm.png")
    for path in (curves, matrix):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cm.png", "curves.png"]  # no temporary files left
    plot_curves(history[:1] + [{"epoch": 1, "train_loss": 1.0}], tmp_path / "partial.png")  # missing series skipped


def test_confusion_matrix_shape_is_checked(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"n x n counts and n class names, got \(2, 3\)"):
        plot_confusion_matrix([[1, 2, 3], [4, 5, 6]], ["a", "b"], tmp_path / "cm.png")


def test_curves_put_each_row_at_its_epoch_and_skip_unvalidated_epochs() -> None:
    from cnnlab.viz.training import curves_figure

    # fit() writes epoch = epochs completed (1 after the first); val_every=2 leaves gaps.
    history = [
        {"epoch": e, "train_loss": 1.0 / e, **({"val_loss": 1.5 / e} if e % 2 == 0 else {})} for e in (1, 2, 3, 4)
    ]
    fig = curves_figure(history)
    lines = {ln.get_label(): list(ln.get_xdata()) for ax in fig.axes for ln in ax.get_lines()}
    assert lines == {"train loss": [1, 2, 3, 4], "validation loss": [2, 4]}


def test_page_figures_as_bytes_svg_keeps_text_and_no_date() -> None:
    from cnnlab.viz import curves_figure, figure_bytes, lr_figure, validation_curves_figure

    history = [{"epoch": e, "train_loss": 1.0 / e, "val_acc1": 0.5 + 0.1 * e, "lr": 0.1**e} for e in (1, 2, 3)]
    svg = figure_bytes(curves_figure(history, title="a run"), "svg")
    assert svg.startswith(b"<?xml") and b"<svg" in svg and b"a run" in svg  # text stays text
    assert figure_bytes(curves_figure(history, title="a run"), "svg") == svg  # no date: same figure, same bytes
    assert figure_bytes(lr_figure(history), "png").startswith(b"\x89PNG")
    fig = lr_figure(history)
    assert fig.axes[0].get_yscale() == "log"  # 0.1 to 0.001: a factor of 100
    fig = validation_curves_figure([("a", history), ("b", history[:1])])
    assert [len(ax.lines) for ax in fig.axes] == [2, 0]  # accuracy for both runs; no val_loss in the history
    one = curves_figure(history[:1])
    assert one.axes[0].get_xlim() == (0.0, 2.0)  # one epoch: whole-epoch ticks around it
    with pytest.raises(ValueError, match="'svg' or 'png'"):
        figure_bytes(one, "pdf")
