import gzip

import numpy as np
import pytest

from cnnlab.data import DatasetIntegrityError, read_idx, write_idx
from cnnlab.data.idx import parse_idx


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_round_trip_images_and_labels(tmp_path, suffix):
    images = np.arange(3 * 28 * 28, dtype=np.uint32).reshape(3, 28, 28).astype(np.uint8)
    labels = np.array([7, 0, 9], dtype=np.uint8)
    write_idx(tmp_path / f"img{suffix}", images)
    write_idx(tmp_path / f"lab{suffix}", labels)
    raw = (tmp_path / f"img{suffix}").read_bytes()
    if suffix:
        assert raw[:2] == b"\x1f\x8b"
        raw = gzip.decompress(raw)
    assert raw[:4] == bytes([0, 0, 0x08, 3])  # MNIST's magic number 2051
    assert int.from_bytes(raw[4:8], "big") == 3 and int.from_bytes(raw[8:12], "big") == 28
    np.testing.assert_array_equal(read_idx(tmp_path / f"img{suffix}"), images)
    np.testing.assert_array_equal(read_idx(tmp_path / f"lab{suffix}"), labels)


def test_big_endian_types_are_read_natively(tmp_path):
    values = np.array([[1.5, -2.0], [3.25, 1e6]], dtype=np.float32)
    write_idx(tmp_path / "f.idx", values)
    out = read_idx(tmp_path / "f.idx")
    assert out.dtype == np.float32 and out.dtype.isnative
    np.testing.assert_array_equal(out, values)


def test_bad_magic_and_truncation_are_refused(tmp_path):
    with pytest.raises(DatasetIntegrityError, match="does not start with an IDX magic number"):
        parse_idx(b"\x01\x02\x08\x01" + b"\x00" * 8, "x")
    header = bytes([0, 0, 0x08, 1]) + (5).to_bytes(4, "big")
    with pytest.raises(DatasetIntegrityError, match=r"shape \(5,\) \(5 bytes of data\) but the file holds 3"):
        parse_idx(header + b"abc", "x")
    (tmp_path / "t.gz").write_bytes(gzip.compress(header + b"abcde")[:-6])
    with pytest.raises(DatasetIntegrityError, match="not a valid gzip file"):
        read_idx(tmp_path / "t.gz")
