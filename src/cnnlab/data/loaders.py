"""Input pipelines: :class:`DeviceLoader` for sets that fit in memory (the whole ``uint8``
tensor lives on the training device; batches are gathered, augmented and normalised there)
and :func:`folder_loader` for sets read from disk (a ``DataLoader`` with workers).

Both follow ``DistributedSampler``'s contract: call ``set_epoch(e)`` before each epoch; the
order is a function of ``(seed, epoch)`` alone, so a resumed run replays the same epochs.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from ..errors import ConfigError
from ..registry import IMAGENET_MEAN
from .augment import Augment
from .datasets import FolderImages, ImageTensors


def epoch_seed(seed: int, epoch: int, stream: str) -> int:
    """A 63-bit seed for one ``(seed, epoch)`` and purpose (``"order"``, ``"augment"``,
    ``"workers"``): the first 8 bytes of SHA-256 of ``"cnnlab.data:{stream}:{seed}:{epoch}"``.
    Distinct pairs never share a stream the way ``seed + epoch`` would."""
    digest = hashlib.sha256(f"cnnlab.data:{stream}:{seed}:{epoch}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def _generator(seed: int, epoch: int, stream: str) -> torch.Generator:
    return torch.Generator().manual_seed(epoch_seed(seed, epoch, stream))


def _check_rank(rank: int, world_size: int) -> None:
    if not isinstance(world_size, int) or world_size < 1:
        raise ConfigError(f"world_size must be an int >= 1, got {world_size!r}")
    if not isinstance(rank, int) or not 0 <= rank < world_size:
        raise ConfigError(f"rank must be an int in 0..{world_size - 1} for world_size={world_size}, got {rank!r}")


def _channel_values(values: Sequence[float] | float, channels: int, what: str) -> torch.Tensor:
    vals = [float(values)] if isinstance(values, (int, float)) else [float(v) for v in values]
    if len(vals) == 1:
        vals = vals * channels
    if len(vals) != channels:
        raise ConfigError(f"{what} has {len(vals)} values for {channels}-channel images; give 1 or {channels}")
    return torch.tensor(vals, dtype=torch.float32).view(1, channels, 1, 1)


class DeviceLoader:
    """Batches of an in-memory dataset, made on ``device`` without per-image Python work.

    The ``uint8`` images move to ``device`` once. Each epoch draws a permutation from a
    generator seeded by ``(seed, epoch)`` (training) or keeps the stored order (evaluation).
    With ``world_size > 1`` the permutation is padded by wrap-around to a multiple of
    ``world_size`` (as ``DistributedSampler`` does) and rank ``r`` takes positions
    ``r, r + world_size, ...``: every rank gets ``ceil(N / world_size)`` samples, and batch
    ``k`` of all ranks together is batch ``k`` of a single process with batch size
    ``batch_size * world_size``. Augmentation parameters are drawn per position of that
    global order, so they too are the same whatever the number of processes.

    Yields ``(x, y)``: ``x`` ``float32`` N x C x H x W, ``(x / 255 - mean) / std``, channels as
    stored; ``y`` ``int64``. ``mean``/``std`` default to the dataset's training statistics
    (``data.info``); pass ``std=1/255``-style values for plain mean subtraction. ``augment``
    is used in training only (``train=False`` never augments).
    """

    def __init__(
        self,
        data: ImageTensors,
        batch_size: int,
        *,
        train: bool,
        device: str | torch.device = "cpu",
        augment: Augment | None = None,
        mean: Sequence[float] | float | None = None,
        std: Sequence[float] | float | None = None,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
        channels_last: bool = False,
    ) -> None:
        if not isinstance(data, ImageTensors):
            raise ConfigError(
                f"DeviceLoader takes an ImageTensors (from load_dataset on digits, mnist, fashion-mnist, "
                f"cifar10, cifar100), got {type(data).__name__}; use folder_loader for folder datasets"
            )
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive int, got {batch_size!r}")
        if augment is not None and not isinstance(augment, Augment):
            raise ConfigError(f"augment must be an Augment or None, got {type(augment).__name__}")
        _check_rank(rank, world_size)
        self.data = data
        self.info = data.info
        self.batch_size = batch_size
        self.train = bool(train)
        self.device = torch.device(device)
        self.augment = augment if (self.train and augment is not None and not augment.is_identity) else None
        self.seed = int(seed)
        self.drop_last = drop_last
        self.rank, self.world_size = rank, world_size
        self.channels_last = channels_last
        self.epoch = 0
        self._start_batch = 0

        channels = data.images.shape[1]
        mean_t = _channel_values(data.info.mean if mean is None else mean, channels, "mean")
        std_t = _channel_values(data.info.std if std is None else std, channels, "std")
        if (std_t <= 0).any():
            raise ConfigError(f"std must be positive, got {std_t.flatten().tolist()}")
        # (x / 255 - mean) / std  ==  x * scale - offset, one multiply and one subtract.
        self._scale = (1.0 / (255.0 * std_t)).to(self.device)
        self._offset = (mean_t / std_t).to(self.device)
        self.images = data.images.to(self.device)
        self.labels = data.labels.to(self.device)

    # sizes ------------------------------------------------------------------------------
    @property
    def total_size(self) -> int:
        """Samples per epoch over all ranks, padded to a multiple of ``world_size``."""
        return math.ceil(len(self.data) / self.world_size) * self.world_size

    @property
    def num_samples(self) -> int:
        """Samples this rank sees per epoch."""
        return self.total_size // self.world_size

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    # epochs -----------------------------------------------------------------------------
    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Make the next iteration epoch ``epoch``, starting at batch ``start_batch`` (to resume
        mid-epoch; the batches before it are skipped without being made)."""
        if not 0 <= start_batch <= len(self):
            raise ConfigError(f"start_batch must be in 0..{len(self)}, got {start_batch}")
        self.epoch, self._start_batch = int(epoch), int(start_batch)

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "seed": self.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.seed = int(state["seed"])
        self.set_epoch(int(state["epoch"]))

    def global_order(self, epoch: int | None = None) -> torch.Tensor:
        """Dataset indices in the order of epoch ``epoch`` for all ranks, padded (CPU tensor)."""
        epoch = self.epoch if epoch is None else epoch
        n = len(self.data)
        if self.train:
            order = torch.randperm(n, generator=_generator(self.seed, epoch, "order"))
        else:
            order = torch.arange(n)
        pad = self.total_size - n
        if pad:
            order = torch.cat([order, order.repeat(math.ceil(pad / n))[:pad]])
        return order

    def indices(self, epoch: int | None = None) -> torch.Tensor:
        """This rank's dataset indices for epoch ``epoch`` (CPU tensor)."""
        return self.global_order(epoch)[self.rank :: self.world_size]

    def _augment_params(self, epoch: int) -> dict[str, torch.Tensor] | None:
        if self.augment is None:
            return None
        params = self.augment.sample(self.total_size, _generator(self.seed, epoch, "augment"))
        return {k: v[self.rank :: self.world_size].to(self.device) for k, v in params.items()}

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch, start = self.epoch, self._start_batch
        self._start_batch = 0
        idx = self.indices(epoch).to(self.device)
        params = self._augment_params(epoch)
        b = self.batch_size
        for k in range(start, len(self)):
            sl = slice(k * b, (k + 1) * b)
            i = idx[sl]
            x = self.images.index_select(0, i)
            if params is not None:
                x = self.augment.apply(x, {name: v[sl] for name, v in params.items()})
            x = x.to(torch.float32).mul_(self._scale).sub_(self._offset)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, self.labels.index_select(0, i)

    def __repr__(self) -> str:
        return (
            f"DeviceLoader({self.info.name!r}, {len(self.data)} images, batch_size={self.batch_size}, "
            f"train={self.train}, device={str(self.device)!r}, augment={self.augment}, "
            f"rank={self.rank}/{self.world_size})"
        )


