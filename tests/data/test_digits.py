import numpy as np
import pytest
import torch

from cnnlab.data import channel_stats, dataset_info, load_dataset
from cnnlab.data.datasets import _digits_arrays, digits_test_indices


def test_split_sizes_stratified_and_disjoint():
    train, test = load_dataset("digits"), load_dataset("digits", "test")  # "train" is the default split
    assert (len(train), len(test)) == (1438, 359) == (dataset_info("digits").split_size("train"), 359)
    _, labels = _digits_arrays()
    idx = digits_test_indices(labels)
    assert len(np.unique(idx)) == 359
    counts = np.bincount(labels[idx], minlength=10)
    totals = np.bincount(labels, minlength=10)
    assert np.all(np.abs(counts - 0.2 * totals) <= 0.5)  # round(0.2 n) per class
    assert torch.equal(torch.bincount(test.labels, minlength=10), torch.from_numpy(counts))


def test_split_is_deterministic():
    a, b = load_dataset("digits", "test"), load_dataset("digits", "test")
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    # Pinned: the first test images never change.
    assert digits_test_indices(_digits_arrays()[1])[:8].tolist() == [3, 7, 13, 19, 36, 38, 43, 48]


def test_images_are_32x32_uint8_by_default_and_resizable():
    train = load_dataset("digits")
    assert train.images.shape == (1438, 1, 32, 32) and train.images.dtype == torch.uint8
    assert train.images.max() == 255 and train.images.min() == 0
    small = load_dataset("digits", image_size=8)  # no resize: the 0..16 values scaled to 0..255
    images, labels = _digits_arrays()
    keep = np.ones(len(labels), dtype=bool)
    keep[digits_test_indices(labels)] = False
    np.testing.assert_array_equal(small.images[:, 0].numpy(), np.rint(images[keep] * 255 / 16).astype(np.uint8))
    assert load_dataset("digits", image_size=(28, 28)).images.shape == (1438, 1, 28, 28)


def test_documented_statistics_are_the_training_splits():
    mean, std = channel_stats(load_dataset("digits").images)
    info = dataset_info("digits")
    assert mean[0] == pytest.approx(info.mean[0], abs=5e-5) and std[0] == pytest.approx(info.std[0], abs=5e-5)


def test_bad_image_size_names_the_value():
    from cnnlab.errors import ConfigError

    with pytest.raises(ConfigError, match=r"image_size for digits must be a positive int.*got \(0, 5\)"):
        load_dataset("digits", image_size=(0, 5))
