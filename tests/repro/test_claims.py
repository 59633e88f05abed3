"""Each claim is a test: cnnlab's computed values equal the hand-derived exact numbers (the
literals below, derived in the comments) and the verdicts are the ones the sources earn."""

from __future__ import annotations

import json
from functools import cache

import pytest

from cnnlab.analysis import analyze
from cnnlab.cli import main
from cnnlab.errors import ConfigError
from cnnlab.models.googlenet import PRINTED_PARAMS_OFF
from cnnlab.repro.claims import (
    SCHEMA,
    VERDICTS,
    Check,
    ClaimResult,
    claim_to_dict,
    compare,
    list_claims,
    parse_printed,
    register_claim,
    run_claim,
)
from cnnlab.repro.deck_claims import DECK_CLAIMS

CLAIMS = (
    "alexnet-conv1",
    "vgg16-memory",
    "googlenet-table1",
    "inception-naive-vs-bottleneck",
    "bottleneck-1x1",
    "stacked-3x3",
    "resnet-flops",
    "local-connectivity",
    "conv-layer-examples",
)
# Every count claim: claims.py's, then the decks' further claims (tests/repro/test_deck_claims.py).
COUNT = CLAIMS + DECK_CLAIMS
# The lectures' training experiments (cnnlab.repro.experiments; tested in tests/repro/test_experiments.py).
TRAINING = ("weight-init", "sigmoid-vs-relu-gradients", "dropout-scaling", "batchnorm-deep-net", "degradation")


@cache
def result(claim_id: str) -> ClaimResult:
    return run_claim(claim_id)


def values(claim_id: str) -> dict[str, tuple[object, str]]:
    return {c.quantity: (c.cnnlab, c.verdict) for c in result(claim_id).checks}


# -- registry ---------------------------------------------------------------------------
def test_registry_lists_every_claim_with_a_source():
    claims = list_claims()
    assert tuple(c.id for c in claims if c.kind == "count") == COUNT
    assert all(c.source and c.title for c in claims)
    assert [c.id for c in list_claims("count")] == list(COUNT)
    assert [c.id for c in list_claims("training")] == list(TRAINING)
    with pytest.raises(ConfigError, match="'nope'.*count, training"):
        list_claims("nope")


def test_unknown_claim_names_it_and_the_valid_ids():
    with pytest.raises(ConfigError) as err:
        run_claim("alexnet-conv2")
    assert "'alexnet-conv2'" in str(err.value) and all(c in str(err.value) for c in CLAIMS)


def test_registering_an_existing_id_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        register_claim("vgg16-memory", "again", "nowhere")(lambda: ClaimResult(()))
    assert len(list_claims()) == len(COUNT) + len(TRAINING)


def test_records_validate_their_fields():
    with pytest.raises(ValueError, match="verdict 'close'"):
        Check("x", "1", 1, "close")
    with pytest.raises(ValueError, match="repeated: x"):
        ClaimResult((Check("x", "1", 1, "agrees"), Check("x", "2", 2, "agrees")))


@pytest.mark.parametrize("claim_id", CLAIMS)
def test_every_claim_runs_to_plain_data(claim_id):
    r = result(claim_id)
    assert r.claim is not None and r.claim.id == claim_id and r.checks
    assert all(c.verdict in VERDICTS for c in r.checks)
    d = json.loads(json.dumps(claim_to_dict(r)))
    assert d["schema"] == SCHEMA and d["id"] == claim_id and len(d["checks"]) == len(r.checks)
    assert sum(d["summary"].values()) == len(r.checks)


# -- comparing printed numbers ------------------------------------------------------------
@pytest.mark.parametrize(
    "slide, value, options, verdict, how",
    [
        ("(3*3*3)*64 = 1,728", 1728, {}, "agrees", ""),  # the number after '=' is compared
        ("28x28x128x1x1x256", 25_690_112, {}, "agrees", ""),  # a product is evaluated exactly
        ("55x55x96", "55x55x96", {}, "agrees", ""),
        ("28x28x(128+192+96+256) = 28x28x672", "28x28x672", {}, "agrees", ""),
        ("35K", 34_848, {}, "rounding", "rounded to the nearest 1K"),
        ("150K", 150_528, {}, "rounding", "nearest 10K"),  # '150K' read to two figures
        ("3.8 x 10^9", 3_857_973_248, {}, "rounding", "truncated"),  # 3.86 printed 3.8
        ("24M", 15_237_608, {}, None, ""),
        ("2.33", 2, {}, None, ""),
        ("4096", 4097, {}, None, ""),  # a number written out in full is exact
        # GoogLeNet Table 1: K = 1024 and every printed digit counts.
        ("159K", 163_328, {"units": {"K": 1024}, "zeros_significant": True}, "rounding", "truncated"),  # 159.5
        ("380K", 388_096, {"units": {"K": 1024}, "zeros_significant": True}, "rounding", "one unit"),  # 379.0
        ("840K", 867_328, {"units": {"K": 1024}, "zeros_significant": True}, None, ""),  # 847.0
        ("840K", 847_000, {}, "rounding", "truncated"),  # without zeros_significant: two figures
    ],
)
def test_compare(slide, value, options, verdict, how):
    got, text = compare(slide, value, **options)
    assert got == verdict and how in text