# --------------------------------------------------------------------------- folder loader


class TransformedDataset(Dataset):
    """``dataset[i]`` with ``transform`` applied to the image (the label passes through).

    With a ``seed``, the transform's random numbers come from ``torch``'s generator seeded
    by ``(seed, epoch, index)`` inside ``fork_rng`` (the caller's generator is left as it
    was): an image's augmentation in an epoch is then the same whatever the number of
    workers, and the same again in a resumed run.
    """

    def __init__(self, dataset: Dataset, transform: Any, seed: int | None = None) -> None:
        self.dataset = dataset
        self.transform = transform
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        image, label = self.dataset[index]
        if self.seed is None:
            return self.transform(image), label
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(epoch_seed(self.seed, self.epoch, f"item{index}"))
            return self.transform(image), label


class FolderLoader(DataLoader):
    """A ``DataLoader`` whose ``set_epoch(e)`` fixes the sample order (its
    ``DistributedSampler``) and the random augmentations (its :class:`TransformedDataset`
    and the generator the workers' seeds are drawn from), so epoch ``e`` is the same in a
    resumed run."""

    def __init__(self, *args: Any, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seed = seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)  # type: ignore[attr-defined]
        if isinstance(self.dataset, TransformedDataset):
            self.dataset.epoch = epoch
        self.generator.manual_seed(epoch_seed(self.seed, epoch, "workers"))  # type: ignore[union-attr]


