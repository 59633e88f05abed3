"""Multi-crop testing and ensembles: tensors in, tensors out.

- 1 crop: the centre ``crop_size`` square (or the whole image).
- 10 crops (Krizhevsky et al. 2012, Sec. 4.1): the four corner crops and the centre crop,
  and the same five of the horizontally flipped image.
- 144 crops (Szegedy et al. 2014, Sec. 7): the image resized to 4 scales (shorter side 256,
  288, 320, 352); at each, the left, centre and right squares (top, centre and bottom for
  portrait images); from each square the 4 corner and the centre ``crop_size`` crops and
  the square itself resized to ``crop_size``; all of them also mirrored:
  4 x 3 x 6 x 2 = 144.

A prediction averages the softmax probabilities over the crops (Szegedy et al.: "averaged
over the multiple crops"); an ensemble averages its members' probabilities.

(This module is ``multicrop`` rather than ``evaluate`` so that it does not shadow
:func:`cnnlab.engine.evaluate`, the loop's evaluation function, on the package.)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import nn
from torchvision.transforms.v2 import functional as TF

from ..errors import ConfigError, InputShapeError
from ..tracing import modes_kept

SZEGEDY_SCALES = (256, 288, 320, 352)
CROP_COUNTS = (1, 10, 144)


def _size2(crop_size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(crop_size, int):
        return crop_size, crop_size
    h, w = crop_size
    return int(h), int(w)


def _check_images(images: torch.Tensor, crop: tuple[int, int], what: str) -> None:
    if images.ndim != 4:
        raise InputShapeError(f"{what} takes a batch N x C x H x W, got shape {tuple(images.shape)}")
    h, w = images.shape[-2:]
    if h < crop[0] or w < crop[1]:
        raise InputShapeError(
            f"images {h}x{w} are smaller than the {crop[0]}x{crop[1]} crops {what} takes; "
            f"resize them first (e.g. shorter side 256 for 224 crops) or pass a smaller crop_size"
        )


def center_crop(images: torch.Tensor, crop_size: int | Sequence[int]) -> torch.Tensor:
    """The centre ``crop_size`` crop of every image: N x C x h x w."""
    crop = _size2(crop_size)
    _check_images(images, crop, "center_crop")
    return TF.center_crop(images, list(crop))


def ten_crop(images: torch.Tensor, crop_size: int | Sequence[int]) -> torch.Tensor:
    """N x 10 x C x h x w: top-left, top-right, bottom-left, bottom-right and centre crops,
    then the same five of the horizontally flipped images (torchvision's order)."""
    crop = _size2(crop_size)
    _check_images(images, crop, "ten_crop")
    return torch.stack(TF.ten_crop(images, list(crop)), dim=1)


def _squares(images: torch.Tensor) -> list[torch.Tensor]:
    """Left, centre and right squares (top, centre, bottom when portrait)."""
    h, w = images.shape[-2:]
    side = min(h, w)
    if w >= h:
        offsets = (0, (w - side) // 2, w - side)
        return [images[..., :, o : o + side] for o in offsets]
    offsets = (0, (h - side) // 2, h - side)
    return [images[..., o : o + side, :] for o in offsets]


def iter_crops_144(
    images: torch.Tensor, crop_size: int = 224, scales: Sequence[int] = SZEGEDY_SCALES
) -> Iterator[torch.Tensor]:
    """The 144 crops, one scale at a time (N x 36 x C x crop x crop each), so a caller can
    run the model on each group without holding all 144 in memory. Within a scale: for
    each square (left, centre, right), the four corners, the centre and the resized
    square, then the same six of the mirrored square."""
    if images.ndim != 4:
        raise InputShapeError(f"crops_144 takes a batch N x C x H x W, got shape {tuple(images.shape)}")
    if any(s < crop_size for s in scales):
        raise ConfigError(f"scales={tuple(scales)!r} must all be at least crop_size={crop_size}")
    for scale in scales:
        resized = TF.resize(images, [int(scale)], antialias=True)  # shorter side = scale
        group = []
        for square in _squares(resized):
            six = [
                *TF.five_crop(square, [crop_size, crop_size]),
                TF.resize(square, [crop_size, crop_size], antialias=True),
            ]
            group.extend(six)
            group.extend(TF.horizontal_flip(c) for c in six)
        yield torch.stack(group, dim=1)


def crops_144(images: torch.Tensor, crop_size: int = 224, scales: Sequence[int] = SZEGEDY_SCALES) -> torch.Tensor:
    """N x 144 x C x crop x crop: Szegedy et al. (2014) Sec. 7's test crops (see the module
    docstring). Memory grows fast (144 x 3 x 224 x 224 floats is 87 MB per image);
    :func:`predict_crops` walks :func:`iter_crops_144` instead."""
    return torch.cat(list(iter_crops_144(images, crop_size, scales)), dim=1)


def _crop_groups(
    images: torch.Tensor, crops: int, crop_size: int | Sequence[int] | None, scales: Sequence[int]
) -> Iterator[torch.Tensor]:
    if crops == 1:
        yield (images if crop_size is None else center_crop(images, crop_size))[:, None]
    elif crops == 10:
        if crop_size is None:
            raise ConfigError("10-crop testing needs crop_size (e.g. 224 crops of 256x256 images)")
        yield ten_crop(images, crop_size)
    else:
        if crop_size is None:
            raise ConfigError("144-crop testing needs crop_size (224 in Szegedy et al. 2014)")
        h, w = _size2(crop_size)
        if h != w:
            raise ConfigError(f"144-crop testing takes square crops, got crop_size={crop_size!r}")
        yield from iter_crops_144(images, h, scales)


def parse_crops(crops: int | str) -> int:
    """1, 10 or 144 from an int or a string such as ``"10"``."""
    try:
        n = int(crops)
    except (TypeError, ValueError):
        n = -1
    if n not in CROP_COUNTS or isinstance(crops, bool):
        raise ConfigError(f"crops={crops!r} must be 1, 10 or 144")
    return n


@torch.no_grad()
def predict_crops(
    model: nn.Module,
    images: torch.Tensor,
    crops: int | str = 1,
    crop_size: int | Sequence[int] | None = None,
    *,
    scales: Sequence[int] = SZEGEDY_SCALES,
    max_batch: int | None = None,
) -> torch.Tensor:
    """Class probabilities N x classes: softmax of the model's logits on each crop, averaged
    over the crops. The model runs in eval mode (its mode is restored afterwards) on the
    device the images are on; ``max_batch`` caps the crops per forward pass."""
    n_crops = parse_crops(crops)
    if max_batch is not None and max_batch < 1:
        raise ConfigError(f"max_batch={max_batch!r} must be at least 1")
    with modes_kept(model):
        model.eval()
        total: torch.Tensor | None = None
        count = 0
        for group in _crop_groups(images, n_crops, crop_size, scales):
            n, g = group.shape[:2]
            flat = group.reshape(n * g, *group.shape[2:])
            step = max_batch or flat.shape[0]
            probs = torch.cat([model(flat[i : i + step]).float().softmax(dim=1) for i in range(0, flat.shape[0], step)])
            summed = probs.reshape(n, g, -1).sum(dim=1)
            total = summed if total is None else total + summed
            count += g
        assert total is not None
        return total / count


def ensemble_probabilities(
    probabilities: Sequence[torch.Tensor], weights: Sequence[float] | None = None
) -> torch.Tensor:
    """The (weighted) mean of several models' N x classes probabilities."""
    probs = list(probabilities)
    if not probs:
        raise ConfigError("an ensemble needs at least one member's probabilities")
    shape = probs[0].shape
    for i, p in enumerate(probs):
        if p.shape != shape:
            raise ConfigError(
                f"ensemble member {i} gives shape {tuple(p.shape)}, member 0 gives {tuple(shape)}; "
                "all must be N x classes alike"
            )
    stacked = torch.stack([p.float() for p in probs])
    if weights is None:
        return stacked.mean(dim=0)
    if len(weights) != len(probs) or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ConfigError(f"weights={list(weights)!r} must be {len(probs)} non-negative numbers with a positive sum")
    w = torch.tensor([float(x) for x in weights], dtype=stacked.dtype, device=stacked.device)
    return (stacked * (w / w.sum()).view(-1, *([1] * (stacked.ndim - 1)))).sum(dim=0)


def predict_ensemble(
    models: Sequence[nn.Module],
    images: torch.Tensor,
    crops: int | str = 1,
    crop_size: int | Sequence[int] | None = None,
    **kwargs: object,
) -> torch.Tensor:
    """Every model's :func:`predict_crops`, averaged (Szegedy et al. 2014 Sec. 7: 7 models)."""
    return ensemble_probabilities([predict_crops(m, images, crops, crop_size, **kwargs) for m in models])  # type: ignore[arg-type]
