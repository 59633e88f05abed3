"""Small datasets written in the official on-disk formats, for the loaders' tests."""

from __future__ import annotations

import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np

from cnnlab.data import md5sum, write_idx
from cnnlab.data.catalog import IDX_NAMES

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"


def write_mnist(folder: Path, n_train: int = 20, n_test: int = 10, seed: int = 0) -> dict[str, str]:
    """The four IDX files of an MNIST-format set; returns {file name: md5}."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", (np.arange(n) % 10).astype(np.uint8))
    return {name: md5sum(folder / name) for name in IDX_NAMES}


def cifar_arrays(n: int, seed: int = 0) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 3072), dtype=np.uint8), [int(i % 10) for i in range(n)]


def write_cifar10(folder: Path, per_batch: int = 4, test: int = 6) -> dict[str, str]:
    """cifar-10-batches-py with tiny batches (Python 3 pickles, bytes keys as with
    ``encoding="bytes"``); returns {file name: md5}."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, 6):
        data, labels = cifar_arrays(per_batch, seed=i)
        _dump(
            folder / f"data_batch_{i}",
            {
                b"batch_label": f"training batch {i} of 5".encode(),
                b"labels": labels,
                b"data": data,
                b"filenames": [f"img_{i}_{k}.png".encode() for k in range(per_batch)],
            },
        )
    data, labels = cifar_arrays(test, seed=9)
    _dump(folder / "test_batch", {b"batch_label": b"testing batch 1 of 1", b"labels": labels, b"data": data})
    names = [
        c.encode() for c in ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    ]
    _dump(folder / "batches.meta", {b"label_names": names, b"num_cases_per_batch": per_batch, b"num_vis": 3072})
    return {p.name: md5sum(p) for p in folder.iterdir()}


def write_cifar100(folder: Path, train: int = 8, test: int = 4) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for name, n in (("train", train), ("test", test)):
        _dump(
            folder / name,
            {
                b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                b"fine_labels": [int(v) for v in rng.integers(0, 100, n)],
                b"coarse_labels": [int(v) for v in rng.integers(0, 20, n)],
            },
        )
    _dump(
        folder / "meta",
        {
            b"fine_label_names": [f"class{i}".encode() for i in range(100)],
            b"coarse_label_names": [f"super{i}".encode() for i in range(20)],
        },
    )
    return {p.name: md5sum(p) for p in folder.iterdir()}


def _dump(path: Path, obj: object) -> None:
    path.write_bytes(pickle.dumps(obj, protocol=4))


class Py2StylePickler(pickle._Pickler):  # type: ignore[name-defined]
    """Writes ``bytes`` as Python 2 ``str`` (BINSTRING opcodes) and names NumPy's
    reconstructor ``numpy.core.multiarray``, as the official CIFAR batches (pickled by
    Python 2 and NumPy 1) do."""

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str

    def save_global(self, obj: object, name: str | None = None) -> None:
        if getattr(obj, "__name__", None) == "_reconstruct":
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)


def py2_pickle(obj: object) -> bytes:
    buf = io.BytesIO()
    Py2StylePickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def make_tar(archive: Path, folder: Path, arcname: str) -> str:
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(folder, arcname=arcname)
    return md5sum(archive)


def write_image(path: Path, size: tuple[int, int], seed: int, mode: str = "RGB") -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    channels = 3 if mode == "RGB" else 1
    arr = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.squeeze(-1) if channels == 1 else arr, mode).save(path)


WNIDS = ("n02124075", "n01443537", "n04067472")


def write_tiny_imagenet(root: Path, per_class: int = 2, val: int = 4, test: int = 2) -> Path:
    """A tiny-imagenet-200 tree with three classes (wnids.txt in a non-sorted order, as the
    official file is); one greyscale JPEG among them, as the official set has."""
    base = root / "tiny-imagenet-200"
    base.mkdir(parents=True)
    (base / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    (base / "words.txt").write_text(
        "n00001740\tentity\nn01443537\tgoldfish, Carassius auratus\nn02124075\tEgyptian cat\nn04067472\treel\n"
    )
    seed = 0
    for wnid in WNIDS:
        for k in range(per_class):
            seed += 1
            mode = "L" if seed == 1 else "RGB"
            write_image(base / "train" / wnid / "images" / f"{wnid}_{k}.JPEG", (64, 64), seed, mode)
        (base / "train" / wnid / f"{wnid}_boxes.txt").write_text("")
    lines = []
    for k in range(val):
        write_image(base / "val" / "images" / f"val_{k}.JPEG", (64, 64), 100 + k)
        lines.append(f"val_{k}.JPEG\t{WNIDS[k % len(WNIDS)]}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    for k in range(test):
        write_image(base / "test" / "images" / f"test_{k}.JPEG", (64, 64), 200 + k)
    return base
