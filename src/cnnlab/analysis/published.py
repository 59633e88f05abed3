"""Published classification errors of the registered models, as frozen data.

Every entry names the table (or documentation page) it was read from and the test protocol
the number belongs to, because a 10-crop error and a single-crop error of the same network
differ by one to two points and must not be compared as if they were alike. The policy:

- the paper's own single-model number where the paper reports the registered configuration
  (its table and row in ``source``);
- the authors' official repository where the paper's table could not be checked but the
  repository prints the released model's number (ResNeXt-50, DPN);
- torchvision's documented ``acc@1`` / ``acc@5`` (error = 100 - accuracy) where the registered
  model is torchvision's variant, or where the paper does not report the registered
  configuration but the card loads torchvision's weights into exactly this network.

Every number here was checked against a copy of the paper text or the documentation; models
whose numbers could not be verified are left out rather than guessed (``published_error``
returns ``None`` for them). Errors are percentages.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from types import MappingProxyType
from typing import Any

from ..errors import ConfigError

DATASETS = {
    "imagenet": "ImageNet (ILSVRC-2012 validation set, 1000 classes)",
    "cifar10": "CIFAR-10 (test set, 10 classes)",
}


@dataclass(frozen=True)
class PublishedError:
    """One published result: top-1 (and top-5, where printed) error in percent."""

    name: str  # the registered model it describes
    dataset: str  # a key of DATASETS
    top1_error: float
    top5_error: float | None
    protocol: str  # how it was measured: crops, scales, single model, augmentation
    source: str  # "Author year, Table N, row ..." or the documentation page
    note: str = ""  # how the registered model and the measured one differ, if at all

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- protocols, named once ------------------------------------------------------------------
_TV = "torchvision weights {w}: single model, one 224x224 centre crop of the image resized to 256, ILSVRC-2012 val"
_RESNET_10CROP = "single model, 10-crop testing (He et al. 2015, Sec. 3.4), ILSVRC-2012 val"
_VGG_Q256 = "single model, trained and tested at smallest side 256 (S = Q = 256), dense evaluation, ILSVRC-2012 val"
_DENSENET_1CROP = "single model, single 224x224 crop, ILSVRC-2012 val"
_DPN_224 = "single model, single 224x224 crop, ILSVRC-2012 val"
_C10_AUG = "single model, CIFAR-10 test set, standard augmentation (4-pixel padding/translation + horizontal flip)"


def _tv(
    name: str, weights: str, acc1: float, acc5: float, *, protocol: str | None = None, note: str = ""
) -> PublishedError:
    """torchvision documents accuracy; we store error = 100 - accuracy, rounded to the
    documented precision so the data reads as printed."""
    return PublishedError(
        name=name,
        dataset="imagenet",
        top1_error=round(100.0 - acc1, 3),
        top5_error=round(100.0 - acc5, 3),
        protocol=protocol or _TV.format(w=weights),
        source=f"torchvision models documentation, {weights}: acc@1 {acc1}, acc@5 {acc5} "
        "(torchvision.models weights metadata, checked against torchvision 0.29)",
        note=note,
    )


_IMAGENET = (
    # AlexNet: Krizhevsky, Sutskever & Hinton 2012. The test-time protocol is Sec. 4.1's
    # ten patches (four corners + centre, and their reflections), predictions averaged.
    PublishedError(
        "alexnet_2012",
        "imagenet",
        40.7,
        18.2,
        "single model ('1 CNN'), 10 patches averaged (Sec. 4.1), ILSVRC-2012 val",
        "Krizhevsky et al. 2012, Table 2, row '1 CNN' (Top-1 val 40.7%, Top-5 val 18.2%)",
    ),
    _tv("alexnet_owt", "AlexNet_Weights.IMAGENET1K_V1", 56.522, 79.066),
    # ZFNet: Zeiler & Fergus 2013; the registered model is the Fig. 3 network.
    PublishedError(
        "zfnet",
        "imagenet",
        38.4,
        16.5,
        "single model, ILSVRC-2012 val (test-time crops not stated with the table)",
        "Zeiler & Fergus 2013, Table 2, row '1 convnet as per Fig. 3' (Val Top-1 38.4, Val Top-5 16.5)",
    ),
    # VGG: Simonyan & Zisserman 2015, Table 3 (single test scale). The S = Q = 256 rows exist
    # for every configuration, so they are the comparable ones (jittered-scale training
    # gives C, D and E 1-1.5 points less: 27.3, 25.6, 25.5).
    PublishedError(
        "vgg11", "imagenet", 29.6, 10.4, _VGG_Q256, "Simonyan & Zisserman 2015, Table 3, row A (S=256, Q=256)"
    ),
    PublishedError(
        "vgg11_lrn", "imagenet", 29.7, 10.5, _VGG_Q256, "Simonyan & Zisserman 2015, Table 3, row A-LRN (S=256, Q=256)"
    ),
    PublishedError(
        "vgg13", "imagenet", 28.7, 9.9, _VGG_Q256, "Simonyan & Zisserman 2015, Table 3, row B (S=256, Q=256)"
    ),
    PublishedError(
        "vgg16_c", "imagenet", 28.1, 9.4, _VGG_Q256, "Simonyan & Zisserman 2015, Table 3, row C (S=256, Q=256)"
    ),
    PublishedError(
        "vgg16", "imagenet", 27.0, 8.8, _VGG_Q256, "Simonyan & Zisserman 2015, Table 3, row D (S=256, Q=256)"
    ),
    PublishedError(
        "vgg19", "imagenet", 27.3, 9.0, _VGG_Q256, "Simonyan & Zisserman 2015, Table 3, row E (S=256, Q=256)"
    ),
    # The batch-normalised VGGs are not in the paper: torchvision trained them.
    _tv("vgg11_bn", "VGG11_BN_Weights.IMAGENET1K_V1", 70.37, 89.81),
    _tv("vgg13_bn", "VGG13_BN_Weights.IMAGENET1K_V1", 71.586, 90.374),
    _tv("vgg16_bn", "VGG16_BN_Weights.IMAGENET1K_V1", 73.36, 91.516),
    _tv("vgg19_bn", "VGG19_BN_Weights.IMAGENET1K_V1", 74.218, 91.842),
    # GoogLeNet: the paper reports top-5 only (no top-1), so only torchvision's variant is here.
    _tv("googlenet_tv", "GoogLeNet_Weights.IMAGENET1K_V1", 69.778, 89.53),
    PublishedError(
        "bn_inception",
        "imagenet",
        25.2,
        7.82,
        "single model, single 224x224 crop, ILSVRC-2012 val",
        "Ioffe & Szegedy 2015, Figure 4 (results table), row 'BN-Inception single crop'",
    ),
    _tv(
        "inception_v3",
        "Inception_V3_Weights.IMAGENET1K_V1",
        77.294,
        93.45,
        protocol="torchvision weights Inception_V3_Weights.IMAGENET1K_V1: single model, one 299x299 centre crop "
        "of the image resized to 342, ILSVRC-2012 val",
    ),
    # ResNet: He et al. 2015. Table 3 models use projection shortcuts where dimensions grow
    # (option B), which is the registered default; Table 2's 18/34-layer ResNets use option A.
    PublishedError(
        "plain18",
        "imagenet",
        27.94,
        None,
        _RESNET_10CROP,
        "He et al. 2015, Table 2, row '18 layers', column plain (top-1 only)",
    ),
    PublishedError("plain34", "imagenet", 28.54, 10.02, _RESNET_10CROP, "He et al. 2015, Table 3, row plain-34"),
    _tv(
        "resnet18",
        "ResNet18_Weights.IMAGENET1K_V1",
        69.758,
        89.078,
        note="the paper reports ResNet-18 only with option A shortcuts (27.88% top-1, 10-crop, Table 2); "
        "the registered resnet18 uses option B, which is what torchvision's weights fit",
    ),
    PublishedError("resnet34", "imagenet", 24.52, 7.46, _RESNET_10CROP, "He et al. 2015, Table 3, row ResNet-34 B"),
    PublishedError("resnet50", "imagenet", 22.85, 6.71, _RESNET_10CROP, "He et al. 2015, Table 3, row ResNet-50"),
    PublishedError("resnet101", "imagenet", 21.75, 6.05, _RESNET_10CROP, "He et al. 2015, Table 3, row ResNet-101"),
    PublishedError("resnet152", "imagenet", 21.43, 5.71, _RESNET_10CROP, "He et al. 2015, Table 3, row ResNet-152"),
    _tv("resnet50_tv", "ResNet50_Weights.IMAGENET1K_V1", 76.13, 92.862),
    _tv("resnet101_tv", "ResNet101_Weights.IMAGENET1K_V1", 77.374, 93.546),
    _tv("resnet152_tv", "ResNet152_Weights.IMAGENET1K_V1", 78.312, 94.046),
    PublishedError(
        "preact_resnet200",
        "imagenet",
        20.7,
        5.3,
        "single model, one 320x320 crop of the image resized to 320 "
        "(trained on 224x224 crops, scale augmentation), ILSVRC-2012 val",
        "He et al. 2016 (Identity Mappings), Table 5, row 'ResNet-200, pre-act Residual Unit' (scale augmentation)",
    ),
    PublishedError(
        "wide_resnet50_2",
        "imagenet",
        21.9,
        6.03,
        "single model, single crop, ILSVRC-2012 val",
        "Zagoruyko & Komodakis 2016, Table 8, row WRN-50-2-bottleneck",
    ),
    PublishedError(
        "resnext50_32x4d",
        "imagenet",
        22.2,
        None,
        "single model, single 224x224 crop, ILSVRC-2012 val",
        "Xie et al. 2017, Table 3, row ResNeXt-50 (32x4d); the same figure in the authors' README "
        "(facebookresearch/ResNeXt, 'Single-crop (224x224) validation error rate')",
    ),
    _tv(
        "resnext101_32x8d",
        "ResNeXt101_32X8D_Weights.IMAGENET1K_V1",
        79.312,
        94.526,
        note="ResNeXt-101 (32x8d) is not in the paper's tables (it has 32x4d and 64x4d)",
    ),
    # DenseNet: Huang et al. 2017, Table 3 (single-crop / 10-crop; the single-crop figures here).
    PublishedError(
        "densenet121",
        "imagenet",
        25.02,
        7.71,
        _DENSENET_1CROP,
        "Huang et al. 2017, Table 3, row DenseNet-121 (single-crop)",
    ),
    PublishedError(
        "densenet169",
        "imagenet",
        23.80,
        6.85,
        _DENSENET_1CROP,
        "Huang et al. 2017, Table 3, row DenseNet-169 (single-crop)",
    ),
    PublishedError(
        "densenet201",
        "imagenet",
        22.58,
        6.34,
        _DENSENET_1CROP,
        "Huang et al. 2017, Table 3, row DenseNet-201 (single-crop)",
    ),
    _tv(
        "densenet161",
        "DenseNet161_Weights.IMAGENET1K_V1",
        77.138,
        93.56,
        note="DenseNet-161 (k = 48) is not in the paper's Table 3",
    ),
    # DPN: the authors' repository (cypw/DPNs) prints the released models' single-crop errors.
    PublishedError(
        "dpn68",
        "imagenet",
        23.57,
        6.93,
        _DPN_224,
        "Chen et al. 2017, authors' README (cypw/DPNs), ImageNet-1k single model single crop, 224x224, row DPN-68",
    ),
    PublishedError(
        "dpn92",
        "imagenet",
        20.73,
        5.37,
        _DPN_224,
        "Chen et al. 2017, authors' README (cypw/DPNs), ImageNet-1k single model single crop, 224x224, row DPN-92",
    ),
    PublishedError(
        "dpn98",
        "imagenet",
        20.15,
        5.15,
        _DPN_224,
        "Chen et al. 2017, authors' README (cypw/DPNs), ImageNet-1k single model single crop, 224x224, row DPN-98",
    ),
    PublishedError(
        "dpn131",
        "imagenet",
        19.93,
        5.12,
        _DPN_224,
        "Chen et al. 2017, authors' README (cypw/DPNs), ImageNet-1k single model single crop, 224x224, row DPN-131",
    ),
    # SqueezeNet: Iandola et al. 2016 print accuracy (57.5% top-1, 80.3% top-5).
    PublishedError(
        "squeezenet1_0",
        "imagenet",
        42.5,
        19.7,
        "single model, uncompressed 32-bit weights, ILSVRC-2012 val (crops not stated)",
        "Iandola et al. 2016, Table 2, row 'SqueezeNet (ours)' / Table 3, row 'Vanilla SqueezeNet' "
        "(57.5% top-1, 80.3% top-5 accuracy)",
    ),
    _tv(
        "squeezenet1_1",
        "SqueezeNet1_1_Weights.IMAGENET1K_V1",
        58.178,
        80.624,
        note="SqueezeNet v1.1 is not in the paper (it comes from the authors' repository)",
    ),
)

_CIFAR10 = (
    # ResNet: He et al. 2015, Table 6. ResNet-110 is the best of 5 runs (mean 6.61 +- 0.16).
    PublishedError("resnet20", "cifar10", 8.75, None, _C10_AUG, "He et al. 2015, Table 6, row ResNet 20 layers"),
    PublishedError("resnet32", "cifar10", 7.51, None, _C10_AUG, "He et al. 2015, Table 6, row ResNet 32 layers"),
    PublishedError("resnet44", "cifar10", 7.17, None, _C10_AUG, "He et al. 2015, Table 6, row ResNet 44 layers"),
    PublishedError("resnet56", "cifar10", 6.97, None, _C10_AUG, "He et al. 2015, Table 6, row ResNet 56 layers"),
    PublishedError(
        "resnet110",
        "cifar10",
        6.43,
        None,
        _C10_AUG + "; best of 5 runs",
        "He et al. 2015, Table 6, row ResNet 110 layers ('6.43 (6.61 +- 0.16)', best (mean +- std) of 5 runs)",
    ),
    PublishedError("resnet1202", "cifar10", 7.93, None, _C10_AUG, "He et al. 2015, Table 6, row ResNet 1202 layers"),
    PublishedError(
        "preact_resnet164",
        "cifar10",
        5.46,
        None,
        _C10_AUG + "; mini-batch 128",
        "He et al. 2016 (Identity Mappings), Table 3, row ResNet-164, pre-activation unit (also Table 4)",
    ),
    PublishedError(
        "preact_resnet1001",
        "cifar10",
        4.92,
        None,
        _C10_AUG + "; mini-batch 128, median of 5 runs",
        "He et al. 2016 (Identity Mappings), Table 4, row ResNet-1001 [ours] (10.2M): '4.92 (4.89 +- 0.14)'",
        note="4.62 with mini-batch 64 (same table, row marked with a dagger)",
    ),
    # Wide ResNets: Zagoruyko & Komodakis 2016, Table 5 (mean/std preprocessing, no dropout,
    # median of 5 runs); the registered WRNs have no dropout by default, as there.
    PublishedError(
        "wrn40_4",
        "cifar10",
        4.53,
        None,
        _C10_AUG + "; mean/std normalisation, no dropout, median of 5 runs",
        "Zagoruyko & Komodakis 2016, Table 5, row WRN 40-4",
    ),
    PublishedError(
        "wrn16_8",
        "cifar10",
        4.27,
        None,
        _C10_AUG + "; mean/std normalisation, no dropout, median of 5 runs",
        "Zagoruyko & Komodakis 2016, Table 5, row WRN 16-8",
    ),
    PublishedError(
        "wrn28_10",
        "cifar10",
        4.00,
        None,
        _C10_AUG + "; mean/std normalisation, no dropout, median of 5 runs",
        "Zagoruyko & Komodakis 2016, Table 5, row WRN 28-10",
    ),
    PublishedError(
        "wide_resnet",
        "cifar10",
        4.00,
        None,
        _C10_AUG + "; mean/std normalisation, no dropout, median of 5 runs",
        "Zagoruyko & Komodakis 2016, Table 5, row WRN 28-10",
        note="for the default configuration (depth=28, k=10) only",
    ),
    PublishedError(
        "densenet_bc_100_12",
        "cifar10",
        4.51,
        None,
        _C10_AUG + " ('C10+')",
        "Huang et al. 2017, Table 2, row DenseNet-BC (L=100, k=12), column C10+ "
        "(also the authors' README, liuzhuang13/DenseNet)",
    ),
    PublishedError(
        "nin_cifar10",
        "cifar10",
        8.81,
        None,
        "single model, CIFAR-10 test set, dropout, translation + horizontal flip augmentation",
        "Lin et al. 2014, Table 1 (CIFAR-10), row 'NIN + Dropout + Data Augmentation'",
        note="10.41 without augmentation (same table, row 'NIN + Dropout')",
    ),
    PublishedError(
        "fractalnet20",
        "cifar10",
        4.60,
        None,
        _C10_AUG + " ('C10+'); trained with drop-path and dropout",
        "Larsson et al. 2017, Table 1, row 'FractalNet (20 layers)' + drop-path + dropout, column C10+",
        note="the paper's net has 38.6M parameters, the registered one 33.7M (see its card); "
        "without drop-path and dropout the same table gives 5.22",
    ),
)


def _index(entries: tuple[PublishedError, ...]) -> MappingProxyType:
    table = {}
    for entry in entries:
        if entry.name in table:
            raise RuntimeError(f"two published entries for {entry.name} ({entry.dataset})")
        table[entry.name] = entry
    return MappingProxyType(table)


PUBLISHED = MappingProxyType({"imagenet": _index(_IMAGENET), "cifar10": _index(_CIFAR10)})


def _check_dataset(dataset: str) -> str:
    if dataset not in PUBLISHED:
        raise ConfigError(f"unknown dataset {dataset!r} for published errors; choose one of {', '.join(PUBLISHED)}")
    return dataset


def published_error(name: str, dataset: str = "imagenet") -> PublishedError | None:
    """The published error of registered model ``name`` on ``dataset`` ("imagenet" or
    "cifar10"), or ``None`` when no verified number is on file for it."""
    return PUBLISHED[_check_dataset(dataset)].get(name)


def find_published(name: str) -> PublishedError | None:
    """The published error of ``name`` on whichever dataset has one (a model name appears
    in one dataset at most), or ``None``."""
    for table in PUBLISHED.values():
        if name in table:
            return table[name]
    return None


def published_table(dataset: str = "imagenet") -> tuple[PublishedError, ...]:
    """Every entry for ``dataset``, in the order above (paper by paper)."""
    return tuple(PUBLISHED[_check_dataset(dataset)].values())
