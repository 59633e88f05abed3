"""Tiny ImageNet and image folders: read lazily from disk, fed by a DataLoader."""

import numpy as np
import pytest
import torch

from cnnlab.data import (
    DatasetIntegrityError,
    DatasetNotFoundError,
    FolderImages,
    dataset_info,
    folder_loader,
    load_dataset,
)
from cnnlab.errors import ConfigError
from tests.data.fakes import WNIDS, write_image, write_tiny_imagenet


@pytest.fixture
def tiny(tmp_path):
    write_tiny_imagenet(tmp_path)
    return tmp_path


def test_tiny_imagenet_splits(tiny):
    train = load_dataset("tiny-imagenet", "train", data_dir=tiny, verify=False)
    assert isinstance(train, FolderImages) and len(train) == 6
    assert train.classes == tuple(sorted(WNIDS))  # sorted, as ImageFolder orders train/
    assert sorted(train.targets) == [0, 0, 1, 1, 2, 2]
    image, label = train[0]
    assert image.mode == "RGB" and image.size == (64, 64)  # the greyscale JPEG comes back as RGB
    assert train.classes[label] == "n01443537"
    val = load_dataset("tiny-imagenet", "val", data_dir=tiny / "tiny-imagenet-200", verify=False)
    expected = [sorted(WNIDS).index(WNIDS[k % 3]) for k in range(4)]
    assert [label for _, label in val.samples] == expected
    test = load_dataset("tiny-imagenet", "test", data_dir=tiny, verify=False)
    assert len(test) == 2 and set(test.targets) == {-1}
    assert "goldfish" in " ".join(train.info.notes)


def test_tiny_imagenet_wants_200_classes_unless_told(tiny):
    with pytest.raises(DatasetIntegrityError, match="lists 3 classes, expected 200; pass verify=False"):
        load_dataset("tiny-imagenet", data_dir=tiny)


def test_tiny_imagenet_val_needs_its_annotations(tiny):
    (tiny / "tiny-imagenet-200" / "val" / "val_annotations.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match="val_annotations.txt is missing"):
        load_dataset("tiny-imagenet", "val", data_dir=tiny, verify=False)


def test_tiny_imagenet_missing(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("tiny-imagenet", data_dir=tmp_path)
    assert "wnids.txt" in str(err.value) and "tiny-imagenet-200.zip" in str(err.value)


def test_tiny_imagenet_zip_is_unpacked(tmp_path):
    import zipfile

    src = write_tiny_imagenet(tmp_path / "src")
    data = tmp_path / "data"
    data.mkdir()
    with zipfile.ZipFile(data / "tiny-imagenet-200.zip", "w") as zf:
        for path in src.rglob("*"):
            zf.write(path, path.relative_to(src.parent))
    assert len(load_dataset("tiny-imagenet", "val", data_dir=data, verify=False)) == 4


def test_zip_with_path_traversal_is_refused(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "tiny-imagenet-200.zip", "w") as zf:
        zf.writestr("../../escaped.txt", "bad")
    with pytest.raises(DatasetIntegrityError, match="refused to extract '../../escaped.txt'"):
        load_dataset("tiny-imagenet", data_dir=tmp_path, verify=False)


def _image_tree(root, classes=("cat", "dog"), per_class=3):
    for i, c in enumerate(classes):
        for k in range(per_class):
            write_image(root / c / f"{k}.png", (40, 30), seed=100 * i + k)


def test_imagefolder_with_splits(tmp_path):
    _image_tree(tmp_path / "train")
    _image_tree(tmp_path / "val", per_class=1)
    train = load_dataset("imagefolder", "train", data_dir=tmp_path)
    val = load_dataset("imagefolder", "val", data_dir=tmp_path)
    assert train.classes == ("cat", "dog") and len(train) == 6 and len(val) == 2
    assert train.info.num_classes == 2
    with pytest.raises(DatasetNotFoundError, match=r"no 'test' sub-folder \(found \['train', 'val'\]\)"):
        load_dataset("imagefolder", "test", data_dir=tmp_path)


def test_imagefolder_single_tree_is_the_train_split(tmp_path):
    _image_tree(tmp_path)
    assert len(load_dataset("imagefolder", data_dir=tmp_path)) == 6


def test_imagefolder_errors(tmp_path):
    with pytest.raises(ConfigError, match="imagefolder needs data_dir"):
        load_dataset("imagefolder")
    (tmp_path / "train" / "empty").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="found no images"):
        load_dataset("imagefolder", data_dir=tmp_path)


def test_imagenet_layout_checks_the_class_count(tmp_path):
    _image_tree(tmp_path / "train")
    with pytest.raises(DatasetIntegrityError, match="2 class folders, expected 1000"):
        load_dataset("imagenet", data_dir=tmp_path)
    assert dataset_info("imagenet").mean == (0.485, 0.456, 0.406)
    with pytest.raises(ConfigError, match="cannot be downloaded"):
        load_dataset("imagenet", data_dir=tmp_path, download=True)


def test_folder_loader_tiny_imagenet(tiny):
    train = load_dataset("tiny-imagenet", data_dir=tiny, verify=False)
    loader = folder_loader(train, 4, train=True, num_workers=0, seed=3)
    loader.set_epoch(1)
    first = list(loader)
    assert [tuple(x.shape) for x, _ in first] == [(4, 3, 64, 64), (2, 3, 64, 64)]
    again = list(loader)  # same epoch: same order and the same random crops and flips
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again))
    loader.set_epoch(2)
    assert not torch.equal(torch.cat([x for x, _ in loader]), torch.cat([x for x, _ in first]))
    # Evaluation: no augmentation, stored order, normalised with the dataset's statistics.
    val = load_dataset("tiny-imagenet", "val", data_dir=tiny, verify=False)
    x, y = next(iter(folder_loader(val, 4, train=False, num_workers=0)))
    img = torch.from_numpy(np.array(val[0][0])).permute(2, 0, 1).float() / 255
    mean = torch.tensor(val.info.mean).view(3, 1, 1)
    std = torch.tensor(val.info.std).view(3, 1, 1)
    torch.testing.assert_close(x[0], (img - mean) / std)
    assert y.tolist() == [label for _, label in val.samples[:4]]


