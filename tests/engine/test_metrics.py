"""Evaluation metrics on crafted logits and labels, against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import classification_report as sk_report

from cnnlab.engine.metrics import (
    classification_report,
    confusion_matrix,
    format_classification_report,
    topk_accuracy,
    topk_correct,
)
from cnnlab.errors import ConfigError

# Four samples, five classes. Ranks of the true label: 1st, 2nd, 3rd, 5th.
LOGITS = torch.tensor(
    [
        [9.0, 1.0, 2.0, 3.0, 4.0],  # label 0: rank 1
        [1.0, 5.0, 6.0, 0.0, 2.0],  # label 1: rank 2 (class 2 is higher)
        [7.0, 8.0, 1.0, 9.0, 0.0],  # label 0: rank 3 (3, 1 higher)
        [5.0, 4.0, 3.0, 2.0, 1.0],  # label 4: rank 5
    ]
)
LABELS = torch.tensor([0, 1, 0, 4])


def test_topk_accuracy_hand_values():
    acc = topk_accuracy(LOGITS, LABELS, ks=(1, 2, 3, 5))
    assert acc == {1: 0.25, 2: 0.5, 3: 0.75, 5: 1.0}


def test_topk_correct_counts_add_up_across_batches():
    whole = topk_correct(LOGITS, LABELS, ks=(1, 3))
    halves = [topk_correct(LOGITS[i : i + 2], LABELS[i : i + 2], ks=(1, 3)) for i in (0, 2)]
    assert whole == {1: 1, 3: 3} == {k: halves[0][k] + halves[1][k] for k in (1, 3)}


def test_probabilities_rank_like_logits_and_k_above_classes():
    assert topk_accuracy(LOGITS.softmax(1), LABELS) == topk_accuracy(LOGITS, LABELS)
    two = torch.tensor([[0.2, 0.8], [0.9, 0.1]])
    assert topk_accuracy(two, torch.tensor([0, 0]), ks=(1, 5)) == {1: 0.5, 5: 1.0}


def test_topk_errors_name_the_shapes():
    with pytest.raises(ConfigError, match=r"one class index per row of logits \(4\)"):
        topk_accuracy(LOGITS, torch.tensor([0, 1]))
    with pytest.raises(ConfigError, match="at least 1"):
        topk_accuracy(LOGITS, LABELS, ks=(0,))


# labels 0,0,0,1,1,2 predicted 0,0,1,1,2,2:
#   class 0: TP 2, FP 0, FN 1 -> P 1,   R 2/3, F1 0.8,  support 3
#   class 1: TP 1, FP 1, FN 1 -> P 1/2, R 1/2, F1 1/2,  support 2
#   class 2: TP 1, FP 1, FN 0 -> P 1/2, R 1,   F1 2/3,  support 1
Y = np.array([0, 0, 0, 1, 1, 2])
P = np.array([0, 0, 1, 1, 2, 2])


def test_classification_report_hand_values():
    rep = classification_report(Y, P, ["cat", "dog", "owl"])
    cls = {c["name"]: c for c in rep["classes"]}
    assert cls["cat"] == pytest.approx({"name": "cat", "precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert cls["dog"] == pytest.approx({"name": "dog", "precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert cls["owl"] == pytest.approx({"name": "owl", "precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})
    assert rep["accuracy"] == pytest.approx(4 / 6) and rep["support"] == 6
    assert rep["macro_avg"] == pytest.approx(
        {"precision": 2 / 3, "recall": (2 / 3 + 0.5 + 1) / 3, "f1": (0.8 + 0.5 + 2 / 3) / 3, "support": 6}
    )
    assert rep["weighted_avg"] == pytest.approx(
        {"precision": (3 * 1 + 2 * 0.5 + 0.5) / 6, "recall": 4 / 6, "f1": (3 * 0.8 + 2 * 0.5 + 2 / 3) / 6, "support": 6}
    )
    # plain data: JSON-ready builtins only
    assert all(type(c["precision"]) is float and type(c["support"]) is int for c in rep["classes"])


def test_report_accepts_tensors_and_a_class_count_and_unpredicted_classes():
    rep = classification_report(torch.tensor([0, 1, 3]), torch.tensor([0, 1, 1]), 4)
    by = {c["name"]: c for c in rep["classes"]}
    assert by["2"]["support"] == 0 and by["2"]["precision"] == 0.0
    assert by["3"]["recall"] == 0.0 and by["3"]["precision"] == 0.0  # never predicted: 0, not a warning


def test_report_errors():
    with pytest.raises(ConfigError, match="same length"):
        classification_report([0, 1], [0], 2)
    with pytest.raises(ConfigError, match=r"outside 0\.\.1"):
        classification_report([0, 2], [0, 1], ["a", "b"])


def test_format_classification_report_is_sklearns_text():
    text = format_classification_report(classification_report(Y, P, ["cat", "dog", "owl"]))
    assert text == sk_report(Y, P, target_names=["cat", "dog", "owl"], zero_division=0)
    assert "0.667" in classification_report(Y, P, 3, digits=3)["text"]
    with pytest.raises(ConfigError, match="re-run `cnnlab eval`"):
        format_classification_report({"classes": []})
    lines = text.splitlines()
    assert lines[0].split() == ["precision", "recall", "f1-score", "support"]
    assert lines[2].split() == ["cat", "1.00", "0.67", "0.80", "3"]
    assert lines[-3].split() == ["accuracy", "0.67", "6"]
    assert lines[-1].split() == ["weighted", "avg", "0.75", "0.67", "0.68", "6"]


def test_confusion_matrix_rows_are_true_classes():
    cm = confusion_matrix(Y, P, 3)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert cm.dtype == np.int64
    assert confusion_matrix(torch.tensor([1]), torch.tensor([1]), 4).sum() == 1
    with pytest.raises(ConfigError, match=r"class 5, outside 0\.\.3"):
        confusion_matrix([0, 5], [0, 1], 4)