def test_parse_printed():
    p = parse_printed("~= 96MB")
    assert (p.mantissa, p.multiplier, p.step) == (96, 10**6, 1)
    assert parse_printed("4,096,000").step == 0  # written out in full: exact
    assert parse_printed("1.8 x 10^9").step == parse_printed("3.2M").step == pytest.approx(0.1)
    assert parse_printed("7x7x512").mantissa == 25_088
    assert parse_printed("doesn't fit") is None


# -- a. AlexNet ---------------------------------------------------------------------------
def test_alexnet_conv1():
    v = values("alexnet-conv1")
    assert v["input"] == ("227x227x3", "agrees")
    assert v["CONV1 (conv1) output"] == ("55x55x96", "agrees")  # (227 - 11)/4 + 1 = 55
    assert v["MAX POOL1 (pool1) output"] == ("27x27x96", "agrees")  # (55 - 3)/2 + 1 = 27
    assert v["CONV2 (conv2) output"] == ("27x27x256", "agrees")  # (27 - 5 + 2*2)/1 + 1 = 27
    assert v["MAX POOL2 (pool2) output"] == ("13x13x256", "agrees")  # (27 - 3)/2 + 1 = 13
    assert v["CONV5 (conv5) output"] == ("13x13x256", "agrees")  # (13 - 3 + 2)/1 + 1 = 13
    assert v["MAX POOL3 (pool5) output"] == ("6x6x256", "agrees")  # (13 - 3)/2 + 1 = 6
    assert v["FC6 (fc6) output"] == ("4096", "agrees")
    # cnnlab follows the paper's order (LRN before the pool); the slide lists NORM after POOL.
    assert v["NORM1 (norm1) output"] == ("55x55x96", "differs")
    assert v["NORM2 (norm2) output"] == ("27x27x256", "differs")
    # (11*11*3)*96 = 34,848 weights: the slide's 35K (biases excluded; 34,944 with them).
    assert v["CONV1 (conv1) parameters"] == (34_848, "rounding")
    assert v["MAX POOL1 (pool1) parameters"] == (0, "agrees")
    r = result("alexnet-conv1")
    assert "(227 - 11 + 2*0)/4 + 1 = 55" in r.check("CONV1 (conv1) output").explanation
    assert "34,944 params" in r.check("CONV1 (conv1) output").explanation
    assert "(224 - 11)/4 + 1 = 54.25" in r.notes  # why 227, not the paper's 224
    assert r.summary == {"agrees": 13, "rounding": 1, "slide inconsistent": 0, "differs": 2}


