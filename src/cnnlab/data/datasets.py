"""Loading datasets from their official on-disk formats.

Small sets (digits, MNIST, Fashion-MNIST, CIFAR) load whole into :class:`ImageTensors`
(``uint8`` images as stored, ``int64`` labels); folder sets (Tiny ImageNet, ImageNet, any
image folder) load as :class:`FolderImages`, which opens each image when it is asked for.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..errors import ConfigError
from .catalog import (
    DIGITS_SEED,
    DIGITS_TEST_FRACTION,
    IDX_NAMES,
    DatasetInfo,
    canonical_name,
    dataset_info,
    split_subset,
)
from .errors import DatasetIntegrityError, DatasetNotFoundError
from .files import (
    Verify,
    check_md5,
    default_data_root,
    default_roots,
    download_file,
    expected_md5,
    extract_archive,
    load_pickle,
)
from .idx import maybe_decompress, parse_idx


def _readable_extensions() -> tuple[str, ...]:
    """Every file suffix Pillow can read: what ``open_image`` reads as a single file, a folder
    of ``cnnlab predict`` or ``explain --image`` reads too (GIF and PPM as much as PNG)."""
    from PIL import Image

    Image.init()
    return tuple(sorted(e for e, fmt in Image.registered_extensions().items() if fmt in Image.OPEN))


IMAGE_EXTENSIONS = _readable_extensions()


def image_files(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The image files that ``paths`` name: files as given, folders replaced by the image
    files directly inside them (sorted by name). Missing paths and folders without images
    raise ``ConfigError`` naming them."""
    out: list[Path] = []
    for path in paths:
        p = Path(path)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
            if not found:
                raise ConfigError(
                    f"folder {str(path)!r} holds no image files (no suffix Pillow reads: .png, .jpg, .gif, ...); "
                    "pass image files, or a folder that holds some"
                )
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise ConfigError(
                f"image {str(path)!r} does not exist; pass image files (PNG, JPEG, ...) or folders of them"
            )
    return out


