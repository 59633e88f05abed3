"""Every NumPy layer against torch autograd and against central differences, in float64,
for every option; forward passes against torch's functions."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnlab.scratch import layers as L
from cnnlab.scratch.gradcheck import check_layer, relative_error

TOL = 1e-6
rng = np.random.default_rng(0)


def t(a: np.ndarray) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


def against_torch(out: np.ndarray, grads: dict, dout: np.ndarray, torch_out: torch.Tensor, inputs: dict) -> None:
    np.testing.assert_allclose(out, torch_out.detach().numpy(), rtol=1e-10, atol=1e-10)
    torch_out.backward(torch.tensor(dout))
    for name, tensor in inputs.items():
        assert relative_error(grads["d" + name], tensor.grad.numpy()) < TOL, name


@pytest.mark.parametrize("stride,pad,dilation", [(1, 0, 1), (2, 1, 1), (1, 2, 1), (2, 0, 2), (1, 1, 2)])
def test_conv2d(stride, pad, dilation) -> None:
    x, w, b = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    out, cache = L.conv2d(x, w, b, stride=stride, pad=pad, dilation=dilation)
    dout = rng.standard_normal(out.shape)
    grads = L.conv2d_backward(dout, cache)
    tx, tw, tb = t(x), t(w), t(b)
    against_torch(
        out,
        grads,
        dout,
        F.conv2d(tx, tw, tb, stride=stride, padding=pad, dilation=dilation),
        {"x": tx, "w": tw, "b": tb},
    )
    errors = check_layer(
        L.conv2d, L.conv2d_backward, {"x": x, "w": w, "b": b}, stride=stride, pad=pad, dilation=dilation
    )
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("stride,pad", [(1, 0), (2, 1), (1, 2)])
def test_direct_conv_follows_the_equations_and_agrees_with_the_fast_one(stride, pad) -> None:
    x, w, b = rng.standard_normal((2, 2, 6, 6)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    out, cache = L.conv2d_direct(x, w, b, stride=stride, pad=pad)
    fast, fcache = L.conv2d(x, w, b, stride=stride, pad=pad)
    np.testing.assert_allclose(out, fast, rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    g1, g2 = L.conv2d_direct_backward(dout, cache), L.conv2d_backward(dout, fcache)
    for k in ("dx", "dw", "db"):
        np.testing.assert_allclose(g1[k], g2[k], rtol=1e-10, atol=1e-12)
    errors = check_layer(L.conv2d_direct, L.conv2d_direct_backward, {"x": x, "w": w, "b": b}, stride=stride, pad=pad)
    assert max(errors.values()) < TOL, errors
    # correlation = convolution with the flipped kernel (scipy-free check on one position)
    flipped = w[:, :, ::-1, ::-1]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    conv_at_00 = sum((xp[0, c, :3, :3][::-1, ::-1] * flipped[0, c]).sum() for c in range(2)) + b[0]
    assert np.isclose(out[0, 0, 0, 0], conv_at_00)


@pytest.mark.parametrize("kind,kernel,stride", [("max", 2, 2), ("max", 3, 2), ("avg", 2, 2), ("avg", 3, 1)])
def test_pooling(kind, kernel, stride) -> None:
    x = rng.standard_normal((2, 3, 7, 7))
    fwd, bwd, tfn = (
        (L.max_pool2d, L.max_pool2d_backward, F.max_pool2d)
        if kind == "max"
        else (L.avg_pool2d, L.avg_pool2d_backward, F.avg_pool2d)
    )
    out, cache = fwd(x, kernel, stride)
    dout = rng.standard_normal(out.shape)
    grads = bwd(dout, cache)
    tx = t(x)
    against_torch(out, grads, dout, tfn(tx, kernel, stride), {"x": tx})
    errors = check_layer(fwd, bwd, {"x": x}, kernel=kernel, stride=stride)
    assert errors["dx"] < TOL


def test_max_pool_routes_the_gradient_to_the_arg_max_and_average_spreads_it() -> None:
    x = np.array([[[[1.0, 5.0], [2.0, 3.0]]]])
    _, cache = L.max_pool2d(x, 2)
    assert L.max_pool2d_backward(np.ones((1, 1, 1, 1)), cache)["dx"].tolist() == [[[[0, 1], [0, 0]]]]
    _, cache = L.avg_pool2d(x, 2)
    assert L.avg_pool2d_backward(np.ones((1, 1, 1, 1)), cache)["dx"].tolist() == [[[[0.25, 0.25], [0.25, 0.25]]]]


ACTIVATIONS = [
    ("relu", L.relu, L.relu_backward, {}, F.relu),
    ("leaky", L.leaky_relu, L.leaky_relu_backward, {"negative_slope": 0.1}, lambda x: F.leaky_relu(x, 0.1)),
    ("elu", L.elu, L.elu_backward, {"alpha": 0.7}, lambda x: F.elu(x, 0.7)),
    ("sigmoid", L.sigmoid, L.sigmoid_backward, {}, torch.sigmoid),
    ("tanh", L.tanh, L.tanh_backward, {}, torch.tanh),
]


@pytest.mark.parametrize("name,fwd,bwd,kwargs,tfn", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activations(name, fwd, bwd, kwargs, tfn) -> None:
    x = rng.standard_normal((4, 5)) * 3
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kink, where the derivative is not defined
    out, cache = fwd(x, **kwargs)
    dout = rng.standard_normal(out.shape)
    grads = bwd(dout, cache)
    tx = t(x)
    against_torch(out, grads, dout, tfn(tx), {"x": tx})
    assert check_layer(fwd, bwd, {"x": x}, **kwargs)["dx"] < TOL


def test_sigmoid_saturates_and_is_stable() -> None:
    out, cache = L.sigmoid(np.array([-800.0, 0.0, 800.0]))
    assert out.tolist() == [0.0, 0.5, 1.0]
    assert L.sigmoid_backward(np.ones(3), cache)["dx"].max() == 0.25


@pytest.mark.parametrize("shape", [(6, 4), (3, 2, 4, 4)], ids=["N x D", "N x C x H x W"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batch_norm(shape, training) -> None:
    c = shape[1]
    x, gamma, beta = rng.standard_normal(shape) * 2 + 1, rng.standard_normal(c), rng.standard_normal(c)
    state = {"mean": rng.standard_normal(c), "var": rng.random(c) + 0.5}
    torch_mean, torch_var = torch.tensor(state["mean"]), torch.tensor(state["var"])
    out, cache = L.batch_norm(x, gamma, beta, state, training=training, momentum=0.1)
    dout = rng.standard_normal(out.shape)
    grads = L.batch_norm_backward(dout, cache)
    tx, tg, tb = t(x), t(gamma), t(beta)
    ref = F.batch_norm(tx, torch_mean, torch_var, tg, tb, training=training, momentum=0.1)
    against_torch(out, grads, dout, ref, {"x": tx, "gamma": tg, "beta": tb})
    np.testing.assert_allclose(state["mean"], torch_mean.numpy())  # running statistics move as PyTorch's
    np.testing.assert_allclose(state["var"], torch_var.numpy())
    frozen = {"mean": state["mean"].copy(), "var": state["var"].copy()}
    errors = check_layer(
        L.batch_norm,
        L.batch_norm_backward,
        {"x": x, "gamma": gamma, "beta": beta},
        state=frozen,
        training=training,
        momentum=0.0,
    )
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("mode", ["inverted", "lecture"])
def test_dropout_train_and_test(mode) -> None:
    x = rng.standard_normal((50, 40))
    mask = (rng.random(x.shape) < 0.7).astype(float)
    out, cache = L.dropout(x, 0.3, training=True, mode=mode, mask=mask)
    expected = x * mask / 0.7 if mode == "inverted" else x * mask
    np.testing.assert_allclose(out, expected)
    assert (
        check_layer(L.dropout, L.dropout_backward, {"x": x}, drop_prob=0.3, training=True, mode=mode, mask=mask)["dx"]
        < TOL
    )
    test_out, _ = L.dropout(x, 0.3, training=False, mode=mode)
    np.testing.assert_allclose(test_out, x if mode == "inverted" else 0.7 * x)
    # the expected training output equals the test output
    g = np.random.default_rng(1)
    mean = np.mean([L.dropout(np.ones(1000), 0.3, training=True, rng=g, mode=mode)[0].mean() for _ in range(50)])
    assert abs(mean - L.dropout(np.ones(1), 0.3, training=False, mode=mode)[0][0]) < 0.01
    with pytest.raises(ValueError, match="drop_prob must be in"):
        L.dropout(x, 1.0, training=True, rng=g)


def test_linear_and_losses() -> None:
    x, w, b = rng.standard_normal((4, 2, 3)), rng.standard_normal((5, 6)), rng.standard_normal(5)
    out, cache = L.linear(x, w, b)
    dout = rng.standard_normal(out.shape)
    grads = L.linear_backward(dout, cache)
    tx, tw, tb = t(x), t(w), t(b)
    against_torch(out, grads, dout, F.linear(tx.flatten(1), tw, tb), {"x": tx, "w": tw, "b": tb})
    assert max(check_layer(L.linear, L.linear_backward, {"x": x, "w": w, "b": b}).values()) < TOL
    logits, labels = rng.standard_normal((6, 4)) * 10, rng.integers(0, 4, 6)
    loss, d = L.softmax_cross_entropy(logits, labels)
    tl = t(logits)
    ref = F.cross_entropy(tl, torch.tensor(labels))
    ref.backward()
    assert abs(loss - ref.item()) < 1e-12 and relative_error(d, tl.grad.numpy()) < TOL
    assert np.isfinite(L.softmax_cross_entropy(np.array([[1000.0, -1000.0]]), np.array([1]))[0])
    p, q = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    loss, d = L.mse(p, q)
    tp = t(p)
    ref = F.mse_loss(tp, torch.tensor(q))
    ref.backward()
    assert abs(loss - ref.item()) < 1e-12 and relative_error(d, tp.grad.numpy()) < TOL


def test_bad_shapes_name_the_values() -> None:
    with pytest.raises(ValueError, match=r"\(2, 3, 5, 5\) and \(4, 2, 3, 3\)"):
        L.conv2d(np.zeros((2, 3, 5, 5)), np.zeros((4, 2, 3, 3)))
    with pytest.raises(ValueError, match="does not fit"):
        L.conv2d(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 3, 3)))


def test_the_package_never_imports_torch() -> None:
    """cnnlab.scratch alone (cnnlab's own __init__, which builds on PyTorch, stubbed out):
    NumPy only."""
    from pathlib import Path

    import cnnlab

    src = str(Path(cnnlab.__file__).parent)
    code = (
        f"import sys, types; pkg = types.ModuleType('cnnlab'); pkg.__path__ = [{src!r}]; sys.modules['cnnlab'] = pkg; "
        "import cnnlab.scratch; print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
