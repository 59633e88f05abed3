import math

import pytest
import torch
import torch.nn.functional as F

from cnnlab.data import Augment
from cnnlab.errors import ConfigError


def _batch(n=64, c=3, h=12, w=10):
    # Distinct pixel values everywhere, so any displacement shows.
    return (torch.arange(n * c * h * w) % 251 + 1).to(torch.uint8).view(n, c, h, w)


def _naive_crop(x, dy, dx, pad):
    xp = F.pad(x, (pad, pad, pad, pad))
    h, w = x.shape[-2:]
    return torch.stack([xp[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(len(x))])


def test_random_crop_matches_a_per_image_reference_and_offsets_vary():
    x = _batch()
    aug = Augment(crop_padding=4)
    p = aug.sample(len(x), torch.Generator().manual_seed(0))
    out = aug.apply(x, p)
    assert out.shape == x.shape and out.dtype == torch.uint8
    assert torch.equal(out, _naive_crop(x, p["crop_dy"], p["crop_dx"], 4))
    assert len(set(zip(p["crop_dy"].tolist(), p["crop_dx"].tolist()))) > 10  # per-image offsets
    assert p["crop_dy"].min() >= 0 and p["crop_dy"].max() <= 8
    moved = (out != x).flatten(1).any(1)
    assert moved.any() and (~moved | (p["crop_dy"] != 4) | (p["crop_dx"] != 4)).all()


def test_flips_happen_for_some_images_and_not_others():
    x = _batch()
    aug = Augment(hflip=True)
    p = aug.sample(len(x), torch.Generator().manual_seed(1))
    out = aug.apply(x, p)
    flipped = p["flip"]
    assert 0 < flipped.sum() < len(x)
    assert torch.equal(out[flipped], x[flipped].flip(3)) and torch.equal(out[~flipped], x[~flipped])


def test_crop_and_flip_together_equal_crop_then_flip():
    x = _batch()
    aug = Augment(crop_padding=2, hflip=True)
    p = aug.sample(len(x), torch.Generator().manual_seed(2))
    ref = _naive_crop(x, p["crop_dy"], p["crop_dx"], 2)
    ref = torch.where(p["flip"].view(-1, 1, 1, 1), ref.flip(3), ref)
    assert torch.equal(aug.apply(x, p), ref)


@pytest.mark.parametrize("fill", ["nearest", "zero"])
def test_shift_fills_the_border(fill):
    x = _batch(n=4)
    aug = Augment(shift=3, fill=fill)
    p = {"shift_dy": torch.tensor([0, 3, -3, 1]), "shift_dx": torch.tensor([0, 0, 2, -1])}
    out = aug.apply(x, p)
    assert torch.equal(out[0], x[0])
    # Image 1 moved up by 3 rows (out[i] = x[i + 3]); the last 3 rows are filled.
    assert torch.equal(out[1, :, :-3], x[1, :, 3:])
    expected_fill = x[1, :, -1:].expand(-1, 3, -1) if fill == "nearest" else torch.zeros_like(x[1, :, :3])
    assert torch.equal(out[1, :, -3:], expected_fill)
    if fill == "zero":
        ref = _naive_crop(x, p["shift_dy"] + 3, p["shift_dx"] + 3, 3)
        assert torch.equal(out, ref)


def test_affine_preserves_shape_and_a_right_angle_rotates_exactly():
    x = _batch(n=2, h=8, w=8)
    aug = Augment(rotation=90)
    p = {
        "angle": torch.tensor([math.pi / 2, 0.0]),
        "zoom_x": torch.ones(2),
        "zoom_y": torch.ones(2),
        "shear": torch.zeros(2),
    }
    out = aug.apply(x, p)
    assert out.dtype == torch.float32 and out.shape == x.shape
    assert torch.allclose(out[1], x[1].float(), atol=1e-3)
    rotated = [torch.rot90(x[0], k, dims=(1, 2)).float() for k in (1, -1)]
    assert any(torch.allclose(out[0], r, atol=1e-3) for r in rotated)


def test_random_affine_changes_pixels_per_image():
    x = _batch(n=16)
    aug = Augment(rotation=20, zoom=0.2, shear=10)
    out = aug(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and (out - x.float()).abs().flatten(1).amax(1).gt(0).all()
    assert 0 <= out.min() and out.max() <= 255


def test_identity_and_validation():
    assert Augment().is_identity and not Augment(hflip=True).is_identity
    with pytest.raises(ConfigError, match=r"Augment\(crop_padding=-1\): expected a whole number of pixels"):
        Augment(crop_padding=-1)
    with pytest.raises(ConfigError, match=r"Augment\(zoom=1.5\)"):
        Augment(zoom=1.5)
    with pytest.raises(ConfigError, match=r"Augment\(fill='reflect'\): expected 'nearest' or 'zero'"):
        Augment(fill="reflect")
    with pytest.raises(ConfigError, match=r"Augment\(shift=0.1\)"):
        Augment(shift=0.1)
