"""Files on disk: where datasets are looked for, checksums, downloads, safe extraction and
a pickle reader that never runs code.

Every write lands in a temporary file (or folder) beside its target and is renamed into
place, so an interrupted download or extraction never leaves a half-written file under the
official name.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_output
from .errors import DatasetIntegrityError, DownloadError, UnsafePickleError

#: Environment variable naming the root folder of downloaded datasets.
DATA_ENV = "CNNLAB_DATA"

Verify = bool | Mapping[str, str]


def default_data_root() -> Path:
    """Where downloads go: ``$CNNLAB_DATA`` when set, else ``~/.cache/cnnlab/data``."""
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "cnnlab" / "data"


def default_roots() -> list[Path]:
    """The roots searched when no ``data_dir`` is given, in order."""
    roots = []
    env = os.environ.get(DATA_ENV)
    if env:
        roots.append(Path(env).expanduser())
    roots.append(Path.home() / ".cache" / "cnnlab" / "data")
    return roots


def md5sum(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    return _file_digest(path, hashlib.md5(usedforsecurity=False), chunk)


def sha256sum(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """The SHA-256 of a file, read in chunks (what a manifest records of the weights it used)."""
    return _file_digest(path, hashlib.sha256(), chunk)


def _file_digest(path: str | os.PathLike[str], digest: Any, chunk: int) -> str:
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def expected_md5(name: str, official: str | None, verify: Verify) -> str | None:
    """The md5 a file must have: the official one, an explicit override, or ``None`` when the
    caller turned checking off (``verify=False``)."""
    if verify is False:
        return None
    if verify is True:
        return official
    if isinstance(verify, Mapping):
        return verify.get(name, official)
    raise TypeError(f"verify must be True, False or a mapping of file name to md5, got {verify!r}")


def check_md5(path: Path, expected: str | None, *, fix: str) -> None:
    """Raise naming the file, the expected and the actual md5 when they differ."""
    if expected is None:
        return
    actual = md5sum(path)
    if actual != expected:
        raise DatasetIntegrityError(
            f"{path} has md5 {actual}, expected {expected} (the official file's checksum): the "
            f"file is damaged, truncated or not the official one. {fix}"
        )


# --------------------------------------------------------------------------- pickles


def _numpy_core() -> Any:
    # NumPy 2 renamed numpy.core to numpy._core; resolve the real module without touching
    # the deprecated alias (which warns).
    return getattr(np, "_core", None) or np.core  # pragma: no cover - depends on NumPy


def _allowed_globals() -> dict[tuple[str, str], Any]:
    core = _numpy_core()
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for mod in ("numpy.core", "numpy._core"):
        # The CIFAR batches (Python 2, NumPy 1) name numpy.core.multiarray._reconstruct;
        # pickles written by NumPy 2 name numpy._core; protocol 5 uses _frombuffer. All three
        # only build an array from bytes.
        allowed[(f"{mod}.multiarray", "_reconstruct")] = core.multiarray._reconstruct
        allowed[(f"{mod}.numeric", "_frombuffer")] = core.numeric._frombuffer
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles builtin containers, strings, numbers and NumPy arrays, and nothing else.

    Any other global (``os.system``, ``builtins.eval``, a class of some module ...) is
    refused before it is looked up, so a crafted file cannot run code.
    """

    def find_class(self, module: str, name: str) -> Any:
        obj = _allowed_globals().get((module, name))
        if obj is None:
            raise UnsafePickleError(
                f"refused to unpickle {module}.{name}: dataset pickles may only hold dicts, lists, "
                "strings, numbers and NumPy arrays. The file is not an official dataset batch; "
                "delete it and fetch the official archive again"
            )
        return obj


def load_pickle(path: Path) -> Any:
    """A dataset pickle, read with :class:`RestrictedUnpickler`.

    ``encoding="latin1"`` reads Python 2 pickles (the official CIFAR batches) the way NumPy
    documents for them: Python 2 ``str`` becomes ``str``, array bytes survive unchanged.
    """
    with open(path, "rb") as f:
        data = f.read()
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except UnsafePickleError as err:
        raise UnsafePickleError(f"{path}: {err}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise DatasetIntegrityError(
            f"{path} is not a readable pickle ({type(err).__name__}: {err}); the file is damaged "
            "or truncated: delete it and fetch the official archive again"
        ) from None


# --------------------------------------------------------------------------- downloads


def _fetch(url: str, target: Path, md5: str | None, progress: bool, timeout: float) -> None:
    """Stream ``url`` into a temporary file beside ``target``; rename it on a matching md5."""
    digest = hashlib.md5(usedforsecurity=False)
    with atomic_output(target, suffix=".part") as tmp:  # renamed only when complete and matching
        with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length") if response.headers else None
            total = int(length) if length and length.isdigit() else None
            bar = None
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=total, unit="B", unit_scale=True, desc=target.name)
            while block := response.read(1 << 20):
                out.write(block)
                digest.update(block)
                if bar is not None:
                    bar.update(len(block))
            if bar is not None:
                bar.close()
        if md5 is not None and digest.hexdigest() != md5:
            raise DownloadError(f"{url} delivered md5 {digest.hexdigest()}, expected {md5}")


def download_file(
    urls: Sequence[str], target: Path, md5: str | None, *, progress: bool = False, timeout: float = 60.0
) -> Path:
    """Fetch ``target`` from the first of ``urls`` that delivers it with the expected md5.

    A file already at ``target`` with the right md5 is kept as it is.
    """
    if target.is_file() and (md5 is None or md5sum(target) == md5):
        return target
    failures = []
    for url in urls:
        try:
            _fetch(url, target, md5, progress, timeout)
            return target
        except (urllib.error.URLError, OSError, DownloadError) as err:
            failures.append(f"{url}: {err}")
    raise DownloadError(
        f"could not download {target.name} into {target.parent}:\n  "
        + "\n  ".join(failures)
        + f"\nDownload it by hand into {target.parent}, or retry when online"
    )


def _check_member(root: Path, name: str) -> Path:
    dest = (root / name).resolve()
    if name.startswith(("/", "\\")) or not dest.is_relative_to(root.resolve()):
        raise DatasetIntegrityError(f"refused to extract {name!r}: it would land outside {root}")
    return dest


def extract_archive(archive: Path, dest_root: Path, top_folder: str) -> Path:
    """Unpack ``archive`` so that ``dest_root / top_folder`` appears whole or not at all.

    The archive is unpacked into a temporary folder inside ``dest_root`` (tar with the
    ``"data"`` filter, which refuses absolute paths, ``..`` and links leaving the folder; zip
    members checked the same way), then ``top_folder`` is renamed into place.
    """
    final = dest_root / top_folder
    if final.exists():
        return final
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest_root))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for member in zf.infolist():
                    _check_member(tmp, member.filename)
                zf.extractall(tmp)
        else:
            with tarfile.open(archive) as tf:
                try:
                    tf.extractall(tmp, filter="data")
                except tarfile.FilterError as err:
                    raise DatasetIntegrityError(
                        f"refused to extract {archive}: {err}. The archive is not the official one"
                    ) from None
        unpacked = tmp / top_folder
        if not unpacked.is_dir():
            found = sorted(p.name for p in tmp.iterdir())
            raise DatasetIntegrityError(
                f"{archive} does not contain the folder {top_folder!r} (found {found}); it is not the official archive"
            )
        os.replace(unpacked, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