def open_image(path: str | os.PathLike[str], mode: str) -> Any:
    """The image file at ``path`` converted to the PIL ``mode`` (``"L"``, ``"RGB"``); a file
    PIL cannot read as an image raises ``ConfigError`` naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return img.convert(mode)
    except (UnidentifiedImageError, OSError) as err:
        raise ConfigError(
            f"{str(path)!r} is not an image file PIL can read ({err.__class__.__name__}: {err}); "
            f"pass PNG, JPEG or other image files (.png, .jpg, .gif, ... any Pillow reads)"
        ) from None


# --------------------------------------------------------------------------- containers


class ImageTensors(Dataset):
    """A whole dataset in memory: ``images`` ``uint8`` N x C x H x W, ``labels`` ``int64`` N.

    ``extras`` holds further per-image tensors of the files (CIFAR-100's coarse labels).
    Indexing gives ``(image, label)`` like a ``TensorDataset``; :class:`DeviceLoader` takes
    the tensors whole.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        info: DatasetInfo,
        extras: Mapping[str, torch.Tensor] | None = None,
    ) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ConfigError(
                f"images must be a uint8 tensor N x C x H x W, got {images.dtype} of shape {tuple(images.shape)}"
            )
        if labels.dim() != 1 or len(labels) != len(images):
            raise ConfigError(f"labels must be one per image: {tuple(labels.shape)} for {len(images)} images")
        self.images = images
        self.labels = labels.to(torch.int64)
        self.info = info
        self.extras = dict(extras or {})

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.labels[index]

    @property
    def classes(self) -> tuple[str, ...]:
        return self.info.classes

    @property
    def num_classes(self) -> int:
        return self.info.num_classes

    @property
    def image_size(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def __repr__(self) -> str:
        n, c, h, w = self.images.shape
        return f"ImageTensors({self.info.name!r}, {n:,} images {c}x{h}x{w} uint8, {self.num_classes:,} classes)"


class FolderImages(Dataset):
    """Images read from disk one at a time: ``samples`` is a list of ``(path, label)``.

    ``__getitem__`` returns ``(image, label)`` with the image opened by PIL and converted to
    RGB (Tiny ImageNet holds some greyscale JPEGs), then passed through ``transform`` when
    one is set. ``image_size`` is the size the caller asked for, a hint to
    :func:`folder_loader`.
    """

    def __init__(
        self,
        samples: Sequence[tuple[str, int]],
        classes: Sequence[str],
        info: DatasetInfo,
        transform: Any = None,
        image_size: tuple[int, int] | None = None,
        root: str | os.PathLike[str] | None = None,
    ) -> None:
        self.samples = list(samples)
        self.targets = [label for _, label in self.samples]
        self.classes = tuple(classes)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.info = info
        self.transform = transform
        self.image_size = image_size
        self.root = Path(root) if root is not None else None

    def __len__(self) -> int:
        return len(self.samples)

    def load_image(self, index: int) -> Any:
        from PIL import Image

        path = self.samples[index][0]
        with Image.open(path) as img:
            return img.convert("RGB")

    def subset(self, indices: Sequence[int] | torch.Tensor) -> FolderImages:
        """The images at ``indices`` (in that order), as a folder dataset of the same classes:
        a held-out validation part of a training folder, for instance."""
        picked = [self.samples[int(i)] for i in indices]
        return FolderImages(picked, self.classes, self.info, self.transform, self.image_size, self.root)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        img = self.load_image(index)
        if self.transform is not None:
            img = self.transform(img)
        return img, self.samples[index][1]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        root = str(self.root)
        return f"FolderImages({self.info.name!r}, {len(self):,} images, {self.num_classes:,} classes, root={root!r})"


def select_classes(data: ImageTensors | FolderImages, subset: DatasetInfo) -> ImageTensors | FolderImages:
    """The images of ``subset.class_subset``'s classes, relabelled 0, 1, ... in its order, with
    ``subset`` (:func:`~cnnlab.data.dataset_info` of a name like ``"mnist[5-9]"``) as info."""
    kept = subset.class_subset or ()
    classes = data.info.classes if isinstance(data, ImageTensors) else data.classes
    if classes and max(kept) >= len(classes):
        raise ConfigError(
            f"dataset {subset.name!r} selects class {max(kept)}, but the data hold classes 0-{len(classes) - 1}"
        )
    names = tuple(classes[i] for i in kept) if classes else subset.classes
    info = dataclasses.replace(subset, classes=names, num_classes=len(kept))
    if isinstance(data, ImageTensors):
        relabel = torch.full((max(int(data.labels.max()) + 1, max(kept) + 1),), -1, dtype=torch.int64)
        relabel[list(kept)] = torch.arange(len(kept))
        new = relabel[data.labels]
        index = (new >= 0).nonzero().flatten()
        return ImageTensors(data.images[index], new[index], info, {k: v[index] for k, v in data.extras.items()})
    position = {old: new for new, old in enumerate(kept)}
    samples = [(path, position[label]) for path, label in data.samples if label in position]
    return FolderImages(samples, names, info, transform=data.transform, image_size=data.image_size, root=data.root)


def channel_stats(images: torch.Tensor, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) standard deviation of ``pixel / 255``.

    ``images`` is ``uint8`` N x C x H x W; sums run in float64, a chunk of images at a time.
    """
    c = images.shape[1]
    total = torch.zeros(c, dtype=torch.float64)
    total_sq = torch.zeros(c, dtype=torch.float64)
    for start in range(0, len(images), chunk):
        x = images[start : start + chunk].to(torch.float64) / 255.0
        total += x.sum(dim=(0, 2, 3))
        total_sq += (x * x).sum(dim=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(0).sqrt()
    return tuple(mean.tolist()), tuple(std.tolist())


def _size_pair(image_size: int | Sequence[int] | None, name: str) -> tuple[int, int] | None:
    if image_size is None:
        return None
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        size = (image_size, image_size)
    else:
        size = tuple(image_size)
        if len(size) == 3:  # (C, H, W)
            size = size[1:]
    if len(size) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size):
        raise ConfigError(
            f"image_size for {name} must be a positive int, (H, W) or (C, H, W), got {image_size!r}; e.g. image_size=32"
        )
    return size  # type: ignore[return-value]


def resize_images(images: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """Resize a whole ``uint8`` batch at once.

    ``mode="bilinear"`` interpolates (antialiased when shrinking); ``mode="pad"`` centres the
    images in a larger field of zeros, as LeCun et al. (1998, Sec. III.A) put 28x28 MNIST
    digits in a 32x32 field.
    """
    h, w = images.shape[-2:]
    if (h, w) == tuple(size):
        return images
    if mode == "pad":
        dh, dw = size[0] - h, size[1] - w
        if dh < 0 or dw < 0:
            raise ConfigError(
                f"resize='pad' cannot shrink {h}x{w} images to {size[0]}x{size[1]}; use resize='bilinear'"
            )
        return F.pad(images, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))
    if mode != "bilinear":
        raise ConfigError(f"resize must be 'bilinear' or 'pad', got {mode!r}")
    out = torch.empty((images.shape[0], images.shape[1], *size), dtype=torch.uint8)
    shrink = size[0] < h or size[1] < w
    for start in range(0, len(images), 8192):  # bounded float memory for 60,000 images
        x = images[start : start + 8192].float()
        y = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrink)
        out[start : start + 8192] = y.round_().clamp_(0, 255).to(torch.uint8)
    return out


# --------------------------------------------------------------------------- finding files


def _candidates(info: DatasetInfo, data_dir: str | os.PathLike[str] | None) -> list[Path]:
    """Folders that may hold the dataset's files, in search order."""
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        return [root, *(root / sub for sub in info.folder_names), root / info.name]
    out = [root / sub for root in default_roots() for sub in (*info.folder_names, info.name)]
    return out + [Path(p) for p in info.system_dirs]


def _unique(paths: Sequence[Path]) -> list[Path]:
    seen, out = set(), []
    for p in paths:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def _not_found(
    info: DatasetInfo, expected: Sequence[str], searched: Sequence[Path], data_dir: Any
) -> DatasetNotFoundError:
    folders = "\n  ".join(str(p) for p in _unique(searched))
    target = Path(data_dir).expanduser() if data_dir is not None else default_data_root()
    if info.archives:
        online = (
            f", or when online fetch {', '.join(a.filename for a in info.archives)} into {target} with "
            f"`cnnlab data download {info.name.split('[')[0]} --data-dir {target}` (in Python: download=True)"
        )
    else:
        online = ""
    return DatasetNotFoundError(
        f"{info.name}: expected files {', '.join(expected)} were not found. Layout: {info.layout}. "
        f"Searched:\n  {folders}\nFix: pass --data-dir DIR (data_dir=DIR) naming the folder that "
        f"holds them, or set $CNNLAB_DATA{online}"
    )


def _find_archive(info: DatasetInfo, data_dir: Any) -> tuple[Path, Any] | None:
    """An official archive lying unextracted in one of the searched roots."""
    roots = [Path(data_dir).expanduser()] if data_dir is not None else default_roots()
    for root in roots:
        for folder in (root, root / info.name):
            for archive in info.archives:
                if archive.extracts_to and (folder / archive.filename).is_file():
                    return folder / archive.filename, archive
    return None


def _locate(
    info: DatasetInfo,
    data_dir: Any,
    required: Sequence[str],
    verify: Verify,
    download: bool,
    mirrors: Sequence[str] | None,
    progress: bool = False,
) -> Path:
    """The folder holding ``required`` files, unpacking or downloading the archive if asked."""

    def has_all(folder: Path) -> bool:
        return all((folder / name).exists() for name in required)

    candidates = _candidates(info, data_dir)
    for folder in candidates:
        if folder.is_dir() and has_all(folder):
            return folder
    found = _find_archive(info, data_dir)
    if found is None and download:
        download_dataset(info.name, data_dir, mirrors=mirrors, verify=verify, progress=progress)
        found = _find_archive(info, data_dir)
        for folder in _candidates(info, data_dir):  # archives that need no unpacking (MNIST)
            if folder.is_dir() and has_all(folder):
                return folder
    if found is not None:
        path, archive = found
        check_md5(
            path,
            expected_md5(archive.filename, archive.md5, verify),
            fix=f"Delete it and download {archive.urls[0] if archive.urls else archive.filename} again",
        )
        folder = extract_archive(path, path.parent, archive.extracts_to)
        if has_all(folder):
            return folder
        candidates.append(folder)
    raise _not_found(info, required, candidates, data_dir)


@dataclasses.dataclass(frozen=True)
class DatasetLocation:
    """Where a dataset's files are on this machine: the folder that holds them (``None``
    when none does), the folders searched in order, an official archive lying unextracted,
    the files looked for, and a note on how the set is found."""

    name: str
    folder: Path | None
    searched: tuple[Path, ...]
    archive: Path | None
    required: tuple[str, ...]
    note: str = ""


def _required(info: DatasetInfo) -> tuple[str, ...]:
    if info.name in ("mnist", "fashion-mnist"):
        return tuple(IDX_NAMES)
    if info.name == "tiny-imagenet":
        return ("wnids.txt", "train", "val")
    return tuple(f.name for f in info.files)


def locate_dataset(name: str, data_dir: str | os.PathLike[str] | None = None) -> DatasetLocation:
    """Look for a dataset's files as :func:`load_dataset` would, without reading, checking
    or downloading anything."""
    info = dataset_info(split_subset(canonical_name(name))[0])
    if info.name == "digits":
        return DatasetLocation(
            info.name,
            Path(importlib.util.find_spec("sklearn").origin).parent / "datasets" / "data",
            (),
            None,
            (),
            "bundled with scikit-learn: always available",
        )
    if not info.in_memory and info.name != "tiny-imagenet":  # imagenet, imagefolder: a tree the user names
        root = Path(data_dir).expanduser() if data_dir is not None else None
        found = root if root is not None and root.is_dir() else None
        return DatasetLocation(
            info.name,
            found,
            (root,) if root is not None else (),
            None,
            (),
            f"needs --data-dir (data_dir=...): {info.layout}",
        )
    required = _required(info)
    searched = _unique(_candidates(info, data_dir))
    have = [f for f in searched if f.is_dir() and all((f / n).exists() for n in required)]
    folder = next((f for f in have if _same_files(info, f)), None)
    archive = _find_archive(info, data_dir) if folder is None else None
    note = "" if folder or archive else f"files expected: {info.layout}"
    if folder is None and have:  # MNIST's files in the folder asked for Fashion-MNIST's: same names
        note = (
            f"{', '.join(map(str, have))} holds files of the right names but not {info.name}'s (md5 differs); " + note
        )
    return DatasetLocation(info.name, folder, tuple(searched), archive[0] if archive else None, required, note)


def _same_files(info: DatasetInfo, folder: Path) -> bool:
    """Whether the smallest official file in ``folder`` is this dataset's (its md5, or the
    md5 of its decompressed content for re-packed copies such as Debian's)."""
    specs = [f for f in info.files if (folder / f.name).is_file()]
    if not specs:
        return True
    spec = min(specs, key=lambda f: (folder / f.name).stat().st_size)
    raw = (folder / spec.name).read_bytes()
    if hashlib.md5(raw, usedforsecurity=False).hexdigest() == spec.md5:
        return True
    return (
        spec.payload_md5 is not None
        and hashlib.md5(maybe_decompress(raw, spec.name), usedforsecurity=False).hexdigest() == spec.payload_md5
    )


def download_dataset(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    verify: Verify = True,
    progress: bool = False,
) -> Path:
    """Fetch a dataset's official archives into ``data_dir`` (default: ``$CNNLAB_DATA`` or
    ``~/.cache/cnnlab/data``) and return the folder they were written to.

    IDX files go to ``DIR/<name>/``; tar and zip archives to ``DIR/`` and are unpacked on
    first load. ``mirrors`` replaces the official base URLs (each is joined with the file
    name; tests pass a ``file://`` folder). Each file is streamed to a temporary file,
    checked against its md5 (``verify``: ``True`` official, a mapping of file name to md5
    overrides, ``False`` skips) and renamed into place.
    """
    info = dataset_info(split_subset(canonical_name(name))[0])  # mnist[0-4]: MNIST's files
    if not info.archives:
        raise ConfigError(
            f"{info.name} cannot be downloaded by cnnlab ({info.notes[0] if info.notes else 'no public archive'}); "
            f"place it by hand: {info.layout}"
        )
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_root()
    folder = root if all(a.extracts_to for a in info.archives) else root / info.name
    for archive in info.archives:
        urls = [m.rstrip("/") + "/" + archive.filename for m in mirrors] if mirrors else list(archive.urls)
        download_file(
            urls, folder / archive.filename, expected_md5(archive.filename, archive.md5, verify), progress=progress
        )
    return folder


# --------------------------------------------------------------------------- loaders


def _check_split(info: DatasetInfo, split: str) -> None:
    if split not in info.splits:
        raise ConfigError(
            f"{info.name} has no split {split!r}; choose one of {', '.join(info.splits)}"
            + ("" if "val" in info.splits else " (hold out part of train for validation)")
        )


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits: 1797 x 8 x 8 values 0..16, and labels.

    Read straight from the wheel's ``datasets/data/digits.csv.gz`` (64 pixels and the label
    per row, what ``load_digits`` parses) when it is there: importing scikit-learn costs
    about two seconds, the file 40 ms.
    """
    spec = importlib.util.find_spec("sklearn")
    csv = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec and spec.origin else None
    if csv is not None and csv.is_file():
        table = np.loadtxt(csv, delimiter=",")
        return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)
    from sklearn.datasets import (
        load_digits,  # pragma: no cover - a scikit-learn that moved the file
    )

    bunch = load_digits()  # pragma: no cover
    return np.asarray(bunch.images, dtype=np.float64), np.asarray(bunch.target, dtype=np.int64)  # pragma: no cover


def _load_digits(info: DatasetInfo, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = _digits_arrays()
    test_idx = digits_test_indices(labels)
    mask = np.zeros(len(labels), dtype=bool)
    mask[test_idx] = True
    keep = mask if split == "test" else ~mask
    x = torch.from_numpy(np.rint(images[keep] * (255.0 / 16.0)).astype(np.uint8)).unsqueeze(1)
    return x, torch.from_numpy(labels[keep])


def digits_test_indices(labels: np.ndarray) -> np.ndarray:
    """The fixed stratified test split of digits: per class, ``round(0.2 * n)`` images chosen
    by ``RandomState(0).permutation`` (NumPy keeps that stream unchanged across versions)."""
    rng = np.random.RandomState(DIGITS_SEED)
    picked = []
    for cls in range(int(labels.max()) + 1):
        idx = np.flatnonzero(labels == cls)
        n_test = int(round(DIGITS_TEST_FRACTION * len(idx)))
        picked.append(idx[rng.permutation(len(idx))[:n_test]])
    return np.sort(np.concatenate(picked))


def _load_idx_pair(info: DatasetInfo, folder: Path, split: str, verify: Verify) -> tuple[torch.Tensor, torch.Tensor]:
    prefix = "train" if split == "train" else "t10k"
    arrays = []
    for kind in ("images", "labels"):
        name = next(n for n in IDX_NAMES if n.startswith(f"{prefix}-{kind}"))
        spec = next(f for f in info.files if f.name == name)
        path = folder / name
        raw = path.read_bytes()
        expected = expected_md5(name, spec.md5, verify)
        data = maybe_decompress(raw, str(path))
        if expected is not None:
            actual = hashlib.md5(raw, usedforsecurity=False).hexdigest()
            repacked = (
                verify is True
                and spec.payload_md5 is not None
                and hashlib.md5(data, usedforsecurity=False).hexdigest() == spec.payload_md5
            )
            if actual != expected and not repacked:
                raise DatasetIntegrityError(
                    f"{path} has md5 {actual}, expected {expected} (the official {info.name} file): it is "
                    f"damaged, truncated or not the official file. Delete it and fetch it again "
                    f"(`cnnlab data download {info.name.split('[')[0]}`, or from {info.homepage}), "
                    "or pass verify=False to load it unchecked"
                )
        arrays.append(parse_idx(data, str(path)))
    images, labels = arrays
    if images.ndim != 3 or images.dtype != np.uint8 or labels.ndim != 1 or labels.dtype != np.uint8:
        raise DatasetIntegrityError(
            f"{folder}: expected uint8 images N x H x W and uint8 labels N, got {images.dtype} "
            f"{images.shape} and {labels.dtype} {labels.shape}"
        )
    if len(images) != len(labels):
        raise DatasetIntegrityError(f"{folder}: {len(images)} {split} images but {len(labels)} labels")
    if len(labels) and int(labels.max()) >= info.num_classes:
        raise DatasetIntegrityError(
            f"{folder}: label {int(labels.max())} is out of range for {info.num_classes} classes"
        )
    return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def _text_keys(obj: Mapping[Any, Any]) -> dict[str, Any]:
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _names(values: Sequence[Any]) -> tuple[str, ...]:
    return tuple(v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values)


def _load_cifar(
    info: DatasetInfo, folder: Path, split: str, verify: Verify
) -> tuple[torch.Tensor, torch.Tensor, dict, DatasetInfo]:
    label_key = "labels" if info.name == "cifar10" else "fine_labels"
    meta_spec = next(f for f in info.files if f.split is None)
    fix = (
        f"Delete it and fetch {info.archives[0].filename} again (`cnnlab data download {info.name.split('[')[0]}`), "
        "or pass verify=False to load it unchecked"
    )
    check_md5(folder / meta_spec.name, expected_md5(meta_spec.name, meta_spec.md5, verify), fix=fix)
    meta = load_pickle(folder / meta_spec.name)
    if not isinstance(meta, Mapping):
        raise DatasetIntegrityError(f"{folder / meta_spec.name} holds {type(meta).__name__}, expected a dict")
    meta = _text_keys(meta)
    names_key = "label_names" if info.name == "cifar10" else "fine_label_names"
    if names_key not in meta:
        raise DatasetIntegrityError(f"{folder / meta_spec.name} has no {names_key!r} (keys: {sorted(meta)})")
    classes = _names(meta[names_key])
    datas, labels, coarse = [], [], []
    for spec in (f for f in info.files if f.split == split):
        path = folder / spec.name
        check_md5(path, expected_md5(spec.name, spec.md5, verify), fix=fix)
        batch = load_pickle(path)
        if not isinstance(batch, Mapping):
            raise DatasetIntegrityError(f"{path} holds {type(batch).__name__}, expected a dict")
        batch = _text_keys(batch)
        data = batch.get("data")
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
            got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
            raise DatasetIntegrityError(
                f"{path}: 'data' must be a uint8 array N x 3072 (3 x 32 x 32 per row), got {got}"
            )
        if label_key not in batch or len(batch[label_key]) != len(data):
            raise DatasetIntegrityError(f"{path}: expected {len(data)} {label_key!r}, keys are {sorted(batch)}")
        datas.append(data)
        labels.append(np.asarray(batch[label_key], dtype=np.int64))
        if "coarse_labels" in batch:
            coarse.append(np.asarray(batch["coarse_labels"], dtype=np.int64))
    y = np.concatenate(labels)
    if len(y) and (y.min() < 0 or y.max() >= len(classes)):
        raise DatasetIntegrityError(f"{folder}: labels span {y.min()}..{y.max()} but meta names {len(classes)} classes")
    x = torch.from_numpy(np.concatenate(datas).reshape(-1, 3, 32, 32))
    extras = {"coarse_labels": torch.from_numpy(np.concatenate(coarse))} if coarse else {}
    return x, torch.from_numpy(y), extras, dataclasses.replace(info, classes=classes, num_classes=len(classes))


def _list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def _load_tiny(
    info: DatasetInfo, root: Path, split: str, verify: Verify
) -> tuple[list[tuple[str, int]], tuple[str, ...], DatasetInfo]:
    wnids = [line.strip() for line in (root / "wnids.txt").read_text().splitlines() if line.strip()]
    classes = tuple(sorted(wnids))
    if verify is not False and len(classes) != info.num_classes:
        raise DatasetIntegrityError(
            f"{root / 'wnids.txt'} lists {len(classes)} classes, expected {info.num_classes}; pass verify=False "
            "for a subset"
        )
    index = {w: i for i, w in enumerate(classes)}
    words = {}
    if (root / "words.txt").is_file():
        for line in (root / "words.txt").read_text(encoding="utf-8", errors="replace").splitlines():
            wnid, _, text = line.partition("\t")
            if wnid in index:
                words[wnid] = text.strip()
    samples: list[tuple[str, int]] = []
    if split == "train":
        for wnid in classes:
            folder = root / "train" / wnid / "images"
            if not folder.is_dir():
                raise DatasetNotFoundError(f"{folder} is missing: every wnid of wnids.txt needs train/<wnid>/images/")
            samples += [(str(p), index[wnid]) for p in _list_images(folder)]
    elif split == "val":
        annotations = root / "val" / "val_annotations.txt"
        if not annotations.is_file():
            raise DatasetNotFoundError(
                f"{annotations} is missing: Tiny ImageNet's val labels come from it (lines "
                "'val_0.JPEG<TAB>wnid<TAB>x0<TAB>y0<TAB>x1<TAB>y1'); re-extract tiny-imagenet-200.zip"
            )
        for n, line in enumerate(annotations.read_text().splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) < 2 or parts[1] not in index:
                raise DatasetIntegrityError(
                    f"{annotations}:{n}: expected 'file<TAB>wnid ...' with a wnid of wnids.txt, got {line!r}"
                )
            path = root / "val" / "images" / parts[0]
            if not path.is_file():
                raise DatasetNotFoundError(f"{path} (named in {annotations}:{n}) is missing")
            samples.append((str(path), index[parts[1]]))
    else:
        folder = root / "test" / "images"
        if not folder.is_dir():
            raise DatasetNotFoundError(f"{folder} is missing")
        samples = [(str(p), -1) for p in _list_images(folder)]
    names = tuple(words.get(w, w) for w in classes)
    notes = (*info.notes, "class names (words.txt): " + "; ".join(names[:5]) + (" ..." if len(names) > 5 else ""))
    return samples, classes, dataclasses.replace(info, classes=classes, num_classes=len(classes), notes=notes)


def _load_folder(info: DatasetInfo, data_dir: Any, split: str) -> tuple[Path, list[tuple[str, int]], tuple[str, ...]]:
    if data_dir is None:
        raise ConfigError(f"{info.name} needs data_dir (--data-dir DIR): {info.layout}")
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DatasetNotFoundError(f"{info.name}: data_dir {root} is not a folder. Layout: {info.layout}")
    split_dirs = [root / s for s in ("train", "val", "test") if (root / s).is_dir()]
    if (root / split).is_dir():
        folder = root / split
    elif not split_dirs and split == "train":
        folder = root  # a single root/<class>/<image> tree
    else:
        raise DatasetNotFoundError(
            f"{info.name}: {root} has no {split!r} sub-folder (found {[p.name for p in split_dirs] or 'none'}). "
            f"Layout: {info.layout}; or pass the split's own folder as --data-dir"
        )
    classes = tuple(sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".")))
    samples = []
    for label, cls in enumerate(classes):
        for dirpath, dirnames, filenames in os.walk(folder / cls, followlinks=True):
            dirnames.sort()
            samples += [
                (os.path.join(dirpath, f), label) for f in sorted(filenames) if f.lower().endswith(IMAGE_EXTENSIONS)
            ]
    if not samples:
        raise DatasetNotFoundError(
            f"{info.name}: found no images (.png, .jpg, ... any Pillow reads) in class folders under {folder}. "
            f"Layout: {info.layout}"
        )
    return folder, samples, classes


def load_dataset(
    name: str = "digits",
    split: str = "train",
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    image_size: int | Sequence[int] | None = None,
    *,
    verify: Verify = True,
    resize: str = "bilinear",
    mirrors: Sequence[str] | None = None,
    progress: bool = False,
) -> ImageTensors | FolderImages:
    """One split of a dataset, from its official files.

    ``data_dir`` may name the folder that holds the files or a root above it (see each
    :func:`dataset_info`'s ``layout``); without it ``$CNNLAB_DATA/<name>``,
    ``~/.cache/cnnlab/data/<name>`` and system locations (Debian's Fashion-MNIST) are
    searched. Every official file is checked against its md5: ``verify=False`` skips the
    checks, a mapping ``{file name: md5}`` replaces expected values (tests on small files).
    ``download=True`` fetches missing archives (``mirrors`` replaces the official base URLs;
    ``progress`` shows a bar per file).

    ``image_size`` resizes in-memory sets (``resize="bilinear"``, or ``"pad"`` to centre the
    images in a zero field as LeNet-5 does with MNIST); for folder sets it is the crop size
    :func:`folder_loader` uses. Digits default to 32x32.
    """
    key = canonical_name(name)
    info = dataset_info(key)
    if info.class_subset is not None:
        full = load_dataset(
            split_subset(key)[0],
            split,
            data_dir,
            download,
            image_size,
            verify=verify,
            resize=resize,
            mirrors=mirrors,
            progress=progress,
        )
        return select_classes(full, info)
    _check_split(info, split)
    size = _size_pair(image_size, key)

    if key == "digits":
        images, labels = _load_digits(info, split)
        images = resize_images(images, size or (32, 32), resize)
        return ImageTensors(images, labels, info)
    if key in ("mnist", "fashion-mnist"):
        prefix = "train" if split == "train" else "t10k"
        required = [n for n in IDX_NAMES if n.startswith(prefix)]
        try:
            folder = _locate(info, data_dir, required, verify, download, mirrors, progress)
        except DatasetNotFoundError as err:
            raise DatasetNotFoundError(str(err).replace(", ".join(required), ", ".join(IDX_NAMES), 1)) from None
        images, labels = _load_idx_pair(info, folder, split, verify)
        if size is not None:
            images = resize_images(images, size, resize)
        return ImageTensors(images, labels, info)
    if key in ("cifar10", "cifar100"):
        required = [f.name for f in info.files if f.split in (split, None)]
        folder = _locate(info, data_dir, required, verify, download, mirrors, progress)
        images, labels, extras, info = _load_cifar(info, folder, split, verify)
        if size is not None:
            images = resize_images(images, size, resize)
        return ImageTensors(images, labels, info, extras)
    if key == "tiny-imagenet":
        folder = _locate(info, data_dir, ["wnids.txt", split], verify, download, mirrors, progress)
        samples, classes, info = _load_tiny(info, folder, split, verify)
        return FolderImages(samples, classes, info, image_size=size, root=folder)
    # imagenet, imagefolder
    if download:
        download_dataset(key, data_dir)  # raises with the reason
    folder, samples, classes = _load_folder(info, data_dir, split)
    if key == "imagenet" and verify is not False and len(classes) != info.num_classes:
        raise DatasetIntegrityError(
            f"imagenet: {folder} has {len(classes)} class folders, expected 1000; use the name "
            "'imagefolder' for a subset, or pass verify=False"
        )
    info = dataclasses.replace(info, classes=classes, num_classes=len(classes), num_samples=((split, len(samples)),))
    return FolderImages(samples, classes, info, image_size=size, root=folder)
