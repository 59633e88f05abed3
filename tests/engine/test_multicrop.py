"""Multi-crop testing and ensembles: crops checked by hand, 10-crop averaging on a model whose
output is a known function of its input, 144 crops counted, ensemble means."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.transforms.v2 import functional as TF

from cnnlab.engine.multicrop import (
    center_crop,
    crops_144,
    ensemble_probabilities,
    iter_crops_144,
    predict_crops,
    predict_ensemble,
    ten_crop,
)
from cnnlab.errors import ConfigError, InputShapeError


class ChannelMeans(nn.Module):
    """Logits = the mean of each channel's pixels: class c scores channel c's mean."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(x.shape))
        return x.mean(dim=(2, 3))


def _images(n=2, c=3, h=6, w=7, seed=0):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed))


def _hand_ten(img: torch.Tensor, ch: int, cw: int) -> list[torch.Tensor]:
    h, w = img.shape[-2:]
    top, left = round((h - ch) / 2), round((w - cw) / 2)
    five = [
        img[..., :ch, :cw],
        img[..., :ch, w - cw :],
        img[..., h - ch :, :cw],
        img[..., h - ch :, w - cw :],
        img[..., top : top + ch, left : left + cw],
    ]
    flipped = img.flip(-1)
    five_f = [
        flipped[..., :ch, :cw],
        flipped[..., :ch, w - cw :],
        flipped[..., h - ch :, :cw],
        flipped[..., h - ch :, w - cw :],
        flipped[..., top : top + ch, left : left + cw],
    ]
    return five + five_f


def test_ten_crop_corners_centre_and_flips():
    x = _images()
    crops = ten_crop(x, (4, 5))
    assert crops.shape == (2, 10, 3, 4, 5)
    for i, expected in enumerate(_hand_ten(x, 4, 5)):
        torch.testing.assert_close(crops[:, i], expected, rtol=0, atol=0)


def test_ten_crop_average_equals_the_hand_average():
    x = _images(n=3, c=4, h=8, w=8, seed=1)
    model = ChannelMeans()
    probs = predict_crops(model, x, crops="10", crop_size=5)
    hand = torch.stack([c.mean(dim=(2, 3)).softmax(1) for c in _hand_ten(x, 5, 5)]).mean(0)
    torch.testing.assert_close(probs, hand)
    torch.testing.assert_close(probs.sum(1), torch.ones(3))
    assert model.calls == [(30, 4, 5, 5)]  # one forward pass over all 10 x 3 crops


def test_one_crop_is_the_centre():
    x = _images(h=8, w=8)
    model = ChannelMeans()
    torch.testing.assert_close(predict_crops(model, x, 1, 4), x[..., 2:6, 2:6].mean(dim=(2, 3)).softmax(1))
    torch.testing.assert_close(predict_crops(model, x), x.mean(dim=(2, 3)).softmax(1))
    torch.testing.assert_close(center_crop(x, 4), x[..., 2:6, 2:6])


def test_max_batch_splits_forward_passes_without_changing_the_answer():
    x = _images(n=3, h=8, w=8)
    model = ChannelMeans()
    whole = predict_crops(model, x, 10, 6)
    model.calls.clear()
    split = predict_crops(model, x, 10, 6, max_batch=7)
    torch.testing.assert_close(split, whole)
    assert [c[0] for c in model.calls] == [7, 7, 7, 7, 2]


def test_model_mode_is_restored():
    model = nn.Sequential(nn.Dropout(0.5), ChannelMeans())
    model.train()
    x = _images(h=8, w=8)
    a = predict_crops(model, x, 10, 6)
    b = predict_crops(model, x, 10, 6)
    torch.testing.assert_close(a, b)  # eval mode inside: dropout off, deterministic
    assert model.training


