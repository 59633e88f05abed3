"""The IDX format of MNIST and Fashion-MNIST, read with NumPy.

From http://yann.lecun.com/exdb/mnist/ ("FILE FORMATS FOR THE MNIST DATABASE"): a magic
number of four bytes (two zero bytes, a type code, the number of dimensions), then one
big-endian 32-bit size per dimension, then the values in C order, big-endian.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from .errors import DatasetIntegrityError

# Type code (third magic byte) -> big-endian NumPy dtype.
IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The file's content, decompressed when it is gzip (by its first two bytes)."""
    return maybe_decompress(Path(path).read_bytes(), str(path))


def maybe_decompress(raw: bytes, source: str = "<bytes>") -> bytes:
    """``raw`` decompressed when it starts with the gzip magic bytes, else unchanged."""
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise DatasetIntegrityError(
            f"{source} is not a valid gzip file ({err}); it is truncated or damaged: delete it and "
            "fetch the official file again"
        ) from None


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """An IDX byte string as an array of its stored shape, in native byte order."""
    if len(data) < 4:
        raise DatasetIntegrityError(f"{source} holds {len(data)} bytes, too few for an IDX header")
    if data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES:
        raise DatasetIntegrityError(
            f"{source} does not start with an IDX magic number (got bytes {data[:4].hex()}; "
            f"expected 0000 then a type code among {[hex(t) for t in IDX_TYPES]} and a dimension "
            "count): it is not an IDX file"
        )
    dtype, ndim = IDX_TYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DatasetIntegrityError(f"{source}: IDX header announces {ndim} dimensions but the file ends first")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise DatasetIntegrityError(
            f"{source}: IDX header announces shape {shape} ({expected} bytes of data) but the file "
            f"holds {len(data) - header}; it is truncated or damaged"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """An IDX file (plain or gzip) as a NumPy array; ``uint8`` data is returned read-only."""
    return parse_idx(read_bytes(path), str(path))


def write_idx(path: str | os.PathLike[str], array: np.ndarray, *, compress: bool | None = None) -> None:
    """Write ``array`` as IDX (gzip when ``compress`` or the name ends in ``.gz``).

    The tests write small MNIST-format files with it; it is also the inverse of
    :func:`read_idx`.
    """
    path = Path(path)
    codes = {dt: code for code, dt in IDX_TYPES.items()}
    dtype = np.dtype(array.dtype).newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    if dtype not in codes:
        raise ValueError(f"IDX has no type code for dtype {array.dtype}; use one of {sorted(map(str, codes))}")
    header = bytes([0, 0, codes[dtype], array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    data = header + np.ascontiguousarray(array, dtype=dtype).tobytes()
    if compress or (compress is None and path.suffix == ".gz"):
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
