"""Evaluation metrics as plain data: rank-k accuracy, the classification report the course
prints after every experiment (per-class precision, recall, F1 and support, with macro and
weighted averages), and the confusion matrix. The report's text is scikit-learn's own
(:func:`format_classification_report`); pictures belong to ``cnnlab.viz``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from sklearn import metrics as skm

from ..errors import ConfigError


def _as_numpy(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ConfigError(f"{name} must be one label per sample (1-D), got shape {tuple(arr.shape)}")
    return arr.astype(np.int64, copy=False)


def _check_logits(logits: torch.Tensor, labels: torch.Tensor) -> None:
    if logits.ndim != 2:
        raise ConfigError(f"logits must be N x classes, got shape {tuple(logits.shape)}")
    if labels.ndim != 1 or labels.shape[0] != logits.shape[0]:
        raise ConfigError(
            f"labels must hold one class index per row of logits ({logits.shape[0]}), got shape {tuple(labels.shape)}"
        )


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 5)) -> dict[int, int]:
    """How many rows have their label among the ``k`` highest scores, for each k: counts
    that add up across batches and ranks. A k above the number of classes counts as the
    number of classes (every label is then among the top k)."""
    _check_logits(logits, labels)
    if any(k < 1 for k in ks):
        raise ConfigError(f"ks={tuple(ks)!r} must all be at least 1 (rank-1, rank-5 ...)")
    num_classes = logits.shape[1]
    kmax = min(max(ks), num_classes)
    top = logits.topk(kmax, dim=1).indices  # N x kmax, best first
    hits = top == labels.to(top.device)[:, None]
    return {k: int(hits[:, : min(k, num_classes)].any(dim=1).sum()) for k in ks}


def topk_accuracy(logits: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 5)) -> dict[int, float]:
    """Rank-k accuracy (the fraction of rows whose label is among the k highest scores) for
    each k: ``{1: rank-1, 5: rank-5}``. Logits or probabilities give the same ranks."""
    n = logits.shape[0] if logits.ndim else 0
    if n == 0:
        raise ConfigError("topk_accuracy needs at least one sample; the logits are empty")
    return {k: c / n for k, c in topk_correct(logits, labels, ks).items()}


def confusion_matrix(labels: Any, preds: Any, num_classes: int) -> np.ndarray:
    """``num_classes x num_classes`` counts: row = true class, column = predicted class."""
    y, p = _as_numpy(labels, "labels"), _as_numpy(preds, "preds")
    if y.shape != p.shape:
        raise ConfigError(f"labels ({y.shape[0]}) and preds ({p.shape[0]}) must have the same length")
    for name, arr in (("labels", y), ("preds", p)):
        if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
            raise ConfigError(
                f"{name} hold class {int(arr.max() if arr.max() >= num_classes else arr.min())}, "
                f"outside 0..{num_classes - 1}"
            )
    return skm.confusion_matrix(y, p, labels=np.arange(num_classes)).astype(np.int64)


def classification_report(
    labels: Any, preds: Any, class_names: Sequence[str] | int | None = None, digits: int = 2
) -> dict[str, Any]:
    """Per-class precision, recall, F1 and support, their macro and support-weighted
    averages, and accuracy, as plain data::

        {"classes": [{"name": "airplane", "precision": 0.86, "recall": 0.83, "f1": 0.84,
                      "support": 1000}, ...],
         "accuracy": 0.82, "macro_avg": {...}, "weighted_avg": {...}, "support": 10000,
         "text": "              precision    recall  f1-score   support ..."}

    ``class_names`` is a list of names, a class count, or None (the classes seen in labels
    and preds, named by index). A class never predicted has precision 0 (sklearn's
    ``zero_division=0``), as in the course's reports. ``text`` is
    ``sklearn.metrics.classification_report`` of the same labels, at ``digits`` decimals.
    """
    y, p = _as_numpy(labels, "labels"), _as_numpy(preds, "preds")
    if y.shape != p.shape:
        raise ConfigError(f"labels ({y.shape[0]}) and preds ({p.shape[0]}) must have the same length")
    if y.size == 0:
        raise ConfigError("classification_report needs at least one sample")
    if class_names is None:
        n = int(max(y.max(), p.max())) + 1
        names = [str(i) for i in range(n)]
    elif isinstance(class_names, int):
        names = [str(i) for i in range(class_names)]
    else:
        names = [str(c) for c in class_names]
    n = len(names)
    if y.max() >= n or p.max() >= n or y.min() < 0 or p.min() < 0:
        raise ConfigError(f"labels or preds hold a class outside 0..{n - 1}; give one name per class ({n} given)")
    idx = np.arange(n)
    prec, rec, f1, sup = skm.precision_recall_fscore_support(y, p, labels=idx, zero_division=0)
    classes = [
        {
            "name": names[i],
            "precision": float(prec[i]),
            "recall": float(rec[i]),
            "f1": float(f1[i]),
            "support": int(sup[i]),
        }
        for i in range(n)
    ]
    total = int(sup.sum())

    def avg(kind: str) -> dict[str, float | int]:
        pr, rc, f, _ = skm.precision_recall_fscore_support(y, p, labels=idx, average=kind, zero_division=0)
        return {"precision": float(pr), "recall": float(rc), "f1": float(f), "support": total}

    return {
        "classes": classes,
        "accuracy": float((y == p).mean()),
        "macro_avg": avg("macro"),
        "weighted_avg": avg("weighted"),
        "support": total,
        "text": skm.classification_report(y, p, labels=idx, target_names=names, digits=digits, zero_division=0),
    }


def format_classification_report(report: Mapping[str, Any]) -> str:
    """The report as text: scikit-learn's ``classification_report``, the layout the course
    prints. A report read back from an older ``eval.json`` without its text gets an error
    naming the fix."""
    if "text" not in report:
        raise ConfigError(
            "this classification report has no text (written before cnnlab kept it); re-run `cnnlab eval`"
        )
    return str(report["text"])
