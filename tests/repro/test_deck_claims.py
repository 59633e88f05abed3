"""The decks' further claims (cnnlab.repro.deck_claims): each runs to plain data, earns the
verdicts listed here (the hand-derived numbers in the comments), and every deck line a check
cites prints the check's slide text verbatim."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest

from cnnlab.repro import VERDICTS, claim_to_dict, list_claims, run_claim
from cnnlab.repro.claims import ClaimResult
from cnnlab.repro.deck_claims import DECK_CLAIMS

REPO = Path(__file__).resolve().parents[2]
LECTURES = REPO.parent / "shared" / "lectures"  # ../shared/lectures beside the repository
CITE = re.compile(r"(\d{3}_[0-9a-f]{16}\.txt) line (\d+)")

# Every claim's verdict counts: (agrees, rounding, slide inconsistent, differs).
SUMMARIES = {
    "weighted-layer-counts": (27, 0, 1, 1),
    "googlenet-size": (0, 1, 9, 1),
    "inception-v3-factorisation": (2, 2, 0, 0),
    "deck-1x1-examples": (7, 2, 2, 0),
    "googlenet-aux-loss": (4, 0, 1, 0),
    "pooling-output-depth": (6, 0, 1, 0),
    "conv-exercises": (6, 0, 0, 0),
    "alexnet-layer-params": (14, 0, 0, 0),
    "vgg-param-tables": (19, 6, 0, 0),
    "mini-networks": (25, 3, 0, 6),
    "inception-v2-table": (10, 0, 1, 2),
    "local-connectivity-ratios": (4, 3, 0, 0),
    "dataset-facts": (16, 1, 0, 2),
    "ilsvrc-top5-errors": (7, 3, 0, 0),
    "googlenet-results-tables": (25, 0, 2, 0),
    "resnet-error-tables": (29, 0, 0, 0),
    "training-recipes": (11, 0, 1, 0),
    "wrn50-vs-resnet152": (5, 0, 0, 0),
    "vgg19-vs-vgg16": (2, 0, 0, 1),
    "squeezenet-compression": (1, 2, 0, 1),
    "dpn98-vs-resnext101": (2, 9, 0, 0),
    "dropout-figures": (5, 0, 0, 1),
}


@cache
def result(claim_id: str) -> ClaimResult:
    return run_claim(claim_id)


def values(claim_id: str) -> dict[str, tuple[object, str]]:
    return {c.quantity: (c.cnnlab, c.verdict) for c in result(claim_id).checks}


@cache
def deck(name: str) -> list[str]:
    return (LECTURES / name).read_text(encoding="utf-8").splitlines()


# -- every claim -------------------------------------------------------------------------------
def test_the_deck_claims_register_after_the_others():
    ids = [c.id for c in list_claims("count")]
    assert ids[-len(DECK_CLAIMS) :] == list(DECK_CLAIMS) and set(SUMMARIES) == set(DECK_CLAIMS)
    assert all(re.search(r"\d{3}_[0-9a-f]{16}\.txt line", c.source) for c in list_claims() if c.id in DECK_CLAIMS)


@pytest.mark.parametrize("claim_id", DECK_CLAIMS)
def test_every_claim_runs_to_its_verdicts(claim_id):
    r = result(claim_id)
    assert r.claim is not None and r.claim.id == claim_id and r.claim.kind == "count"
    assert all(c.verdict in VERDICTS for c in r.checks)
    assert tuple(r.summary.values()) == SUMMARIES[claim_id]
    d = json.loads(json.dumps(claim_to_dict(r)))
    assert d["id"] == claim_id and len(d["checks"]) == len(r.checks)
    # Every explanation starts with the deck lines it reads.
    assert all(CITE.match(c.explanation) for c in r.checks)


@pytest.mark.skipif(not LECTURES.is_dir(), reason=f"the lecture decks are not in {LECTURES} (../shared/lectures)")
@pytest.mark.parametrize("claim_id", DECK_CLAIMS)
def test_every_cited_line_prints_the_slide_text(claim_id):
    for c in result(claim_id).checks:
        places = CITE.findall(c.explanation.split(": ", 1)[0])
        assert places, c.quantity
        for name, line in places:
            text = deck(name)[int(line) - 1]
            assert str(c.slide) in text, f"{c.quantity}: {c.slide!r} is not on {name} line {line}: {text!r}"


# -- the checks that carry the points ----------------------------------------------------
def test_weighted_layer_counts():
    v = values("weighted-layer-counts")
    # conv1 + conv2 (reduce, 3x3) + 9 Inception modules x 2 + the classifier = 22.
    assert v["GoogLeNet: layers with weights (parallel layers once, no auxiliary heads)"] == (22, "agrees")
    assert v["GoogLeNet: layers with weights per Inception module on the longest path"] == (2, "agrees")
    # Every parallel layer: 1 + 2 + 9 x 6 + 1 = 58, not the 004 deck's 22.
    assert v["GoogLeNet: layers with weights, every parallel layer counted"] == (58, "slide inconsistent")
    assert v["AlexNet: layers with weights"] == (8, "agrees")  # 5 conv + 3 FC
    assert v["VGG-16 to VGG-19: layers with weights"] == ("16 - 19", "agrees")
    assert v["VGG Table 1 column C (vgg16_c): weight layers"] == (16, "agrees")  # its three conv1 layers count
    # 1 + 3 x (3 + 8 + 36 + 3) + 1 = 152; 6 x 200 + 2 = 1202.
    assert v["ResNet (ResNet-152): layers with weights"] == (152, "agrees")
    assert v["ResNet-1202 on CIFAR-10: layers with weights"] == (1202, "agrees")
    assert v["DPN-131: layers with weights"] == (131, "agrees")  # 1 + 3 x (4 + 8 + 28 + 3) + 1
    assert v["ResNet-152 / VGG-19 layers with weights"] == (8, "agrees")
    assert v["LeNet-5 layer sequence"] == ("CONV-POOL-CONV-POOL-FC-FC-FC", "differs")
    assert (
        "27"
        in result("weighted-layer-counts")
        .check("GoogLeNet: layers with weights (parallel layers once, no auxiliary heads)")
        .explanation
    )


def test_googlenet_size():
    v = values("googlenet-size")
    # 6,990,272 weights + 8,280 biases without the auxiliary heads: not 5 million, not 6.8M.
    assert v["parameters (no auxiliary heads)"] == (6_998_552, "slide inconsistent")
    assert v["parameters, as the 002 deck rounds them"] == (6_998_552, "slide inconsistent")
    assert v["Table 1's params column, summed"] == (6_990_272, "slide inconsistent")
    assert v["AlexNet / GoogLeNet parameters"] == (8.7111, "slide inconsistent")  # 60,965,224 / 6,998,552
    assert v["GoogLeNet / AlexNet multiply-adds"] == (2.1848, "rounding")  # 1,582,671,872 / 724,406,816
    assert v["multiply-adds per image"] == (1_582_671_872, "slide inconsistent")  # not under 1.5 billion
    assert v["fully connected layers"] == ("1 (1024 -> 1000)", "differs")


def test_inception_v3_factorisation():
    v = values("inception-v3-factorisation")
    assert v["5x5 conv / 3x3 conv multiply-adds (same filters)"] == (2.7778, "rounding")  # 25/9
    assert v["1x3 + 3x1 instead of 3x3: multiply-adds saved (%)"] == (33.3333, "rounding")  # 1 - 6/9
    assert v["1x3 then 3x1: receptive field"] == ("3x3", "agrees")
    assert v["two stacked 3x3 convs: receptive field"] == ("5x5", "agrees")


def test_deck_1x1_examples():
    v = values("deck-1x1-examples")
    # 28*28*16*192 + 28*28*32*25*16 = 2,408,448 + 10,035,200
    assert v["with the 1x1 bottleneck: multiply-adds"] == (12_443_648, "rounding")
    # 28*28*32*25*192: the deck's own line 801 prints 120 M; '20 M' lost its 1.
    assert v["without it (one 5x5 conv, 32 filters): multiply-adds"] == (120_422_400, "slide inconsistent")
    assert v["Conv2D(32, (5,5), valid) on 28x28x192: params"] == (153_632, "agrees")  # 25*192*32 + 32
    assert v["1x1 then 5x5: total params"] == (15_920, "agrees")  # 3,088 + 12,832
    # '#params = 28x28x64x5x5x128 = 160M': the product is multiply-adds; the layer has 25*128*64 weights.
    params = result("deck-1x1-examples").check(
        "'#params' of a 5x5 conv, 128 -> 64 channels on 28x28 (the slide's label)"
    )
    assert (params.cnnlab, params.verdict) == (204_800, "slide inconsistent")
    assert "160,563,200" in params.explanation
    assert v["the same product, as multiply-adds"] == (160_563_200, "rounding")  # 28*28*64*25*128


def test_googlenet_aux_loss():
    v = values("googlenet-aux-loss")
    assert v["loss weights (000 deck's code)"] == ("main x 1, aux1 x 0.3, aux2 x 0.3", "agrees")
    assert v["auxiliary loss weight (003 deck)"] == (0.3, "agrees")
    assert v["main (last inception block's classifier) loss weight (003 deck)"] == (1, "slide inconsistent")
    assert "62.5%" in result("googlenet-aux-loss").notes  # 1 / (1 + 0.3 + 0.3)


def test_pooling_output_depth():
    v = values("pooling-output-depth")
    assert v["conv: W2"] == (4, "agrees")  # (7 - 3 + 2)/2 + 1
    assert v["conv: D2"] == (6, "agrees")
    assert v["conv: weights"] == (216, "agrees")  # 3*3*4*6
    assert v["pool: W2"] == (4, "agrees")  # (8 - 2)/2 + 1
    assert v["pool: D2"] == ("D1 = 5", "slide inconsistent")
    assert v["pool: parameters"] == (0, "agrees")


def test_conv_exercises():
    v = values("conv-exercises")
    assert v["convolved feature, first position"] == (4, "agrees")  # 1+0+1 + 0+1+0 + 0+0+1
    assert v["7x7 input after 3 unpadded 3x3 conv(s): output"] == ("1 x 1", "agrees")
    assert v["5 stacked 3x3 convs (the exercise's answer): receptive field"] == ("11x11", "agrees")  # 1 + 2*5
    assert v["5 stacked 3x3 convs: receptive field from gradients"] == ("11x11", "agrees")
    assert "[[4, 3, 4], [2, 4, 3], [2, 3, 4]]" in result("conv-exercises").notes


def test_alexnet_layer_params():
    v = values("alexnet-layer-params")
    assert v["conv2 parameters"] == (614_656, "agrees")  # 5*5*96*256 + 256
    assert v["conv4 parameters"] == (1_327_488, "agrees")  # 3*3*384*384 + 384
    assert v["fc8 parameters"] == (4_097_000, "agrees")


def test_vgg_and_mini_networks():
    v = values("vgg-param-tables")
    assert v["Table 2 column C (vgg16_c): parameters"] == (133_638_952, "rounding")  # 133.6M printed 134
    assert v["Table 2 column E (vgg19): parameters"] == (143_667_240, "rounding")  # printed 144
    assert v["Keras fc1 (fc6): params"] == (102_764_544, "agrees")  # 25,088*4096 + 4096
    assert v["total params"] == (138_357_544, "agrees")
    m = values("mini-networks")
    assert m["Keras batch_normalization (conv1.bn): params"] == (64, "differs")  # Keras: 4 x 32
    assert m["MiniVGG total params (Keras)"] == (2_169_770, "differs")  # Keras adds 1,408 running statistics
    assert m["MiniVGG non-trainable params"] == (1408, "agrees")  # 2 x (32 + 32 + 64 + 64 + 512)
    assert m["MiniGoogLeNet parameters"] == (1_652_826, "rounding")  # 1.65M printed 1.6M: truncated
    assert m["DeeperGoogLeNet inception (4e) (inception4e): output"] == ("8, 8, 832", "agrees")


def test_inception_v2_table():
    v = values("inception-v2-table")
    assert v["conv 3x3/2: input size"] == ("299x299x3", "agrees")
    assert v["conv 3x3/2 (row 6): input size"] == ("73x73x80", "differs")
    assert v["3 x Inception (Module A): input size"] == ("35x35x192", "slide inconsistent")
    assert v["2 x Inception (Module C): input size"] == ("8x8x1280", "agrees")


def test_local_connectivity_ratios_and_datasets():
    v = values("local-connectivity-ratios")
    assert v["MLNN / MLNN-LC storage"] == (2.3333, "rounding")  # 21 / 9
    assert v["MLNN / MLNN-LC-PS storage"] == (7, "agrees")  # 21 / 3
    d = values("dataset-facts")
    assert d["CIFAR-10 images"] == (60_000, "agrees")
    assert d["Tiny ImageNet training images"] == (100_000, "differs")  # the official 500 per class
    assert d["ImageNet training images"] == (1_281_167, "rounding")


def test_published_results():
    i = values("ilsvrc-top5-errors")
    assert i["VGG (ILSVRC 2014, 2nd)"] == (7.32, "rounding")
    assert i["ResNet (ILSVRC 2015), rounded"] == (3.57, "rounding")
    g = values("googlenet-results-tables")
    assert g["Table 3: 7 models, 144 crops: cost"] == (1008, "agrees")  # 7 x 144
    assert g["Table 3: 7 models, 144 crops: compared to base"] == (-3.4, "slide inconsistent")  # 6.67 - 10.07
    assert g["test scales (shorter side)"] == ("256, 288, 320, 352", "slide inconsistent")
    assert g["crops per image"] == (144, "agrees")  # 4 x 3 x 6 x 2
    r = values("resnet-error-tables")
    assert r["Table 3 ResNet-152: top-1"] == (21.43, "agrees")
    assert r["resnet50: shortcut option"] == ("B", "agrees")
    t = values("training-recipes")
    assert t["ResNet weight decay (ImageNet)"] == (0.0001, "slide inconsistent")  # the deck: 1e-5
    assert t["AlexNet weight decay"] == (0.0005, "agrees")
    assert t["ResNet-152: convolutions followed by batch norm"] == (155, "agrees")
    w = values("wrn50-vs-resnet152")
    assert w["WRN-50-2 vs ResNet-152 top-1 error"] == ("21.9 vs 22.16", "agrees")
    vgg = values("vgg19-vs-vgg16")
    assert vgg["top-1 error, VGG19 vs VGG16, trained and tested at 256"] == ("27.3 vs 27.0", "differs")
    s = values("squeezenet-compression")
    assert s["AlexNet / SqueezeNet parameters"] == (48.8337, "rounding")  # 60,965,224 / 1,248,424
    assert s["AlexNet / compressed SqueezeNet size"] == (510, "agrees")
    p = values("dpn98-vs-resnext101")
    assert p["DPN-98 GFLOPs"] == (11_671_217_152, "rounding")
    assert p["ResNeXt-101 (64x4d) GFLOPs"] == (15_460_270_080, "rounding")
    assert p["model size change (%)"] == (-26.2049, "rounding")
    d = values("dropout-figures")
    assert d["GoogLeNet dropout (%)"] == (40, "agrees")
    assert d["expected training output / full output, p = 1/2"] == (0.5, "agrees")
    assert d["test-time scaling"][1] == "differs"  # PyTorch scales by 1/(1 - p) in training instead
