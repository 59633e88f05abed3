"""Downloads, tested offline against file:// mirrors that the tests write."""

import pytest

from cnnlab.data import DownloadError, download_dataset, load_dataset, md5sum
from cnnlab.errors import ConfigError
from tests.data.fakes import make_tar, write_cifar10, write_mnist


def test_mnist_download_from_a_mirror_then_load(tmp_path):
    md5s = write_mnist(tmp_path / "mirror")
    folder = download_dataset("mnist", tmp_path / "data", mirrors=[(tmp_path / "mirror").as_uri()], verify=md5s)
    assert folder == tmp_path / "data" / "mnist"
    assert {p.name for p in folder.iterdir()} == set(md5s)  # no temporary files left
    assert all(md5sum(folder / n) == m for n, m in md5s.items())
    assert len(load_dataset("mnist", data_dir=tmp_path / "data", verify=md5s)) == 20


def test_load_dataset_downloads_when_asked(tmp_path, monkeypatch):
    md5s = write_mnist(tmp_path / "mirror")
    monkeypatch.setenv("CNNLAB_DATA", str(tmp_path / "cache"))
    data = load_dataset("mnist", "test", download=True, mirrors=[(tmp_path / "mirror").as_uri() + "/"], verify=md5s)
    assert len(data) == 10 and (tmp_path / "cache" / "mnist" / "t10k-images-idx3-ubyte.gz").is_file()


def test_a_download_with_the_wrong_md5_is_not_kept(tmp_path):
    write_mnist(tmp_path / "mirror")
    with pytest.raises(DownloadError) as err:
        download_dataset("mnist", tmp_path / "data", mirrors=[(tmp_path / "mirror").as_uri()])
    msg = str(err.value)
    assert "train-images-idx3-ubyte.gz" in msg and "expected f68b3c2dcbeaaa9fbdd348bbdeb94873" in msg
    assert list((tmp_path / "data" / "mnist").iterdir()) == []  # neither the file nor a .part


def test_unreachable_mirrors_are_all_named(tmp_path):
    with pytest.raises(DownloadError) as err:
        download_dataset("mnist", tmp_path, mirrors=[(tmp_path / "nowhere").as_uri(), (tmp_path / "gone").as_uri()])
    assert "nowhere" in str(err.value) and "gone" in str(err.value) and "retry when online" in str(err.value)


def test_cifar_archive_download_and_extract(tmp_path):
    src = tmp_path / "src" / "cifar-10-batches-py"
    md5s = write_cifar10(src)
    (tmp_path / "mirror").mkdir()
    md5s["cifar-10-python.tar.gz"] = make_tar(
        tmp_path / "mirror" / "cifar-10-python.tar.gz", src, "cifar-10-batches-py"
    )
    data = load_dataset(
        "cifar10",
        "test",
        data_dir=tmp_path / "data",
        download=True,
        mirrors=[(tmp_path / "mirror").as_uri()],
        verify=md5s,
    )
    assert len(data) == 6
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]


def test_datasets_without_archives_cannot_download(tmp_path):
    with pytest.raises(ConfigError, match="digits cannot be downloaded"):
        download_dataset("digits", tmp_path)
