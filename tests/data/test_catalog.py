import re

import pytest

from cnnlab.data import dataset_info, list_datasets
from cnnlab.errors import ConfigError


def test_every_dataset_is_listed():
    assert list_datasets() == [
        "digits",
        "mnist",
        "fashion-mnist",
        "cifar10",
        "cifar100",
        "tiny-imagenet",
        "imagenet",
        "imagefolder",
    ]


@pytest.mark.parametrize("name", list_datasets())
def test_info_is_complete(name):
    info = dataset_info(name)
    assert info.name == name
    assert len(info.mean) == len(info.std) and all(s > 0 for s in info.std)
    if info.image_size is not None:
        assert len(info.image_size) == 3 and info.image_size[0] == len(info.mean)
    if info.classes:
        assert len(info.classes) == info.num_classes == len(set(info.classes))
    for f in info.files:
        assert re.fullmatch(r"[0-9a-f]{32}", f.md5), f
    for a in info.archives:
        assert re.fullmatch(r"[0-9a-f]{32}", a.md5) and a.urls and all(u.startswith("http") for u in a.urls)
    assert info.stats_source and info.layout


def test_official_checksums_are_torchvisions():
    # torchvision/datasets/mnist.py and cifar.py hold the same values.
    assert {f.name: f.md5 for f in dataset_info("mnist").files}[
        "train-images-idx3-ubyte.gz"
    ] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert {f.name: f.md5 for f in dataset_info("cifar10").files}["data_batch_1"] == "c99cafc152244af753f735de768cd75f"
    assert dataset_info("cifar10").archives[0].md5 == "c58f30108f718f92721af3b95e74349a"
    assert dataset_info("cifar100").archives[0].md5 == "eb9058c3a382ffc7106e4002c42a8d85"
    assert (
        dataset_info("mnist").archives[0].urls[0]
        == "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz"
    )


def test_names_are_forgiving_and_unknown_names_suggest():
    assert dataset_info("Fashion_MNIST").name == "fashion-mnist"
    assert dataset_info("CIFAR-10").name == "cifar10"
    with pytest.raises(ConfigError, match=r"unknown dataset 'minst' \(did you mean 'mnist'\?\); choose one of digits"):
        dataset_info("minst")
