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


@pytest.mark.skipif(
    not (SHARED_DATA / "mnist" / "t10k-labels-idx1-ubyte.gz").is_file(), reason="../shared/data/mnist absent"
)
def test_download_from_a_mirror_and_find_it(tmp_path):
    # The shared official files serve as a file:// mirror: checked against the official md5s.
    lines: list[str] = []
    assert (
        main(
            ["data", "download", "mnist", "--data-dir", str(tmp_path), "--mirror", (SHARED_DATA / "mnist").as_uri()],
            print_fn=lines.append,
        )
        == 0
    )
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
    assert (
        main(
            ["data", "show", "imagefolder", "--data-dir", str(tmp_path / "tree"), "-o", str(tmp_path / "f.png")],
            print_fn=lines.append,
        )
        == 0
    )
    assert (tmp_path / "f.png").stat().st_size > 0


def test_download_of_a_bundled_dataset_says_it_needs_none(tmp_path):
    lines: list[str] = []
    assert main(["data", "download", "digits", "--data-dir", str(tmp_path)], print_fn=lines.append) == 0
    assert lines == [
        "digits is bundled with scikit-learn and needs no download: use it as it is "
        "(cnnlab data show digits, cnnlab train lenet5 --dataset digits)"
    ]
    assert list(tmp_path.iterdir()) == []


def test_show_refuses_a_giant_grid_and_caps_at_the_largest_class(tmp_path, capsys):
    from cnnlab.data import load_dataset
    from cnnlab.errors import ConfigError
    from cnnlab.viz.data import per_class_shown, plot_samples
    from tests.data.fakes import write_image

    out = tmp_path / "d.png"
    assert main(["data", "show", "digits", "--per-class", "5000", "-o", str(out)]) == 1
    assert "--per-class 5000 must be 1 to 50" in capsys.readouterr().err and not out.exists()
    with pytest.raises(ConfigError, match="per_class=5000 must be 1 to 50"):
        plot_samples(load_dataset("digits", "test"), per_class=5000)
    for i, name in enumerate(("cat", "dog")):  # two images per class
        for k in range(2):
            write_image(tmp_path / "tree" / name / f"{k}.png", (20, 16), seed=10 * i + k)
    lines: list[str] = []
    assert (
        main(
            ["data", "show", "imagefolder", "--data-dir", str(tmp_path / "tree"), "--per-class", "30", "-o", str(out)],
            print_fn=lines.append,
        )
        == 0
    )
    assert (
        "2 random train images of each class" in lines[0] and "(--per-class 30 capped at the largest class)" in lines[0]
    )
    assert per_class_shown(load_dataset("imagefolder", "train", tmp_path / "tree"), 30) == 2
