"""What cnnlab knows about each dataset: classes, stored image size, channel statistics,
official files with their checksums, download URLs and citation.

Checksums and URLs are the ones torchvision's dataset classes use (``torchvision/datasets/
mnist.py`` and ``cifar.py``, torchvision 0.29); the Tiny ImageNet archive's md5 is the one
its common loaders check. Channel statistics are per-channel mean and standard deviation of
``pixel / 255`` over every pixel of the training split (population standard deviation);
``stats_source`` says how each was obtained.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass, field

from ..errors import ConfigError
from ..registry import CIFAR10_MEAN, CIFAR10_STD, IMAGENET_MEAN, IMAGENET_STD


@dataclass(frozen=True)
class OfficialFile:
    """One file of the official distribution, relative to the dataset's folder.

    ``payload_md5`` is the md5 of a gzip file's decompressed content: it identifies the same
    data recompressed by a packager (Debian's ``dataset-fashion-mnist`` stores the official
    IDX bytes in gzip files whose header lacks the original file name, so their own md5
    differs while the data is byte-identical).
    """

    name: str
    md5: str
    split: str | None = None  # "train", "test", or None for metadata
    payload_md5: str | None = None


@dataclass(frozen=True)
class Archive:
    """A downloadable file: fetched from the first URL that delivers it with ``md5``, then
    unpacked into ``extracts_to`` when that is set."""

    filename: str
    md5: str
    urls: tuple[str, ...]
    extracts_to: str | None = None


@dataclass(frozen=True)
class DatasetInfo:
    """The facts of one dataset.

    ``image_size`` is ``(C, H, W)`` as the files store it (``None`` when images vary);
    ``mean`` and ``std`` are per channel, in units of ``pixel / 255``. ``in_memory`` sets
    hold a few hundred MB at most and load as :class:`~cnnlab.data.ImageTensors`; the others
    are read from disk image by image.
    """

    name: str
    title: str
    num_classes: int
    classes: tuple[str, ...]
    image_size: tuple[int, int, int] | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    stats_source: str
    splits: tuple[str, ...]
    num_samples: tuple[tuple[str, int], ...]  # (split, count) of the official files
    files: tuple[OfficialFile, ...]
    archives: tuple[Archive, ...]
    folder_names: tuple[str, ...]  # sub-folders of a data root that may hold the files
    system_dirs: tuple[str, ...]  # folders a system package installs the files to
    layout: str  # where the files go, for error messages
    citation: str
    homepage: str
    in_memory: bool
    license: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)
    # A class subset (``"mnist[5-9]"``): the full set's label of each class kept, in order.
    class_subset: tuple[int, ...] | None = None

    def split_size(self, split: str) -> int | None:
        return dict(self.num_samples).get(split)


MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
FASHION_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)


def _idx_files(md5s: dict[str, tuple[str, str]]) -> tuple[OfficialFile, ...]:
    return tuple(
        OfficialFile(name, md5, "train" if name.startswith("train") else "test", payload)
        for name, (md5, payload) in md5s.items()
    )


def _idx_archives(files: tuple[OfficialFile, ...], mirrors: tuple[str, ...]) -> tuple[Archive, ...]:
    return tuple(Archive(f.name, f.md5, tuple(m + f.name for m in mirrors)) for f in files)


IDX_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

# md5 of the .gz (official, torchvision's), md5 of its decompressed content (computed here
# from the official files).
_MNIST_FILES = _idx_files(
    {
        "train-images-idx3-ubyte.gz": ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "6bbc9ace898e44ae57da46a324031adb"),
        "train-labels-idx1-ubyte.gz": ("d53e105ee54ea40749a09fcbcd1e9432", "a25bea736e30d166cdddb491f175f624"),
        "t10k-images-idx3-ubyte.gz": ("9fb629c4189551a2d022fa330f9573f3", "2646ac647ad5339dbf082846283269ea"),
        "t10k-labels-idx1-ubyte.gz": ("ec29112dd5afa0611ce80d1b7f02629c", "27ae3e4e09519cfbb04c329615203637"),
    }
)
_FASHION_FILES = _idx_files(
    {
        "train-images-idx3-ubyte.gz": ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
        "train-labels-idx1-ubyte.gz": ("25c81989df183df01b3e8a0aad5dffbe", "9018921c3c673c538a1fc5bad174d6f9"),
        "t10k-images-idx3-ubyte.gz": ("bef4ecab320f06d8554ea6380940ec79", "8181f5470baa50b63fa0f6fddb340f0a"),
        "t10k-labels-idx1-ubyte.gz": ("bb300cfdad3c16e7a12a480ee83cd310", "15d484375f8d13e6eb1aabb0c3f46965"),
    }
)

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR100_CLASSES = tuple(
    """apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus
    butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch
    crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo
    keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse
    mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy
    porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper
    snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television
    tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm""".split()
)
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
DIGIT_CLASSES = tuple(str(d) for d in range(10))

DIGITS_TEST_FRACTION = 0.2
DIGITS_SEED = 0

_CATALOG: dict[str, DatasetInfo] = {}


def _add(info: DatasetInfo) -> None:
    _CATALOG[info.name] = info


_add(
    DatasetInfo(
        name="digits",
        title="scikit-learn's handwritten digits (UCI optdigits, 8x8)",
        num_classes=10,
        classes=DIGIT_CLASSES,
        image_size=(1, 32, 32),
        # Computed by cnnlab on its 1,438-image training split after the default resize to 32x32
        # (tests/data check the numbers); other image sizes change them slightly.
        mean=(0.3058,),
        std=(0.3240,),
        stats_source="computed by cnnlab on the 1,438 training images at 32x32, bilinear from 8x8 (0.305824, 0.323982)",
        splits=("train", "test"),
        num_samples=(("train", 1438), ("test", 359)),
        files=(),
        archives=(),
        folder_names=(),
        system_dirs=(),
        layout="bundled with scikit-learn (sklearn.datasets.load_digits); no files needed",
        citation=(
            "Alpaydin, E. & Kaynak, C. (1998). Optical Recognition of Handwritten Digits. UCI Machine "
            "Learning Repository. doi:10.24432/C50P49"
        ),
        homepage="https://scikit-learn.org/stable/modules/generated/sklearn.datasets.load_digits.html",
        in_memory=True,
        license="CC BY 4.0",
        notes=(
            "1,797 images of 8x8 pixels with values 0..16 (the test part of UCI optdigits), scaled "
            "to 0..255 (x * 255 / 16) and resized to 32x32 by bilinear interpolation so LeNet-5's "
            "32x32 input fits.",
            f"Split: stratified, per class a fraction {DIGITS_TEST_FRACTION} (rounded) goes to "
            f"test, chosen by numpy.random.RandomState({DIGITS_SEED}).permutation (a stream NumPy "
            "keeps fixed), so the split never changes: 1,438 train, 359 test.",
        ),
    )
)

_add(
    DatasetInfo(
        name="mnist",
        title="MNIST handwritten digits",
        num_classes=10,
        classes=DIGIT_CLASSES,
        image_size=(1, 28, 28),
        mean=(0.1307,),
        std=(0.3081,),
        stats_source="computed by cnnlab on the 60,000 official training images (0.130660, 0.308108)",
        splits=("train", "test"),
        num_samples=(("train", 60000), ("test", 10000)),
        files=_MNIST_FILES,
        archives=_idx_archives(_MNIST_FILES, MNIST_MIRRORS),
        folder_names=("mnist", "MNIST/raw"),
        system_dirs=(),
        layout="the four official .gz files in one folder (DIR/ itself, DIR/mnist/ or DIR/MNIST/raw/)",
        citation=(
            "LeCun, Y., Bottou, L., Bengio, Y. & Haffner, P. (1998). Gradient-based learning applied "
            "to document recognition. Proc. IEEE 86(11):2278-2324"
        ),
        homepage="http://yann.lecun.com/exdb/mnist/",
        in_memory=True,
        license="CC BY-SA 3.0",
    )
)

_add(
    DatasetInfo(
        name="fashion-mnist",
        title="Fashion-MNIST (Zalando article images)",
        num_classes=10,
        classes=FASHION_CLASSES,
        image_size=(1, 28, 28),
        mean=(0.2860,),
        std=(0.3530,),
        stats_source="computed by cnnlab on the 60,000 official training images (0.286041, 0.353024)",
        splits=("train", "test"),
        num_samples=(("train", 60000), ("test", 10000)),
        files=_FASHION_FILES,
        archives=_idx_archives(_FASHION_FILES, FASHION_MIRRORS),
        folder_names=("fashion-mnist", "fashion_mnist", "FashionMNIST/raw"),
        # Debian's dataset-fashion-mnist (0.0~git20200523.55506a9-1) installs the four files here
        # (`dpkg -c` of the package); recompressed, so they are checked by payload_md5.
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        layout=(
            "the four official .gz files in one folder (DIR/ itself, DIR/fashion-mnist/ or "
            "DIR/FashionMNIST/raw/); on Debian, `apt-get install dataset-fashion-mnist` puts them "
            "in /usr/share/datasets/fashion-mnist"
        ),
        citation=(
            "Xiao, H., Rasul, K. & Vollgraf, R. (2017). Fashion-MNIST: a Novel Image Dataset for "
            "Benchmarking Machine Learning Algorithms. arXiv:1708.07747"
        ),
        homepage="https://github.com/zalandoresearch/fashion-mnist",
        in_memory=True,
        license="MIT",
    )
)

_CIFAR_CITATION = (
    "Krizhevsky, A. (2009). Learning Multiple Layers of Features from Tiny Images. Technical "
    "report, University of Toronto"
)

_add(
    DatasetInfo(
        name="cifar10",
        title="CIFAR-10",
        num_classes=10,
        classes=CIFAR10_CLASSES,
        image_size=(3, 32, 32),
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        stats_source=(
            "the widely published statistics of the 50,000 training images (as in "
            "cnnlab.registry.CIFAR10_MEAN/STD); not recomputed here, the set is absent on these machines"
        ),
        splits=("train", "test"),
        num_samples=(("train", 50000), ("test", 10000)),
        files=(
            *(
                OfficialFile(f"data_batch_{i}", md5, "train")
                for i, md5 in enumerate(
                    (
                        "c99cafc152244af753f735de768cd75f",
                        "d4bba439e000b95fd0a9bffe97cbabec",
                        "54ebc095f3ab1f0389bbae665268c751",
                        "634d18415352ddfa80567beed471001a",
                        "482c414d41f54cd18b22e5b47cb7c3cb",
                    ),
                    start=1,
                )
            ),
            OfficialFile("test_batch", "40351d587109b95175f43aff81a1287e", "test"),
            OfficialFile("batches.meta", "5ff9c542aee3614f3951f8cda6e48888"),
        ),
        archives=(
            Archive(
                "cifar-10-python.tar.gz",
                "c58f30108f718f92721af3b95e74349a",
                ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
                extracts_to="cifar-10-batches-py",
            ),
        ),
        folder_names=("cifar-10-batches-py", "cifar10/cifar-10-batches-py"),
        system_dirs=(),
        layout=(
            "the official python batches in cifar-10-batches-py/ (data_batch_1..5, test_batch, "
            "batches.meta): DIR/ itself, DIR/cifar-10-batches-py/ or DIR/cifar10/cifar-10-batches-py/; "
            "or cifar-10-python.tar.gz in DIR/ (it is unpacked on first use)"
        ),
        citation=_CIFAR_CITATION,
        homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
        in_memory=True,
    )
)

_add(
    DatasetInfo(
        name="cifar100",
        title="CIFAR-100 (fine labels)",
        num_classes=100,
        classes=CIFAR100_CLASSES,
        image_size=(3, 32, 32),
        mean=(0.5071, 0.4865, 0.4409),
        std=(0.2673, 0.2564, 0.2762),
        stats_source=(
            "the widely published statistics of the 50,000 training images; not recomputed here, "
            "the set is absent on these machines"
        ),
        splits=("train", "test"),
        num_samples=(("train", 50000), ("test", 10000)),
        files=(
            OfficialFile("train", "16019d7e3df5f24257cddd939b257f8d", "train"),
            OfficialFile("test", "f0ef6b0ae62326f3e7ffdfab6717acfc", "test"),
            OfficialFile("meta", "7973b15100ade9c7d40fb424638fde48"),
        ),
        archives=(
            Archive(
                "cifar-100-python.tar.gz",
                "eb9058c3a382ffc7106e4002c42a8d85",
                ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",),
                extracts_to="cifar-100-python",
            ),
        ),
        folder_names=("cifar-100-python", "cifar100/cifar-100-python"),
        system_dirs=(),
        layout=(
            "the official python files in cifar-100-python/ (train, test, meta): DIR/ itself, "
            "DIR/cifar-100-python/ or DIR/cifar100/cifar-100-python/; or cifar-100-python.tar.gz in "
            "DIR/ (it is unpacked on first use)"
        ),
        citation=_CIFAR_CITATION,
        homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
        in_memory=True,
        notes=(
            "Labels are the 100 fine labels; the 20 coarse labels are kept as ImageTensors.extras['coarse_labels'].",
        ),
    )
)

_add(
    DatasetInfo(
        name="tiny-imagenet",
        title="Tiny ImageNet (200 classes, 64x64)",
        num_classes=200,
        classes=(),  # the wnids, read from wnids.txt when the set is loaded
        image_size=(3, 64, 64),
        mean=(0.4802, 0.4481, 0.3975),
        std=(0.2770, 0.2691, 0.2821),
        stats_source=(
            "the commonly published statistics of the 100,000 training images; not recomputed "
            "here, the set is absent on these machines"
        ),
        splits=("train", "val", "test"),
        num_samples=(("train", 100000), ("val", 10000), ("test", 10000)),
        files=(),  # no official md5s for the extracted files; the zip's md5 is checked
        archives=(
            Archive(
                "tiny-imagenet-200.zip",
                "90528d7ca1a48142e341f4ef8d21d0de",
                ("http://cs231n.stanford.edu/tiny-imagenet-200.zip",),
                extracts_to="tiny-imagenet-200",
            ),
        ),
        folder_names=("tiny-imagenet-200", "tiny-imagenet/tiny-imagenet-200"),
        system_dirs=(),
        layout=(
            "the official tiny-imagenet-200/ folder (wnids.txt, words.txt, train/<wnid>/images/*.JPEG, "
            "val/images/*.JPEG with val/val_annotations.txt, test/images/*.JPEG): DIR/ itself or "
            "DIR/tiny-imagenet-200/; or tiny-imagenet-200.zip in DIR/ (unpacked on first use)"
        ),
        citation="Le, Y. & Yang, X. (2015). Tiny ImageNet Visual Recognition Challenge. Stanford CS231N",
        homepage="http://cs231n.stanford.edu/",
        in_memory=False,
        notes=(
            "Classes are the 200 wnids sorted (the order torchvision's ImageFolder gives train/); "
            "the test split has no public labels and yields label -1.",
        ),
    )
)

_add(
    DatasetInfo(
        name="imagenet",
        title="ImageNet ILSVRC-2012 (image-folder layout)",
        num_classes=1000,
        classes=(),  # the wnids, from the folder names
        image_size=None,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        stats_source="torchvision's ImageNet statistics (cnnlab.registry.IMAGENET_MEAN/STD)",
        splits=("train", "val"),
        num_samples=(("train", 1281167), ("val", 50000)),
        files=(),
        archives=(),
        folder_names=("imagenet", "ILSVRC2012"),
        system_dirs=(),
        layout=(
            "DIR/train/<wnid>/*.JPEG and DIR/val/<wnid>/*.JPEG (the validation images sorted into "
            "class folders, the usual reorganisation of ILSVRC2012_img_val.tar)"
        ),
        citation=(
            "Russakovsky, O. et al. (2015). ImageNet Large Scale Visual Recognition Challenge. IJCV 115(3):211-252"
        ),
        homepage="https://image-net.org/",
        in_memory=False,
        notes=("Not downloadable: the archives need an account at image-net.org.",),
    )
)

_add(
    DatasetInfo(
        name="imagefolder",
        title="Any root/<class>/<image> tree",
        num_classes=0,  # set from the folders when loaded
        classes=(),
        image_size=None,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        stats_source=(
            "ImageNet's statistics as a default; compute your own with "
            "cnnlab.data.channel_stats on a sample of the training images"
        ),
        splits=("train", "val", "test"),
        num_samples=(),
        files=(),
        archives=(),
        folder_names=(),
        system_dirs=(),
        layout=(
            "DIR/<split>/<class>/<image> (DIR/train/..., DIR/val/...), or DIR/<class>/<image> for the train split alone"
        ),
        citation="",
        homepage="",
        in_memory=False,
    )
)


def list_datasets() -> list[str]:
    """The names :func:`load_dataset` accepts."""
    return list(_CATALOG)


def dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of a dataset name (``"fashion_mnist"`` and case are forgiven).

    A name may select classes: ``"mnist[5-9]"``, ``"cifar10[0,1,8,9]"`` (labels of the full
    set, ranges inclusive). The subset's classes are relabelled 0, 1, ... in the order
    given, and its images are those of the kept classes (:func:`load_dataset`)."""
    base, spec = split_subset(canonical_name(name))
    info = _CATALOG[base]
    if spec is None:
        return info
    kept = _parse_subset(spec, info, name)
    return dataclasses.replace(
        info,
        name=f"{info.name}[{spec}]",
        title=f"{info.title}, classes {spec}",
        num_classes=len(kept),
        classes=tuple(info.classes[i] for i in kept) if info.classes else (),
        num_samples=(),
        class_subset=kept,
        notes=(
            *info.notes,
            f"classes {spec} of {info.name} only, relabelled 0..{len(kept) - 1} in that order; "
            "the channel statistics are the full set's",
        ),
    )