# AlexNet's PCA colour augmentation (Krizhevsky et al. 2012, Sec. 4.1) needs the principal
# components of ImageNet's RGB pixel values (pixels in [0, 1]). The paper does not print
# them; these are the values Facebook's fb.resnet.torch uses (datasets/imagenet.lua, "pca").
IMAGENET_PCA_EIGVAL = (0.2175, 0.0188, 0.0045)
IMAGENET_PCA_EIGVEC = (
    (-0.5675, 0.7192, 0.4009),
    (-0.5808, -0.0045, -0.8140),
    (-0.5836, -0.6948, 0.4203),
)


class PCALighting:
    """Add ``sum_i a_i * lambda_i * p_i`` to every pixel of an RGB tensor in ``[0, 1]``, with
    ``a_i ~ N(0, alpha_std)`` drawn once per image (Krizhevsky et al. 2012, Sec. 4.1: "the
    standard deviation 0.1"); ``lambda_i, p_i``: eigenvalues and eigenvectors of ImageNet's
    RGB covariance (``IMAGENET_PCA_EIGVAL``/``EIGVEC``)."""

    def __init__(self, alpha_std: float) -> None:
        self.alpha_std = float(alpha_std)
        self.eigval = torch.tensor(IMAGENET_PCA_EIGVAL)
        self.eigvec = torch.tensor(IMAGENET_PCA_EIGVEC)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        if image.shape[0] != 3:
            raise ConfigError(
                f"PCA lighting is defined for RGB images; got {image.shape[0]} channels (set pca_lighting: 0)"
            )
        alpha = torch.randn(3) * self.alpha_std
        shift = self.eigvec @ (alpha * self.eigval)
        return image + shift.view(3, 1, 1)

    def __repr__(self) -> str:
        return f"PCALighting(alpha_std={self.alpha_std})"


class ImageAugment:
    """An :class:`Augment` (shift, rotation, zoom, shear with its fill) applied to one image
    tensor in ``[0, 1]``, for folder datasets: the same maps the in-memory sets apply to
    whole batches, drawn from torch's generator (seeded per image by
    :class:`TransformedDataset`)."""

    def __init__(self, augment: Augment) -> None:
        self.augment = augment

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return self.augment(image[None])[0]

    def __repr__(self) -> str:
        return f"ImageAugment({self.augment})"


