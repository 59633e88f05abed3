"""CIFAR-10/100: the official python batches, read without running code from them."""

import os
import pickle

import numpy as np
import pytest
import torch

from cnnlab.data import (
    DatasetIntegrityError,
    DatasetNotFoundError,
    RestrictedUnpickler,
    UnsafePickleError,
    load_dataset,
    load_pickle,
    md5sum,
)
from tests.data.fakes import (
    cifar_arrays,
    make_tar,
    py2_pickle,
    write_cifar10,
    write_cifar100,
)


def test_cifar10_batches_load_in_channel_major_order(tmp_path):
    write_cifar10(tmp_path / "cifar-10-batches-py")
    train = load_dataset("cifar10", "train", data_dir=tmp_path, verify=False)
    test = load_dataset("cifar10", "test", data_dir=tmp_path / "cifar-10-batches-py", verify=False)
    assert train.images.shape == (20, 3, 32, 32) and train.images.dtype == torch.uint8
    assert len(test) == 6 and test.labels.tolist() == [0, 1, 2, 3, 4, 5]
    data, _ = cifar_arrays(4, seed=1)  # data_batch_1 comes first
    # Each row is 1024 red, then 1024 green, then 1024 blue values, row-major.
    assert torch.equal(train.images[0, 1], torch.from_numpy(data[0, 1024:2048].reshape(32, 32)))
    assert train.info.classes[9] == "truck" and train.num_classes == 10


def test_cifar100_fine_labels_and_coarse_extras(tmp_path):
    write_cifar100(tmp_path / "cifar100" / "cifar-100-python")
    train = load_dataset("cifar100", data_dir=tmp_path, verify=False)
    assert train.images.shape == (8, 3, 32, 32) and train.num_classes == 100
    assert train.extras["coarse_labels"].shape == (8,) and train.info.classes[3] == "class3"


def test_official_checksums_are_checked_and_overridable(tmp_path):
    md5s = write_cifar10(tmp_path)
    with pytest.raises(DatasetIntegrityError) as err:
        load_dataset("cifar10", data_dir=tmp_path)
    assert "batches.meta has md5" in str(err.value) and "expected 5ff9c542aee3614f3951f8cda6e48888" in str(err.value)
    assert len(load_dataset("cifar10", data_dir=tmp_path, verify=md5s)) == 20
    wrong = {**md5s, "data_batch_3": "0" * 32}
    with pytest.raises(DatasetIntegrityError, match=f"data_batch_3 has md5 {md5s['data_batch_3']}, expected 0{{32}}"):
        load_dataset("cifar10", data_dir=tmp_path, verify=wrong)


def test_python2_pickles_as_the_official_files_are_read(tmp_path):
    """The official batches were pickled by Python 2 (str keys and raw bytes as py2 str,
    NumPy's reconstructor under numpy.core.multiarray)."""
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    data, labels = cifar_arrays(4, seed=1)
    (folder / "data_batch_1").write_bytes(
        py2_pickle({b"batch_label": b"training batch 1 of 5", b"labels": labels, b"data": data})
    )
    (folder / "batches.meta").write_bytes(py2_pickle({b"label_names": [b"airplane"] * 10, b"num_vis": 3072}))
    raw = (folder / "data_batch_1").read_bytes()
    assert b"numpy.core.multiarray\n_reconstruct" in raw and b"U\x04data" in raw  # SHORT_BINSTRING 'data'
    train = load_dataset("cifar10", data_dir=tmp_path, verify=False)
    assert torch.equal(train.images[:4].reshape(4, -1), torch.from_numpy(data))


def test_a_pickle_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(UnsafePickleError) as err:
        load_dataset("cifar10", data_dir=tmp_path, verify=False)
    assert "refused to unpickle posix.system" in str(err.value) and "data_batch_1" in str(err.value)
    assert not marker.exists()
    assert isinstance(err.value, pickle.UnpicklingError)


@pytest.mark.parametrize(
    "payload",
    [
        b"cbuiltins\neval\n(S'1+1'\ntR.",  # builtins.eval
        b"cnumpy\nload\n(S'x.npy'\ntR.",  # a numpy function outside the list
        b"ctorch\nload\n(S'x'\ntR.",
    ],
)
def test_only_listed_globals_are_allowed(tmp_path, payload):
    (tmp_path / "p").write_bytes(payload)
    with pytest.raises(UnsafePickleError, match="refused to unpickle"):
        load_pickle(tmp_path / "p")


def test_plain_data_passes_the_restricted_unpickler():
    import io

    obj = {"a": [1, 2.5, "x", b"y", (None, True)], "arr": np.arange(6, dtype=np.uint8).reshape(2, 3)}
    for protocol in (3, 4, 5):  # 5 builds arrays with numpy's _frombuffer
        out = RestrictedUnpickler(io.BytesIO(pickle.dumps(obj, protocol=protocol))).load()
        np.testing.assert_array_equal(out["arr"], obj["arr"])
        assert out["a"] == obj["a"]


def test_truncated_batch_gives_a_clear_error(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    raw = (folder / "data_batch_2").read_bytes()
    (folder / "data_batch_2").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DatasetIntegrityError, match="data_batch_2 is not a readable pickle.*truncated"):
        load_dataset("cifar10", data_dir=tmp_path, verify=False)


def test_wrong_array_shape_is_refused(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(DatasetIntegrityError, match=r"'data' must be a uint8 array N x 3072.*uint8 \(2, 100\)"):
        load_dataset("cifar10", "test", data_dir=tmp_path, verify=False)


def test_the_official_archive_is_unpacked_on_first_use(tmp_path):
    src = tmp_path / "src" / "cifar-10-batches-py"
    write_cifar10(src)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    md5 = make_tar(data_dir / "cifar-10-python.tar.gz", src, "cifar-10-batches-py")
    with pytest.raises(DatasetIntegrityError, match="cifar-10-python.tar.gz has md5"):
        load_dataset("cifar10", data_dir=data_dir)  # not the official archive
    assert not (data_dir / "cifar-10-batches-py").exists()
    checksums = {"cifar-10-python.tar.gz": md5, **{p.name: md5sum(p) for p in src.iterdir()}}
    train = load_dataset("cifar10", data_dir=data_dir, verify=checksums)
    assert len(train) == 20 and (data_dir / "cifar-10-batches-py" / "test_batch").is_file()
    assert [p.name for p in data_dir.iterdir() if p.name.startswith(".")] == []  # no temporary folder left


def test_archive_with_path_traversal_is_refused(tmp_path):
    import io
    import tarfile

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with tarfile.open(data_dir / "cifar-10-python.tar.gz", "w:gz") as tf:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(DatasetIntegrityError, match="refused to extract"):
        load_dataset("cifar10", data_dir=data_dir, verify=False)
    assert not (tmp_path / "escaped.txt").exists()


def test_missing_cifar_names_files_and_fix(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("cifar100", "test", data_dir=tmp_path)
    msg = str(err.value)
    assert (
        "test, meta" in msg
        and "cifar-100-python" in msg
        and "cnnlab data download cifar100" in msg
        and "cifar-100-python.tar.gz" in msg
    )
