"""The streamed logistic regression: scikit-learn's ``StandardScaler`` + ``LogisticRegression``
solution (a strictly convex objective: one optimum), read from a file a chunk at a time as
from memory, and a progress bar over the L-BFGS iterations on request."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from cnnlab.errors import ConfigError
from cnnlab.transfer import LayerFeatures, fit_probe
from cnnlab.transfer.logistic import FeatureRows, fit_logistic


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    return x[:600], y[:600], x[1000:], y[1000:]


def _sklearn(x, y, C, tol):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x.astype(np.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = LogisticRegression(C=C, tol=tol, max_iter=5000).fit(scaler.transform(x.astype(np.float64)), y)
    return scaler, clf


# Both stop when the largest gradient component is below tol or the objective stops
# changing, from different paths (scipy's L-BFGS-B, torch's LBFGS), so they agree to within
# what tol leaves. Measured max |coef difference| (C=0.1 / C=1; ten classes, two classes):
# float64 chunks at tol=1e-8: 5.7e-7 / 3.0e-6, 1.3e-7 / 8.0e-7; float32 chunks (the default)
# at tol=1e-6: 1.9e-4 / 1.3e-3, 3.5e-5 / 1.3e-4 (float32 rounding, not the optimiser);
# intercepts at most 2.3e-5 (float64) and 9.9e-3 (float32). The coefficients themselves
# reach 0.7 (C=0.1) and 1.3.
@pytest.mark.parametrize("classes", [None, (3, 8)], ids=["ten-classes", "two-classes"])
@pytest.mark.parametrize(
    ("dtype", "tol", "atol"), [(torch.float64, 1e-8, 1e-4), (torch.float32, 1e-6, 5e-3)], ids=["float64", "float32"]
)
def test_the_streamed_fit_is_scikit_learns(digits, classes, dtype, tol, atol) -> None:
    x, y, x_test, y_test = digits
    if classes:
        keep, keep_test = np.isin(y, classes), np.isin(y_test, classes)
        x, y, x_test, y_test = x[keep], y[keep], x_test[keep_test], y_test[keep_test]
    for C in (0.1, 1.0):
        scaler, clf = _sklearn(x, y, C, tol=tol)
        rows = FeatureRows(torch.from_numpy(x), chunk_bytes=4 * 64 * 97)  # 97 rows a chunk: uneven chunks
        fit = fit_logistic(rows, torch.from_numpy(y), C=C, tol=tol, max_iter=5000, dtype=dtype)
        assert fit.converged and fit.coef.shape == clf.coef_.shape  # 1 x 64 for two classes, as scikit-learn
        np.testing.assert_allclose(fit.mean, scaler.mean_, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(fit.scale, scaler.scale_, rtol=1e-12)
        np.testing.assert_allclose(fit.coef, clf.coef_, rtol=0, atol=atol)
        np.testing.assert_allclose(fit.intercept, clf.intercept_, rtol=0, atol=5 * atol)
        assert fit.train_acc == clf.score(scaler.transform(x), y)
        test_rows = FeatureRows(torch.from_numpy(x_test))
        # float64: every test prediction equal; float32 may flip a near-tie (measured: one of 797)
        differ = int(np.sum(fit.predict(test_rows) != clf.predict(scaler.transform(x_test))))
        assert differ <= (0 if dtype == torch.float64 else 1)
        assert (
            abs(fit.score(test_rows, y_test) - clf.score(scaler.transform(x_test), y_test))
            <= differ / len(y_test) + 1e-12
        )


def test_features_read_from_a_file_give_the_same_fit(digits, tmp_path) -> None:
    x, y, *_ = digits
    np.save(tmp_path / "features.npy", x)
    small = 4 * 64 * 50
    with FeatureRows(torch.from_numpy(x), tmp_path / "features.npy", chunk_bytes=small) as rows:
        chunks = list((start, chunk.clone()) for start, chunk in rows)
        from_file = fit_logistic(rows, y, max_iter=50)
    assert [s for s, _ in chunks] == list(range(0, 600, 50))
    assert torch.equal(torch.cat([c for _, c in chunks]), torch.from_numpy(x))
    from_memory = fit_logistic(FeatureRows(torch.from_numpy(x), chunk_bytes=small), y, max_iter=50)
    assert np.array_equal(from_file.coef, from_memory.coef) and from_file.iterations == from_memory.iterations
    with pytest.raises(ConfigError, match="not the features"):
        FeatureRows(torch.zeros(600, 32), tmp_path / "features.npy")
    path = tmp_path / "features.npy"
    path.write_bytes(path.read_bytes()[: -4 * 64 * 120])  # the last 120 rows lost
    with (
        pytest.raises(ConfigError, match=r"ended after 480 of 600 rows: the cached features are damaged; delete"),
        FeatureRows(torch.from_numpy(x), path, chunk_bytes=small) as rows,
    ):
        list(rows)


def test_fit_probe_shows_iterations_per_second_and_keeps_its_fields(digits, capsys) -> None:
    x, y, x_test, y_test = digits
    train = LayerFeatures("pixels", torch.from_numpy(x), torch.from_numpy(y), False, 0.0)
    test = LayerFeatures("pixels", torch.from_numpy(x_test), torch.from_numpy(y_test), False, 0.0)
    fit = fit_probe(train, test, max_iter=1000, progress=True)
    err = capsys.readouterr().err
    assert "probe pixels" in err and "it/s" in err and "/1000" in err  # iterations of max_iter, rate, time left
    assert set(fit) == {"features", "train_acc", "test_acc", "iterations", "converged", "fit_seconds"}
    assert fit["features"] == 64 and fit["converged"] and 0 < fit["iterations"] < 1000 and fit["test_acc"] > 0.9
    fit_probe(train, test, max_iter=5, progress=False)
    assert capsys.readouterr().err == ""
    assert not fit_probe(train, test, max_iter=5)["converged"]  # stopped by max_iter: said so


def test_bad_arguments_are_named() -> None:
    rows = FeatureRows(torch.zeros(4, 3))
    with pytest.raises(ConfigError, match=r"C=0 must be positive"):
        fit_logistic(rows, np.array([0, 1, 0, 1]), C=0)
    with pytest.raises(ConfigError, match=r"at least two classes"):
        fit_logistic(rows, np.zeros(4, dtype=np.int64))
    with pytest.raises(ConfigError, match=r"4 feature rows but labels of shape \(3,\)"):
        fit_logistic(rows, np.array([0, 1, 0]))


def test_features_far_from_zero_fit_as_well_in_float32(digits) -> None:
    # A feature whose mean is large beside its spread (an offset of 10,000 on pixels 0-16):
    # the chunk is centred before the float32 product, so the fit is the unshifted one's.
    x, y, *_ = digits
    plain = fit_logistic(FeatureRows(torch.from_numpy(x)), torch.from_numpy(y), C=1.0, max_iter=5000)
    shifted = fit_logistic(FeatureRows(torch.from_numpy(x + 1e4)), torch.from_numpy(y), C=1.0, max_iter=5000)
    assert shifted.converged and shifted.grad_max <= 1e-4
    np.testing.assert_allclose(shifted.coef, plain.coef, rtol=0, atol=5e-3)
    assert shifted.train_acc == plain.train_acc
