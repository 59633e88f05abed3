"""``cnnlab data list|info|download``: where each dataset's files are, and the fix when not."""

import json

import pytest

from cnnlab.cli.main import main
from cnnlab.data import locate_dataset
from tests.data.fakes import SHARED_DATA, write_mnist


@pytest.fixture(autouse=True)
def _no_user_data(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.delenv("CNNLAB_DATA", raising=False)


def test_list_says_what_is_found(tmp_path):
    write_mnist(tmp_path / "mnist")
    lines: list[str] = []
    assert main(["data", "list", "--data-dir", str(tmp_path), "--format", "json"], print_fn=lines.append) == 0
    rows = {r["name"]: r for r in json.loads(lines[0])}
    assert rows["digits"]["found"] and rows["cifar10"]["found"] is None
    assert rows["mnist"]["found"] is None  # files of MNIST's names, but not the official ones (md5)
    lines.clear()
    assert main(["data", "list"], print_fn=lines.append) == 0
    assert any(line.startswith("imagenet") and "--data-dir" in line for line in "\n".join(lines).splitlines())


def test_info_lists_the_folders_searched_and_the_fix(tmp_path, capsys):
    lines: list[str] = []
    assert main(["data", "info", "cifar10", "--data-dir", str(tmp_path)], print_fn=lines.append) == 0
    text = "\n".join(lines)
    assert "files       not found" in text and str(tmp_path / "cifar-10-batches-py") in text
    assert "data_batch_1  md5 c99cafc152244af753f735de768cd75f" in text and "cnnlab data download" in text
    lines.clear()
    assert main(["data", "info", "mnist[5-9]", "--format", "json"], print_fn=lines.append) == 0
    info = json.loads(lines[0])
    assert info["classes"] == ["5", "6", "7", "8", "9"] and info["class_subset"] == [5, 6, 7, 8, 9]
    assert main(["data", "info", "mnist[9-5]"]) == 1 and "runs backwards" in capsys.readouterr().err


@pytest.mark.skipif(not (SHARED_DATA / "mnist" / "t10k-labels-idx1-ubyte.gz").is_file(), reason="../shared/data/mnist absent")
def test_download_from_a_mirror_and_find_it(tmp_path):
    # The shared official files serve as a file:// mirror: checked against the official md5s.
    lines: list[str] = []
    assert main(["data", "download", "mnist", "--data-dir", str(tmp_path), "--mirror", (SHARED_DATA / "mnist").as_uri()],
                print_fn=lines.append) == 0
    assert locate_dataset("mnist", tmp_path).folder == tmp_path / "mnist"
    # the same names in another dataset's folder are not taken for it
    location = locate_dataset("fashion-mnist", tmp_path / "mnist")
    assert location.folder is None and "not fashion-mnist's (md5 differs)" in location.note


def test_download_refuses_what_cannot_be_downloaded(tmp_path, capsys):
    assert main(["data", "download", "imagenet", "--data-dir", str(tmp_path)]) == 1
    assert "cannot be downloaded" in capsys.readouterr().err


def test_show_draws_each_class_from_its_own_images(tmp_path):
    from cnnlab.data import load_dataset
    from cnnlab.viz.data import sample_indices
    from tests.data.fakes import write_image

    data = load_dataset("digits[3,7]", "train")
    rows = sample_indices(data.labels, 4, 2, seed=1)
    assert [len(r) for r in rows] == [4, 4] and all(int(data.labels[i]) == c for c, r in enumerate(rows) for i in r)
    assert rows == sample_indices(data.labels, 4, 2, seed=1) != sample_indices(data.labels, 4, 2, seed=2)
    lines: list[str] = []
    out = tmp_path / "digits.png"
    assert main(["data", "show", "digits[3,7]", "--per-class", "4", "-o", str(out)], print_fn=lines.append) == 0
    assert out.read_bytes()[:4] == b"\x89PNG" and "digits[3,7]" in lines[0]
    for i, name in enumerate(("cat", "dog")):  # a folder set: images read from disk
        for k in range(2):
            write_image(tmp_path / "tree" / name / f"{k}.png", (20, 16), seed=10 * i + k)
    assert main(["data", "show", "imagefolder", "--data-dir", str(tmp_path / "tree"), "-o", str(tmp_path / "f.png")],
                print_fn=lines.append) == 0
    assert (tmp_path / "f.png").stat().st_size > 0