def test_folder_loader_imagenet_style_and_shards(tmp_path):
    _image_tree(tmp_path, per_class=5)
    data = load_dataset("imagefolder", data_dir=tmp_path, image_size=24)
    shards = [folder_loader(data, 2, train=False, num_workers=0, rank=r, world_size=2) for r in range(2)]
    assert [len(s.sampler) for s in shards] == [5, 5]
    x, _ = next(iter(shards[0]))
    assert x.shape == (2, 3, 24, 24)  # resize to 24 / 0.875 then centre crop 24
    x, _ = next(iter(folder_loader(data, 3, train=True, num_workers=0)))
    assert x.shape == (3, 3, 24, 24)


def test_folder_loader_with_workers_matches_in_process(tiny):
    train = load_dataset("tiny-imagenet", data_dir=tiny, verify=False)
    a = torch.cat([x for x, _ in folder_loader(train, 3, True, num_workers=0, seed=5)])
    b = torch.cat([x for x, _ in folder_loader(train, 3, True, num_workers=2, seed=5)])
    assert torch.equal(a, b)


def test_folder_transform_follows_the_recipe_options(tmp_path):
    from torchvision import transforms as T

    from cnnlab.data import Augment, PCALighting, folder_transform

    _image_tree(tmp_path, per_class=2)
    data = load_dataset("imagefolder", data_dir=tmp_path, image_size=24)
    alexnet = folder_transform(data, True, image_size=24, resize_shorter=28, random_crop=True, pca_lighting=0.1)
    kinds = [type(t) for t in alexnet.transforms]
    assert kinds == [T.Resize, T.RandomCrop, T.RandomHorizontalFlip, T.ToTensor, PCALighting, T.Normalize]
    assert alexnet.transforms[0].size == 28
    inception = folder_transform(data, True, image_size=24, scale=(0.08, 1.0), hflip=False)
    assert [type(t) for t in inception.transforms] == [T.RandomResizedCrop, T.ToTensor, T.Normalize]
    assert inception.transforms[0].scale == (0.08, 1.0)
    ten = folder_transform(data, False, image_size=24, resize_shorter=28, crops=10)
    assert ten(data[0][0]).shape == (3, 28, 28)  # the centre square ten_crop cuts 24x24 crops from
    keras = folder_transform(data, True, image_size=24, augment=Augment(rotation=20, fill="zero"))
    assert "ImageAugment" in repr(keras)
    torch.manual_seed(0)
    a = keras(data[0][0])
    torch.manual_seed(0)
    assert torch.equal(a, keras(data[0][0]))


def test_pca_lighting_shifts_each_image_along_the_principal_components():
    from cnnlab.data import PCALighting
    from cnnlab.data.loaders import IMAGENET_PCA_EIGVEC

    image = torch.full((3, 4, 4), 0.5)
    assert torch.equal(PCALighting(0.0)(image), image)
    torch.manual_seed(1)
    shifted = PCALighting(0.1)(image)
    delta = shifted - image
    assert torch.allclose(delta, delta[:, :1, :1].expand_as(delta))  # one RGB offset for every pixel
    offset = delta[:, 0, 0]
    vec = torch.tensor(IMAGENET_PCA_EIGVEC)
    coeffs = torch.linalg.solve(vec, offset)  # offset = eigvec @ (alpha * eigval)
    assert torch.all(coeffs.abs() > 0) and offset.abs().max() < 0.2
    with pytest.raises(ConfigError, match="RGB"):
        PCALighting(0.1)(torch.zeros(1, 4, 4))
