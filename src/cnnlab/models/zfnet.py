"""ZFNet: Zeiler & Fergus (2013), "Visualizing and understanding convolutional networks",
arXiv:1311.2901 (ECCV 2014), Fig. 3 and Sec. 3 and 4.

AlexNet re-tuned after looking at its features: a 7x7 stride-2 first layer instead of 11x11
stride 4, stride 2 in layer 2, dense connections in layers 3-5 (one GPU). Built by
:class:`~cnnlab.models.alexnet.AlexNet` from the table below; module names as AlexNet's.
"""

from __future__ import annotations

from ..registry import IMAGENET_MEAN, IMAGENET_STD, Family, Paper, register_variant
from .alexnet import ALEXNET_LRN, AlexNet, Conv, Init, Pool, Spec

ZEILER_FERGUS_2013 = Paper(
    authors="Zeiler & Fergus",
    title="Visualizing and understanding convolutional networks",
    year=2013,
    venue="ECCV 2014",
    arxiv="1311.2901",
)

# Fig. 3, layers 1-5 left to right, on a 224x224 crop. Each layer: "(i) passed through a
# rectified linear function, (ii) pooled (max within 3x3 regions, using stride 2) and (iii)
# contrast normalized across feature maps" (layers 1 and 2; layer 5 is only pooled). Printed
# map sizes: 110 (conv1), 55 (pool1), 26 (conv2), 13 (pool2), 13, 13, 13 (conv3-5), 6 (pool5).
# Padding and rounding are not printed: conv1 padding 1 gives (224 + 2 - 7) // 2 + 1 = 110;
# pooling rounds up (ceil mode, as Caffe) to give 55 from 110 and 13 from 26; conv3-5 pad 1.
ZFNET_CONVS = (
    Conv("conv1", 96, 7, 2, 1, towers=1, then=("maxpool", "LRN")),  # padding 1: see above
    Conv("conv2", 256, 5, 2, 0, towers=1, then=("maxpool", "LRN")),
    Conv("conv3", 384, 3, 1, 1, towers=1, then=()),  # Sec. 3: dense, not Krizhevsky's sparse
    Conv("conv4", 384, 3, 1, 1, towers=1, then=()),
    Conv("conv5", 256, 3, 1, 1, towers=1, then=("maxpool",)),
)

ZFNET = Spec(
    input_size=(3, 224, 224),
    convs=ZFNET_CONVS,
    hidden=(("fc6", 4096), ("fc7", 4096)),  # Fig. 3, layers 6 and 7; then a C-way softmax
    output="fc8",
    # The paper names the operation but gives no formula or constants; AlexNet's LRN
    # (Krizhevsky et al. 2012, Sec. 3.3), whose net this one modifies, stands in.
    lrn=ALEXNET_LRN,
    pool=Pool(3, 2, ceil_mode=True),  # ceil mode: see above
    dropout_before_fc=False,  # Sec. 3: "Dropout ... in the fully connected layers (6 and 7) with a rate of 0.5"
    avgpool=None,
    # Sec. 3: "All weights are initialized to 10^-2 and biases are set to 0", read as the
    # standard deviation of normal weights (a constant would make every filter the same).
    init=Init(0.01, ()),
)


class ZFNet(AlexNet):
    """AlexNet's builder with Zeiler & Fergus's table."""


_DEVIATIONS = (
    "padding and rounding are not printed: conv1 padding 1, conv3-conv5 padding 1 and "
    "ceil-mode max pooling reproduce Fig. 3's 110-55-26-13-13-13-6 maps",
    "the contrast normalisation across feature maps after layers 1 and 2 (Fig. 3, (iii)) "
    "is AlexNet's LRN (k=2, n=5, alpha=1e-4, beta=0.75); the paper gives no formula or constants",
    "inputs normalised with the ImageNet mean and std (torchvision's preprocessing); the paper "
    "subtracts the per-pixel mean across all images only (Sec. 3)",
)
_NOTES = (
    "Order per layer as Fig. 3: conv, ReLU, 3x3 stride-2 max pooling, then normalisation. "
    "Dropout 0.5 on the outputs of fc6 and fc7. Initial weights N(0, 0.01^2), biases 0 "
    "(Sec. 3). The paper's renormalisation of convolutional filters whose RMS exceeds 0.1 "
    "(Sec. 3) is a training rule, not part of the model. The fully connected head fixes "
    "the input at 224x224."
)
ZFNET_FAMILY = Family(
    "alexnet",
    ZEILER_FERGUS_2013,
    input_size=(3, 224, 224),
    num_classes=1000,
    # Deviation (declared): torchvision's mean/std normalisation; the paper subtracts the
    # per-pixel mean only (Sec. 3).
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    deviations=_DEVIATIONS,
    notes=_NOTES,
    test_input_size=(3, 224, 224),
)

# By hand from Fig. 3's map sizes: conv1 110*110*96*(3*49) = 170,755,200; conv2
# 26*26*256*(96*25) = 415,334,400; conv3 13*13*384*(256*9) = 149,520,384; conv4
# 13*13*384*(384*9) = 224,280,576; conv5 13*13*256*(384*9) = 149,520,384; fc6
# 9216*4096 = 37,748,736; fc7 16,777,216; fc8 4,096,000.
ZFNET_MACS = 170_755_200 + 415_334_400 + 149_520_384 + 224_280_576 + 149_520_384 + 37_748_736 + 16_777_216 + 4_096_000

# Parameters: conv1 14,208; conv2 614,656; conv3 885,120; conv4 1,327,488; conv5 884,992;
# fc6 37,752,832; fc7 16,781,312; fc8 4,097,000.
zfnet = register_variant(ZFNET_FAMILY.card("zfnet", "Fig. 3", 62_357_608, ZFNET_MACS), ZFNet, spec=ZFNET)