# -- b. VGG16 -----------------------------------------------------------------------------
def test_vgg16_memory():
    v = values("vgg16-memory")
    assert v["INPUT memory"] == (150_528, "rounding")  # 224*224*3, printed 150K
    assert v["CONV3-64 (conv1_1) memory"] == (3_211_264, "rounding")  # 224*224*64, printed 3.2M
    assert v["POOL2 (pool1) memory"] == (802_816, "rounding")  # 112*112*64, printed 800K
    assert v["POOL2 (pool5) memory"] == (25_088, "rounding")  # 7*7*512, printed 25K
    assert v["FC (fc8) memory"] == (1000, "agrees")
    assert v["CONV3-64 (conv1_1) params"] == (1728, "agrees")  # (3*3*3)*64
    assert v["CONV3-512 (conv4_1) params"] == (1_179_648, "agrees")  # (3*3*256)*512
    assert v["FC (fc6) params"] == (102_760_448, "agrees")  # 7*7*512*4096
    assert v["FC (fc6) shape"] == ("1x1x4096", "agrees")
    assert v["POOL2 (pool3) params"] == (0, "agrees")
    # The rows: input + 2 conv1 + pool1 + 2 conv2 + pool2 + 3 conv3 + pool3 + 3 conv4 + pool4
    # + 3 conv5 + pool5 + fc6 + fc7 + fc8.
    rows = (
        150_528
        + 2 * 3_211_264
        + 802_816
        + 2 * 1_605_632
        + 401_408
        + 3 * 802_816
        + 200_704
        + 3 * 401_408
        + 100_352
        + 3 * 100_352
        + 25_088
        + 4096
        + 4096
        + 1000
    )
    assert rows == 15_237_608
    assert v["TOTAL memory (values per image)"] == (15_237_608, "slide inconsistent")  # not 24M
    assert v["TOTAL memory (bytes per image, forward)"] == (15_237_608 * 4, "slide inconsistent")  # 60,950,432
    # 138,357,544 parameters minus 13,416 biases (64*2 + 128*2 + 256*3 + 512*6 + 4096*2 + 1000).
    assert v["TOTAL params"] == (138_357_544 - 13_416, "rounding")
    r = result("vgg16-memory")
    assert "15.1842M" in r.check("TOTAL memory (values per image)").explanation  # the printed rows' sum
    # analyze's activation_elements also counts the AdaptiveAvgPool2d(7) row (7*7*512 = 25,088).
    assert analyze("vgg16", measure_saved=False).activation_elements == 15_237_608 + 25_088
    assert r.summary == {"agrees": 47, "rounding": 20, "slide inconsistent": 2, "differs": 0}


# -- c. GoogLeNet Table 1 -------------------------------------------------------------------
def test_googlenet_table1():
    v = values("googlenet-table1")
    assert v["conv1 output"] == ("112x112x64", "agrees")
    assert v["conv1 params"] == (9408, "slide inconsistent")  # 7*7*3*64, printed 2.7K
    assert v["conv1 ops"] == (118_013_952, "slide inconsistent")  # 9,408 * 112*112, printed 34M
    assert v["conv2 params"] == (114_688, "agrees")  # 64*64 + 3*3*64*192 = 112 * 1024
    assert v["conv2 ops"] == (359_661_568, "rounding")  # 114,688 * 56*56, printed 360M
    # 3a: 192*64 + 192*96 + 9*96*128 + 192*16 + 25*16*32 + 192*32 = 163,328 = 159.5K, printed 159K.
    assert v["inception (3a) params"] == (163_328, "rounding")
    assert v["inception (3a) ops"] == (128_049_152, "rounding")  # 163,328 * 28*28
    assert v["inception (3b) params"] == (388_096, "rounding")  # 379.0K printed 380K: one unit off
    assert v["inception (5a) ops"] == (51_079_168, "slide inconsistent")  # 1,042,432 * 7*7, printed 54M
    assert v["inception (5b) output"] == ("7x7x1024", "agrees")
    assert v["fc params"] == (1_024_000, "agrees")  # 1024*1000 = 1000K exactly
    assert v["dropout output"] == ("1x1x1024", "agrees")
    # The rows whose printed params do not follow from their filters are exactly PRINTED_PARAMS_OFF,
    # and cnnlab's weights give the K values it lists.
    r = result("googlenet-table1")
    off = {c.quantity for c in r.checks if c.quantity.endswith("params") and c.verdict == "slide inconsistent"}
    names = {"conv1": "conv1"} | {f"inception{k}": f"inception ({k})" for k in ("4a", "4c", "4d", "4e", "5a", "5b")}
    assert off == {f"{names[n]} params" for n in PRINTED_PARAMS_OFF}
    for name, (_, k_from_filters) in PRINTED_PARAMS_OFF.items():
        assert r.check(f"{names[name]} params").cnnlab == k_from_filters * 1024
    ops_off = {
        c.quantity for c in r.checks if c.quantity.endswith("ops") and c.verdict != "rounding" and c.verdict != "agrees"
    }
    assert ops_off == {"conv1 ops", "inception (5a) ops"}
    assert "2.7K x 112 x 112 = 34.6817M" in r.check("conv1 ops").explanation
    assert "1,502M" in r.notes  # the printed ops' sum: the paper's 1.5 billion
    assert r.summary == {"agrees": 20, "rounding": 13, "slide inconsistent": 9, "differs": 0}