@pytest.mark.parametrize(("h", "w"), [(12, 16), (16, 12), (12, 12)])
def test_144_crops(h, w):
    x = _images(n=2, c=3, h=h, w=w, seed=3)
    scales = (8, 9, 10, 11)
    crops = crops_144(x, crop_size=6, scales=scales)
    assert crops.shape == (2, 144, 3, 6, 6)
    groups = list(iter_crops_144(x, 6, scales))
    assert [g.shape[1] for g in groups] == [36] * 4
    # Within a scale: square 0's six crops, then their mirror images, then squares 1 and 2.
    g = groups[0]
    torch.testing.assert_close(g[:, 6:12], g[:, 0:6].flip(-1))
    # Scale 8: the shorter side resized to 8; squares at the start, centre and end of the
    # longer side; crops 0-3 are the square's corners, 4 its centre, 5 the square resized.
    resized = TF.resize(x, [8], antialias=True)
    rh, rw = resized.shape[-2:]
    long = max(rh, rw)
    for k, offset in enumerate((0, (long - 8) // 2, long - 8)):
        square = resized[..., :, offset : offset + 8] if rw >= rh else resized[..., offset : offset + 8, :]
        base = 12 * k
        torch.testing.assert_close(g[:, base + 0], square[..., :6, :6])
        torch.testing.assert_close(g[:, base + 3], square[..., 2:, 2:])
        torch.testing.assert_close(g[:, base + 4], square[..., 1:7, 1:7])
        torch.testing.assert_close(g[:, base + 5], TF.resize(square, [6, 6], antialias=True))


def test_144_crops_of_a_constant_image_and_their_prediction():
    x = torch.full((1, 3, 12, 16), 0.5)
    x[:, 1] = 2.0
    crops = crops_144(x, 6, (8, 9, 10, 11))
    torch.testing.assert_close(crops, x[:, None, :, :6, :6].expand_as(crops))
    model = ChannelMeans()
    probs = predict_crops(model, x, "144", 6, scales=(8, 9, 10, 11))
    torch.testing.assert_close(probs, torch.tensor([[0.5, 2.0, 0.5]]).softmax(1))
    assert [c[0] for c in model.calls] == [36, 36, 36, 36]  # one scale at a time


def test_crop_errors_say_what_fits():
    x = _images(h=4, w=4)
    with pytest.raises(InputShapeError, match=r"images 4x4 are smaller than the 5x5 crops"):
        ten_crop(x, 5)
    with pytest.raises(ConfigError, match="1, 10 or 144"):
        predict_crops(ChannelMeans(), x, crops=5, crop_size=2)
    with pytest.raises(ConfigError, match="needs crop_size"):
        predict_crops(ChannelMeans(), x, crops=10)
    with pytest.raises(ConfigError, match="at least crop_size"):
        crops_144(x, 6, scales=(4, 8))


def test_ensemble_mean_and_weights():
    a = torch.tensor([[0.2, 0.8], [0.6, 0.4]])
    b = torch.tensor([[0.4, 0.6], [1.0, 0.0]])
    torch.testing.assert_close(ensemble_probabilities([a, b]), torch.tensor([[0.3, 0.7], [0.8, 0.2]]))
    torch.testing.assert_close(ensemble_probabilities([a, b], weights=[3, 1]), (3 * a + b) / 4)
    with pytest.raises(ConfigError, match=r"member 1 gives shape \(1, 2\)"):
        ensemble_probabilities([a, b[:1]])
    with pytest.raises(ConfigError, match="at least one"):
        ensemble_probabilities([])


def test_predict_ensemble_averages_members():
    x = _images(h=8, w=8)
    doubled = nn.Sequential(ChannelMeans(), nn.Identity())
    doubled[1] = _Scale(2.0)
    one, two = predict_crops(ChannelMeans(), x, 10, 6), predict_crops(doubled, x, 10, 6)
    torch.testing.assert_close(predict_ensemble([ChannelMeans(), doubled], x, 10, 6), (one + two) / 2)


class _Scale(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor
