"""MNIST and Fashion-MNIST: the official IDX files, found, checked and parsed."""

import gzip
import shutil

import numpy as np
import pytest
import torch

from cnnlab.data import (
    DatasetIntegrityError,
    DatasetNotFoundError,
    ImageTensors,
    dataset_info,
    load_dataset,
)
from cnnlab.data.catalog import IDX_NAMES
from tests.data.fakes import SHARED_DATA, write_mnist


def test_fake_files_load_from_the_folder_itself_and_from_roots(tmp_path):
    md5s = write_mnist(tmp_path / "mnist")
    for data_dir in (tmp_path / "mnist", tmp_path):  # the folder, or a root holding mnist/
        train = load_dataset("mnist", "train", data_dir=data_dir, verify=md5s)
        assert isinstance(train, ImageTensors)
        assert train.images.shape == (20, 1, 28, 28) and train.images.dtype == torch.uint8
        assert train.labels.dtype == torch.int64 and train.labels.tolist() == [i % 10 for i in range(20)]
    assert len(load_dataset("mnist", "test", data_dir=tmp_path, verify=md5s)) == 10


def test_torchvision_raw_layout_is_found(tmp_path):
    md5s = write_mnist(tmp_path / "FashionMNIST" / "raw")
    data = load_dataset("fashion-mnist", "test", data_dir=tmp_path, verify=md5s)
    assert data.info.classes[0] == "T-shirt/top" and len(data) == 10


def test_default_roots_are_searched(tmp_path, monkeypatch):
    md5s = write_mnist(tmp_path / "env" / "mnist")
    monkeypatch.setenv("CNNLAB_DATA", str(tmp_path / "env"))
    assert len(load_dataset("mnist", verify=md5s)) == 20


def test_md5_mismatch_names_file_expected_actual_and_fix(tmp_path):
    md5s = write_mnist(tmp_path)
    with pytest.raises(DatasetIntegrityError) as err:
        load_dataset("mnist", data_dir=tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "train-images-idx3-ubyte.gz") in msg
    assert "expected f68b3c2dcbeaaa9fbdd348bbdeb94873" in msg
    assert f"has md5 {md5s['train-images-idx3-ubyte.gz']}" in msg
    assert "verify=False" in msg and "cnnlab data download" in msg


def test_verify_false_skips_checks_explicitly(tmp_path):
    write_mnist(tmp_path)
    assert len(load_dataset("mnist", data_dir=tmp_path, verify=False)) == 20


def test_missing_files_list_the_four_names_the_folders_and_the_fix(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("mnist", "train", data_dir=tmp_path)
    msg = str(err.value)
    for name in IDX_NAMES:
        assert name in msg
    assert str(tmp_path) in msg and str(tmp_path / "MNIST" / "raw") in msg
    assert "--data-dir DIR" in msg and "cnnlab data download" in msg
    assert isinstance(err.value, FileNotFoundError)


def test_missing_files_without_data_dir_name_the_default_places():
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("fashion-mnist")
    msg = str(err.value)
    assert ".cache/cnnlab/data/fashion-mnist" in msg and "/usr/share/datasets/fashion-mnist" in msg
    assert "apt-get install dataset-fashion-mnist" in msg


def test_inconsistent_files_are_refused(tmp_path):
    from cnnlab.data import write_idx

    write_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(3, dtype=np.uint8))
    with pytest.raises(DatasetIntegrityError, match="20 train images but 3 labels"):
        load_dataset("mnist", data_dir=tmp_path, verify=False)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.full(20, 10, dtype=np.uint8))
    with pytest.raises(DatasetIntegrityError, match="label 10 is out of range"):
        load_dataset("mnist", data_dir=tmp_path, verify=False)


def test_resize_and_pad(tmp_path):
    md5s = write_mnist(tmp_path)
    padded = load_dataset("mnist", data_dir=tmp_path, verify=md5s, image_size=32, resize="pad")
    plain = load_dataset("mnist", data_dir=tmp_path, verify=md5s)
    assert padded.images.shape == (20, 1, 32, 32)
    assert torch.equal(padded.images[:, :, 2:30, 2:30], plain.images)
    assert padded.images[:, :, :2].sum() == 0
    resized = load_dataset("mnist", data_dir=tmp_path, verify=md5s, image_size=(1, 14, 14))
    assert resized.images.shape == (20, 1, 14, 14) and resized.images.dtype == torch.uint8


def test_unknown_split_names_the_choices(tmp_path):
    from cnnlab.errors import ConfigError

    with pytest.raises(ConfigError, match="mnist has no split 'val'; choose one of train, test"):
        load_dataset("mnist", "val", data_dir=tmp_path)


# --------------------------------------------------------------------------- the real files

REAL = {name: SHARED_DATA / name for name in ("mnist", "fashion-mnist")}


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_real_files_load_with_official_checksums(name):
    if not all((REAL[name] / f).is_file() for f in IDX_NAMES):
        pytest.skip(f"{REAL[name]} does not hold the official {name} files (../shared/data of the repository)")
    train = load_dataset(name, "train", data_dir=REAL[name])  # md5 checked against the official values
    test = load_dataset(name, "test", data_dir=REAL[name].parent)
    assert train.images.shape == (60000, 1, 28, 28) and train.images.dtype == torch.uint8
    assert test.images.shape == (10000, 1, 28, 28)
    assert train.labels.dtype == torch.int64 and set(train.labels.unique().tolist()) == set(range(10))
    assert torch.bincount(test.labels).tolist() == (
        [1000] * 10 if name == "fashion-mnist" else [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    )
    # The documented statistics are those of the training images.
    x = train.images.to(torch.float64) / 255
    info = dataset_info(name)
    assert x.mean().item() == pytest.approx(info.mean[0], abs=5e-5)
    assert x.std(unbiased=False).item() == pytest.approx(info.std[0], abs=5e-5)


def test_recompressed_files_are_accepted_by_their_content(tmp_path):
    """Debian's dataset-fashion-mnist ships the official bytes recompressed (no file name in
    the gzip header): the .gz md5 differs, the decompressed md5 is the official data's."""
    src = REAL["fashion-mnist"]
    if not src.is_dir():
        pytest.skip(f"{src} is absent")
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / name).write_bytes(
            gzip.compress(gzip.decompress((src / name).read_bytes()), compresslevel=1, mtime=0)
        )
    data = load_dataset("fashion-mnist", "test", data_dir=tmp_path)
    assert data.images.shape == (10000, 1, 28, 28)
    # Altered content is still refused.
    raw = bytearray(gzip.decompress((src / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    raw[-1] = (raw[-1] + 1) % 10
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DatasetIntegrityError, match="t10k-labels-idx1-ubyte.gz has md5"):
        load_dataset("fashion-mnist", "test", data_dir=tmp_path)


def test_debian_location_is_searched(monkeypatch, tmp_path):
    import cnnlab.data.catalog as catalog

    src = REAL["fashion-mnist"]
    if not src.is_dir():
        pytest.skip(f"{src} is absent")
    fake_system = tmp_path / "usr-share-datasets-fashion-mnist"
    fake_system.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(src / name, fake_system / name)
    import dataclasses

    info = dataclasses.replace(catalog._CATALOG["fashion-mnist"], system_dirs=(str(fake_system),))
    monkeypatch.setitem(catalog._CATALOG, "fashion-mnist", info)
    assert len(load_dataset("fashion-mnist", "test")) == 10000