# -- d. Naive vs bottleneck Inception -------------------------------------------------------
def test_inception_naive_vs_bottleneck():
    v = values("inception-naive-vs-bottleneck")
    assert v["naive output"] == ("28x28x672", "agrees")  # 128 + 192 + 96 + 256
    # 28*28*256 * (128 + 9*192 + 25*96) = 200,704 * 4,256
    assert v["naive total ops"] == (854_196_224, "rounding")
    assert v["naive [5x5 conv, 96] ops"] == (481_689_600, "agrees")  # 28*28*96*25*256
    # 28*28 * (256*64 + 256*64 + 256*128 + 9*64*192 + 25*64*96 + 256*64)
    #   = 12,845,056 * 2 + 25,690,112 + 86,704,128 + 120,422,400 + 12,845,056
    assert v["bottleneck total ops"] == (271_351_808, "slide inconsistent")
    assert v["bottleneck [3x3 conv, 192] ops"] == (86_704_128, "agrees")  # 28*28*192*9*64
    # 358M = 271,351,808 + 86,704,128 (the 3x3 term twice) = 358,055,936
    assert "358,055,936" in result("inception-naive-vs-bottleneck").check("bottleneck total ops").explanation
    assert "28x28x480" in result("inception-naive-vs-bottleneck").notes


# -- e. 1x1 bottleneck ------------------------------------------------------------------------
def test_bottleneck_1x1():
    v = values("bottleneck-1x1")
    assert v["5x5 conv, 32 filters: multiply-adds"] == (120_422_400, "rounding")  # 28*28*32 * 5*5*192
    assert v["1x1 conv, 16 filters: multiply-adds"] == (2_408_448, "rounding")  # 28*28*16 * 192
    assert v["then 5x5 conv, 32 filters: multiply-adds"] == (10_035_200, "rounding")  # 28*28*32 * 5*5*16
    assert v["with the bottleneck: total multiply-adds"] == (12_443_648, "rounding")  # the sum
    assert v["5x5 conv, 32 filters: output"] == ("28x28x32", "agrees")


# -- f. Stacked 3x3 -----------------------------------------------------------------------------
def test_stacked_3x3():
    v = values("stacked-3x3")
    # 1 + 2 + 2 + 2 = 7, analytic and from gradients; one 7x7 sees 7.
    for label in ("three 3x3 convs", "one 7x7 conv"):
        assert v[f"{label}: receptive field (analytic)"] == ("7x7", "agrees")
        assert v[f"{label}: receptive field (from gradients)"] == ("7x7", "agrees")
    for c in (64, 512):
        assert v[f"three 3x3 convs: weights / C^2 (C={c})"] == (27, "agrees")  # 3 * 3*3 * C*C
        assert v[f"one 7x7 conv: weights / C^2 (C={c})"] == (49, "agrees")  # 7*7 * C*C
    assert (
        "110,592 weights" in result("stacked-3x3").check("three 3x3 convs: weights / C^2 (C=64)").explanation
    )  # 27 * 64^2


# -- g. ResNet --------------------------------------------------------------------------------
def test_resnet_flops():
    v = values("resnet-flops")
    assert v["resnet18 multiply-adds"] == (1_814_073_344, "rounding")  # 1.81 -> 1.8
    assert v["resnet34 multiply-adds"] == (3_663_761_408, "rounding")  # 3.66 printed 3.6 (truncated)
    assert v["resnet50 multiply-adds"] == (3_857_973_248, "rounding")  # 3.86 printed 3.8 (truncated)
    assert v["resnet101 multiply-adds"] == (7_570_194_432, "rounding")
    assert v["resnet152 multiply-adds"] == (11_282_415_616, "rounding")
    # stride on the 3x3: the first 1x1 of conv3_1, conv4_1, conv5_1 runs at 4x the positions:
    # 256*128*(56^2 - 28^2) = 512*256*(28^2 - 14^2) = 1024*512*(14^2 - 7^2) = 77,070,336, x3 = 231,211,008.
    assert v["resnet50 multiply-adds, stride_at='3x3'"] == (3_857_973_248 + 231_211_008, "differs")
    assert v["resnet101 multiply-adds, stride_at='3x3'"] == (7_570_194_432 + 231_211_008, "differs")
    assert v["resnet152 multiply-adds, stride_at='3x3'"] == (11_282_415_616 + 231_211_008, "differs")
    assert "+77,070,336" in result("resnet-flops").check("resnet50 multiply-adds, stride_at='3x3'").explanation


# -- h. Local connectivity ------------------------------------------------------------------------
def test_local_connectivity():
    v = values("local-connectivity")
    assert v["fully connected: weights"] == (21, "agrees")  # 7 * 3
    assert v["locally connected: weights"] == (9, "agrees")  # 3 outputs * 3 taps
    assert v["shared (conv1d): weights"] == (3, "agrees")  # one 3-tap kernel
    assert v["fully connected: inputs seen by each output"] == ("7", "agrees")
    assert v["locally connected: inputs seen by each output"] == ("3", "agrees")
    assert v["shared (conv1d): inputs seen by each output"] == ("3", "agrees")
    assert (
        "0-2, 2-4, 4-6"
        in result("local-connectivity").check("locally connected: inputs seen by each output").explanation
    )


# -- i. CS231n lecture 5 ----------------------------------------------------------------------------
def test_conv_layer_examples():
    v = values("conv-layer-examples")
    assert v["6 5x5x3 filters: output"] == ("28x28x6", "agrees")  # 32 - 5 + 1
    assert v["then 10 5x5x6 filters: output"] == ("24x24x10", "agrees")  # 28 - 5 + 1
    assert v["7x7 input, 3x3 filter, stride 2: output side"] == (3, "agrees")  # (7 - 3)/2 + 1
    assert v["7x7 input, 3x3 filter, stride 3: output side"] == (2, "differs")  # floor(2.33)
    assert v["32x32x3, 10 5x5 filters, stride 1, pad 2: params"] == (760, "agrees")  # (5*5*3 + 1) * 10
    assert v["1x1 conv, 32 filters: weights per filter"] == (64, "agrees")


# -- CLI ------------------------------------------------------------------------------------------
def cli(*argv):
    lines = []
    code = main(list(argv), print_fn=lines.append)
    return code, "\n".join(lines)


def test_cli_list():
    code, out = cli("repro", "list")
    assert code == 0 and all(c in out for c in CLAIMS) and "Table 1" in out
    assert (
        f"the {len(TRAINING)} training claims with `cnnlab repro run all --kind training`" in out
    )  # 'all' alone: counts
    code, out = cli("repro", "list", "--format", "json")
    assert [r["id"] for r in json.loads(out)] == [*COUNT, *TRAINING]
    code, out = cli("repro", "list", "--kind", "count", "--format", "json")
    assert [r["id"] for r in json.loads(out)] == list(COUNT)


def test_cli_run_text():
    code, out = cli("repro", "run", "inception-naive-vs-bottleneck")
    assert code == 0
    assert "quantity" in out and "slide" in out and "cnnlab" in out and "verdict" in out
    assert "271,351,808" in out and "slide inconsistent" in out and "358M" in out
    assert "358,055,936" in out  # the explanation
    assert "slide inconsistent: the printed number does not follow" in out  # the legend


def test_cli_run_json_all_and_repeats():
    code, out = cli("repro", "run", "all", "stacked-3x3", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["schema"] == SCHEMA and set(data["verdicts"]) == set(VERDICTS)
    assert [c["id"] for c in data["claims"]] == list(COUNT)  # 'all' once each, in order
    vgg = next(c for c in data["claims"] if c["id"] == "vgg16-memory")
    total = next(k for k in vgg["checks"] if k["quantity"] == "TOTAL memory (values per image)")
    assert (total["slide"], total["cnnlab"], total["verdict"]) == ("24M", 15_237_608, "slide inconsistent")


def test_cli_unknown_id_is_an_error(capsys):
    assert cli("repro", "run", "stacked-3x3", "nope")[0] == 1
    err = capsys.readouterr().err
    assert err.startswith("cnnlab repro: error: unknown claim 'nope'") and "stacked-3x3" in err


def test_options_a_claim_does_not_take_are_refused():
    with pytest.raises(ConfigError, match=r"'stacked-3x3' does not take the options \['epochs'\].*no options"):
        run_claim("stacked-3x3", epochs=3)


def test_googlenet_conv1_figures_are_a_separable_conv1s():
    """Table 1's conv1 prints 2.7K params and 34M ops: BN-Inception's depthwise-separable conv1
    (depth multiplier 8) has 2,712 weights (2.65K) and 34,019,328 multiply-adds."""
    result = run_claim("googlenet-table1")
    for quantity in ("conv1 params", "conv1 ops"):
        check = result.check(quantity)
        assert check.verdict == "slide inconsistent"
        assert "bn_inception(conv1_depth_multiplier=8): 2,712 weights" in check.explanation
        assert "34,019,328 multiply-adds" in check.explanation