def folder_transform(
    dataset: Any,
    train: bool,
    *,
    image_size: int | Sequence[int] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    crop_padding: int | None = None,
    resize_shorter: int | None = None,
    random_crop: bool = False,
    scale: Sequence[float] | None = None,
    hflip: bool = True,
    pca_lighting: float = 0.0,
    crops: int = 1,
    augment: Augment | None = None,
) -> Any:
    """torchvision transforms for a folder dataset.

    Fixed-size sets (Tiny ImageNet, 64x64): training = random crop with ``crop_padding``
    zero pixels (default: an eighth of the size, 8 at 64x64) + horizontal flip; evaluation
    = the image as stored. Other folders (ImageNet layout), training: ``scale`` given:
    ``RandomResizedCrop`` over that range of areas (Szegedy et al. 2014, Sec. 6);
    ``random_crop``: resize the shorter side to ``resize_shorter`` (default ``size / 0.875``,
    256 for 224) then a random ``size`` crop (Krizhevsky et al. 2012, Sec. 4.1); otherwise
    torchvision's ``RandomResizedCrop`` defaults. Then a horizontal flip (``hflip``).
    Evaluation: resize the shorter side to ``resize_shorter`` and take the centre crop,
    ``size`` for ``crops=1``, the centre square for ``crops=10`` (``ten_crop`` cuts it), and
    the resized image alone for ``crops=144`` (each scale is cut later). Then ``ToTensor``,
    in training ``augment`` (an :class:`Augment`'s shift, rotation, zoom and shear, as
    Keras' ``ImageDataGenerator``) and ``PCALighting(pca_lighting)`` when it is above 0,
    and ``Normalize(mean, std)`` (default: the dataset's statistics).
    """
    from torchvision import transforms as T

    info = getattr(dataset, "info", None)
    stored = info.image_size[1:] if info is not None and info.image_size is not None else None
    size = image_size if image_size is not None else getattr(dataset, "image_size", None)
    if size is None:
        size = stored or (224, 224)
    size = (size, size) if isinstance(size, int) else tuple(size)[-2:]
    mean = mean if mean is not None else (info.mean if info is not None else IMAGENET_MEAN)
    std = std if std is not None else (info.std if info is not None else (0.229, 0.224, 0.225))
    shorter = resize_shorter or round(min(size) / 0.875)
    if crops not in (1, 10, 144):
        raise ConfigError(f"crops={crops!r} must be 1, 10 or 144")
    steps: list[Any] = []
    if stored is not None and crops == 1:
        if tuple(size) != tuple(stored):
            steps.append(T.Resize(size))
        if train:
            pad = crop_padding if crop_padding is not None else max(1, size[0] // 8)
            steps.append(T.RandomCrop(size, padding=pad))
    elif train:
        if scale is not None:
            steps.append(T.RandomResizedCrop(size, scale=tuple(scale)))
        elif random_crop:
            steps += [T.Resize(shorter), T.RandomCrop(size)]
        else:
            steps.append(T.RandomResizedCrop(size))
    elif crops == 1:
        steps += [T.Resize(shorter), T.CenterCrop(size)]
    elif crops == 10:
        steps += [T.Resize(shorter), T.CenterCrop(shorter)]
    if train and hflip:
        steps.append(T.RandomHorizontalFlip())
    steps.append(T.ToTensor())
    if train and augment is not None and not augment.is_identity:
        steps.append(ImageAugment(augment))
    if train and pca_lighting > 0:
        steps.append(PCALighting(pca_lighting))
    steps.append(T.Normalize(mean, std))
    return T.Compose(steps)


def folder_loader(
    dataset: FolderImages | Dataset,
    batch_size: int,
    train: bool,
    num_workers: int = 2,
    *,
    image_size: int | Sequence[int] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    crop_padding: int | None = None,
    transform: Any = None,
    options: dict[str, Any] | None = None,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    drop_last: bool = False,
    pin_memory: bool = False,
) -> FolderLoader:
    """A ``DataLoader`` over a folder dataset with the standard torchvision transforms
    (:func:`folder_transform` with ``options``, or ``transform``) and a ``DistributedSampler`` (one replica
    when ``world_size == 1``), shuffling in training. Call ``set_epoch(e)`` each epoch.

    ``dataset`` yields ``(PIL image, label)``, as :class:`FolderImages` does. In training each
    image's random transform is seeded by ``(seed, epoch, index)``; workers are started
    afresh each epoch (``persistent_workers`` stays off) so they see the new epoch.
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive int, got {batch_size!r}")
    if not isinstance(num_workers, int) or num_workers < 0:
        raise ConfigError(f"num_workers must be an int >= 0, got {num_workers!r}")
    _check_rank(rank, world_size)
    if transform is None:
        options = {"crop_padding": crop_padding, **(options or {})}
        transform = folder_transform(dataset, train, image_size=image_size, mean=mean, std=std, **options)
    wrapped = TransformedDataset(dataset, transform, seed=seed if train else None)
    sampler = DistributedSampler(wrapped, num_replicas=world_size, rank=rank, shuffle=train, seed=seed)
    return FolderLoader(
        wrapped,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=drop_last,
        pin_memory=pin_memory,
        generator=torch.Generator(),
        seed=seed,
    )


# --------------------------------------------------------------------------- measurement


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":  # pragma: no cover - Apple only
        torch.mps.synchronize()


def pipeline_throughput(loader: Any, batches: int = 50, *, warmup: int = 2) -> float:
    """Images per second the pipeline delivers on its own (no model), over ``batches``
    batches after ``warmup``; the loader is restarted when an epoch ends."""

    def stream() -> Iterator[Any]:
        while True:
            empty = True
            for batch in loader:
                empty = False
                yield batch
            if empty:
                raise ConfigError("the loader yields no batches; lower batch_size or set drop_last=False")

    it = stream()
    x = None
    for _ in range(warmup):
        x, _ = next(it)
    if x is not None:
        _sync(x.device)
    images, start = 0, time.perf_counter()
    for _ in range(batches):
        x, _ = next(it)
        images += len(x)
    if x is not None:
        _sync(x.device)
    return images / (time.perf_counter() - start)