_SUBSET = re.compile(r"^\s*(?P<base>[^\[\]]+?)\s*\[(?P<spec>[^\[\]]*)\]\s*$")


def split_subset(name: str) -> tuple[str, str | None]:
    """``"mnist[5-9]"`` -> ``("mnist", "5-9")``; a plain name -> ``(name, None)``."""
    if not isinstance(name, str):
        raise ConfigError(f"dataset name must be a string, got {name!r}; choose one of {list_datasets()}")
    m = _SUBSET.match(name)
    return (m["base"], m["spec"].replace(" ", "")) if m else (name, None)


def _parse_subset(spec: str, info: DatasetInfo, name: str) -> tuple[int, ...]:
    fix = f"write the labels to keep as numbers and inclusive ranges, e.g. {info.name}[0-4] or {info.name}[0,1,8,9]"
    kept: list[int] = []
    for part in spec.split(","):
        bounds = part.split("-")
        if not 1 <= len(bounds) <= 2 or not all(b.isdigit() for b in bounds):
            raise ConfigError(f"dataset {name!r}: cannot read the class selection {part!r}; {fix}")
        low, high = int(bounds[0]), int(bounds[-1])
        if high < low:
            raise ConfigError(f"dataset {name!r}: the range {part!r} runs backwards; write {high}-{low}")
        kept.extend(range(low, high + 1))
    if len(set(kept)) != len(kept):
        raise ConfigError(f"dataset {name!r} selects a class twice; {fix}")
    count = info.num_classes if info.classes else None  # image folders know their classes when read
    if count is not None and max(kept) >= count:
        raise ConfigError(f"dataset {name!r} selects class {max(kept)}, but {info.name} has classes 0-{count - 1}")
    if len(kept) < 2:
        raise ConfigError(f"dataset {name!r} keeps {len(kept)} class; a classifier needs two or more; {fix}")
    return tuple(kept)


def canonical_name(name: str) -> str:
    base, spec = split_subset(name)
    key = base.strip().lower().replace("_", "-")
    key = {
        "fashionmnist": "fashion-mnist",
        "cifar-10": "cifar10",
        "cifar-100": "cifar100",
        "tinyimagenet": "tiny-imagenet",
        "tiny-imagenet-200": "tiny-imagenet",
    }.get(key, key)
    if key not in _CATALOG:
        close = difflib.get_close_matches(key, list(_CATALOG), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown dataset {name!r}{hint}; choose one of {', '.join(_CATALOG)}")
    return key if spec is None else f"{key}[{spec}]"
