"""Batched data augmentation on the training device: one set of tensor operations per
batch, with every image's own random offsets, flips and angles, and no Python loop over
images.

Random numbers are drawn by :meth:`Augment.sample` from a ``torch.Generator`` the caller
seeds (the :class:`DeviceLoader` seeds one per epoch), so an epoch replays exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import ConfigError

Params = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Augment:
    """The augmentations of the course and the papers, applied to a whole batch at once.

    - ``crop_padding``: random crop of the original size from the image padded by this many
      zero pixels on each side (torchvision's ``RandomCrop(size, padding=p)``; He et al.
      2015, Sec. 4.2 use 4 on CIFAR-10).
    - ``hflip``: flip each image left-right with probability 0.5.
    - ``shift``: translate each image by a whole number of pixels drawn from
      ``-shift..shift`` on each axis (Keras' ``width_shift_range`` / ``height_shift_range``
      in pixels); the uncovered border is filled by ``fill``.
    - ``rotation`` (degrees, uniform in ``[-rotation, rotation]``), ``zoom`` (each axis scaled
      by a factor uniform in ``[1 - zoom, 1 + zoom]``, as Keras' ``zoom_range``) and ``shear``
      (degrees): one random affine map per image, resampled bilinearly.
    - ``fill``: ``"nearest"`` repeats the edge pixels (Keras' default ``fill_mode``);
      ``"zero"`` fills with black. ``crop_padding`` always pads with zeros, as torchvision.

    Order: crop, shift, flip, affine (a flip is folded into the crop or shift gather). Integer
    operations keep ``uint8``; the affine map returns ``float32`` in 0..255.
    """

    crop_padding: int = 0
    hflip: bool = False
    shift: int = 0
    rotation: float = 0.0
    zoom: float = 0.0
    shear: float = 0.0
    fill: str = "nearest"

    def __post_init__(self) -> None:
        for name in ("crop_padding", "shift"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"Augment({name}={value!r}): expected a whole number of pixels >= 0, e.g. {name}=4")
        if not isinstance(self.hflip, bool):
            raise ConfigError(f"Augment(hflip={self.hflip!r}): expected True or False")
        for name, below, allowed in (
            ("rotation", 180.000001, "degrees from 0 to 180, e.g. rotation=30"),
            ("zoom", 1.0, "a fraction from 0 to below 1, e.g. zoom=0.15"),
            ("shear", 90.0, "degrees from 0 to below 90, e.g. shear=15"),
        ):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < below:
                raise ConfigError(f"Augment({name}={value!r}): expected {allowed}")
        if self.fill not in ("nearest", "zero"):
            raise ConfigError(f"Augment(fill={self.fill!r}): expected 'nearest' or 'zero'")

    @property
    def is_identity(self) -> bool:
        return not (self.crop_padding or self.hflip or self.shift or self.has_affine)

    @property
    def has_affine(self) -> bool:
        return bool(self.rotation or self.zoom or self.shear)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Params:
        """Random parameters for ``n`` images, drawn on the CPU in a fixed order."""
        g = generator
        p: Params = {}
        if self.crop_padding:
            span = 2 * self.crop_padding + 1
            p["crop_dy"] = torch.randint(0, span, (n,), generator=g)
            p["crop_dx"] = torch.randint(0, span, (n,), generator=g)
        if self.shift:
            span = 2 * self.shift + 1
            p["shift_dy"] = torch.randint(0, span, (n,), generator=g) - self.shift
            p["shift_dx"] = torch.randint(0, span, (n,), generator=g) - self.shift
        if self.hflip:
            p["flip"] = torch.rand(n, generator=g) < 0.5
        if self.has_affine:
            u = torch.rand(n, 4, generator=g) * 2 - 1  # uniform in [-1, 1)
            p["angle"] = u[:, 0] * math.radians(self.rotation)
            p["zoom_x"] = 1 + u[:, 1] * self.zoom
            p["zoom_y"] = 1 + u[:, 2] * self.zoom
            p["shear"] = u[:, 3] * math.radians(self.shear)
        return p

    def apply(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        """Augment the batch ``x`` (N x C x H x W) with per-image ``params`` from :meth:`sample`
        (already on ``x``'s device)."""
        flip = params.get("flip")
        if "crop_dy" in params:
            x = _translate(
                x,
                params["crop_dy"],
                params["crop_dx"],
                self.crop_padding,
                zero=True,
                flip=None if "shift_dy" in params else flip,
            )
        if "shift_dy" in params:
            s = self.shift
            x = _translate(x, params["shift_dy"] + s, params["shift_dx"] + s, s, zero=self.fill == "zero", flip=flip)
        if flip is not None and "crop_dy" not in params and "shift_dy" not in params:
            x = _hflip(x, flip)
        if "angle" in params:
            x = _affine(x, params, zero=self.fill == "zero")
        return x

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample and apply in one step (parameters drawn on the CPU, moved to ``x``'s device)."""
        params = {k: v.to(x.device) for k, v in self.sample(len(x), generator).items()}
        return self.apply(x, params)


def _translate(
    x: torch.Tensor, oy: torch.Tensor, ox: torch.Tensor, pad: int, *, zero: bool, flip: torch.Tensor | None = None
) -> torch.Tensor:
    """``out[n] = padded(x)[n, :, oy[n] : oy[n] + H, ox[n] : ox[n] + W]`` for offsets in
    ``0..2 * pad``, the padding being zeros (``zero``) or copies of the edge pixels; then
    mirrored left-right where ``flip`` is true.

    The padded batch is viewed (``as_strided``, no copy) as every window at every offset,
    ``N x (2p+1) x (2p+1) x C x H x W``, and one advanced index picks each image's window.
    A flip picks from a mirrored copy of the padded batch instead, at the mirrored offset
    ``2p - ox``, which is the same as cropping first and flipping after.
    """
    n, c, h, w = x.shape
    if zero:
        xp = F.pad(x, (pad, pad, pad, pad))
    else:
        xp = _replicate_pad(x, pad)
    batch = torch.arange(n, device=x.device)
    if flip is not None:
        xp = torch.cat([xp, xp.flip(3)])
        batch = batch + n * flip.long()
        ox = torch.where(flip, 2 * pad - ox, ox)
    m = xp.shape[0]
    s0, s1, s2, s3 = xp.stride()
    windows = xp.as_strided((m, 2 * pad + 1, 2 * pad + 1, c, h, w), (s0, s2, s3, s1, s2, s3))
    return windows[batch, oy, ox]


def _replicate_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Pad by repeating the edge pixels; clamped indices where a backend lacks ``uint8``
    replication padding."""
    if x.shape[-1] > pad and x.shape[-2] > pad:
        try:
            return F.pad(x, (pad, pad, pad, pad), mode="replicate")
        except (RuntimeError, NotImplementedError):  # pragma: no cover - backend dependent
            pass
    h, w = x.shape[-2:]
    rows = torch.arange(-pad, h + pad, device=x.device).clamp_(0, h - 1)
    cols = torch.arange(-pad, w + pad, device=x.device).clamp_(0, w - 1)
    return x.index_select(2, rows).index_select(3, cols)


def _hflip(x: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Mirror the images where ``flip`` is true: one gather with per-image column orders."""
    n, c, h, w = x.shape
    ar = torch.arange(w, device=x.device)
    cols = torch.where(flip.view(-1, 1), ar.flip(0), ar)  # N x W
    return x.gather(3, cols.view(n, 1, 1, w).expand(n, c, h, w))


def _affine(x: torch.Tensor, p: Params, *, zero: bool) -> torch.Tensor:
    """Rotate, shear and zoom each image about its centre (Keras' ``ImageDataGenerator``
    order: rotation, shear, zoom, mapping output pixels to input pixels)."""
    n, _, h, w = x.shape
    a, s = p["angle"], p["shear"]
    zx, zy = p["zoom_x"], p["zoom_y"]
    cos, sin = torch.cos(a), torch.sin(a)
    # M = R(a) @ Shear(s) @ Zoom(zx, zy) in pixel units about the centre.
    m00 = cos * zx
    m01 = (-cos * torch.sin(s) - sin * torch.cos(s)) * zy
    m10 = sin * zx
    m11 = (-sin * torch.sin(s) + cos * torch.cos(s)) * zy
    # affine_grid works in [-1, 1] coordinates: theta = D^-1 M D with D = diag(W/2, H/2).
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=torch.float32)
    theta[:, 0, 0] = m00
    theta[:, 0, 1] = m01 * (h / w)
    theta[:, 1, 0] = m10 * (w / h)
    theta[:, 1, 1] = m11
    xf = x.float()
    grid = F.affine_grid(theta, list(xf.shape), align_corners=False)
    return F.grid_sample(xf, grid, mode="bilinear", padding_mode="zeros" if zero else "border", align_corners=False)
