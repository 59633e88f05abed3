"""Features from any layer: equal to the layer's own output, pooled as asked, cached on disk
so that a second extraction runs no forward pass, and clear errors for bad names."""

from __future__ import annotations

import pytest
import torch

import cnnlab
from cnnlab.data import ImageTensors, load_dataset
from cnnlab.errors import ConfigError
from cnnlab.transfer import FeatureCache, check_layers, extract_features, pool_features, stage_layers

MEAN, STD = (0.3058,), (0.3240,)


@pytest.fixture(scope="module")
def digits():
    data = load_dataset("digits", "test")
    return ImageTensors(data.images[:96], data.labels[:96], data.info)


@pytest.fixture
def lenet():
    return cnnlab.create_model("lenet5").eval()


def _count_forwards(model, monkeypatch) -> list[int]:
    # An attribute, not a hook: prepared() sets the user's hooks aside while it extracts.
    calls = [0]
    inner = model.c1.forward

    def counted(x):
        calls[0] += x.device.type != "meta"  # the model's input check traces on the meta device
        return inner(x)

    monkeypatch.setattr(model.c1, "forward", counted)
    return calls


def test_features_are_the_pooled_outputs_of_the_layers(lenet, digits) -> None:
    got = extract_features(lenet, digits, ["s4", "head", "c5"], mean=MEAN, std=STD, batch_size=40)
    x = (digits.images.float() / 255 - MEAN[0]) / STD[0]
    with torch.no_grad():
        s4 = lenet.forward_features(x)
        head = lenet.forward_head(s4, pre_logits=True)
        c5 = lenet.c5(torch.flatten(s4, 1))
    torch.testing.assert_close(got["s4"].features, s4.mean(dim=(2, 3)))
    torch.testing.assert_close(got["head"].features, head)
    torch.testing.assert_close(got["c5"].features, c5)  # already a vector: kept as it is
    assert torch.equal(got["head"].labels, digits.labels) and not got["head"].cached
    assert stage_layers(lenet) == ["act1", "s4", "head"]


def test_pooling_modes() -> None:
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    assert pool_features(x, "avg").shape == (2, 3)
    assert pool_features(x, "avg2").shape == (2, 12)
    assert pool_features(x, "flatten").shape == (2, 48)
    torch.testing.assert_close(pool_features(x, "avg1"), pool_features(x, "avg"))


def test_a_second_extraction_reads_the_cache_and_runs_no_forward_pass(lenet, digits, tmp_path, monkeypatch) -> None:
    cache = FeatureCache(tmp_path)
    calls = _count_forwards(lenet, monkeypatch)
    first = extract_features(lenet, digits, ["s4", "head"], mean=MEAN, std=STD, cache=cache, batch_size=32)
    assert calls[0] == 3 and len(list(tmp_path.glob("*.safetensors"))) == 2  # 96 images in batches of 32
    calls[0] = 0
    again = extract_features(lenet, digits, ["head", "s4"], mean=MEAN, std=STD, cache=cache, batch_size=32)
    assert calls[0] == 0 and all(f.cached for f in again.values())
    assert torch.equal(again["s4"].features, first["s4"].features) and torch.equal(again["head"].labels, digits.labels)
    # A new layer beside cached ones: one pass for it alone, the others still read from disk.
    more = extract_features(lenet, digits, ["s4", "act1"], mean=MEAN, std=STD, cache=cache, batch_size=32)
    assert calls[0] == 3 and more["s4"].cached and not more["act1"].cached


def test_the_cache_key_follows_weights_preprocessing_and_images(lenet, digits, tmp_path, monkeypatch) -> None:
    cache = FeatureCache(tmp_path)
    extract_features(lenet, digits, ["head"], mean=MEAN, std=STD, cache=cache)
    calls = _count_forwards(lenet, monkeypatch)
    assert not extract_features(lenet, digits, ["head"], mean=(0.1307,), std=(0.3081,), cache=cache)["head"].cached
    fewer = ImageTensors(digits.images[:50], digits.labels[:50], digits.info)
    assert not extract_features(lenet, fewer, ["head"], mean=MEAN, std=STD, cache=cache)["head"].cached
    assert not extract_features(lenet, digits, ["head"], mean=MEAN, std=STD, pool="flatten", cache=cache)["head"].cached
    with torch.no_grad():
        lenet.f6.bias.add_(1.0)
    assert not extract_features(lenet, digits, ["head"], mean=MEAN, std=STD, cache=cache)["head"].cached
    assert calls[0] == 4 and len(list(tmp_path.glob("*.safetensors"))) == 5


def test_cache_files_are_safetensors_and_a_damaged_one_is_recomputed(lenet, digits, tmp_path) -> None:
    from safetensors.torch import load_file

    cache = FeatureCache(tmp_path)
    first = extract_features(lenet, digits, ["head"], mean=MEAN, std=STD, cache=cache)["head"]
    (path,) = tmp_path.glob("*.safetensors")
    assert set(load_file(str(path))) == {"features", "labels"}
    assert not list(tmp_path.glob("*.tmp"))  # written to a temporary file, then renamed
    path.write_bytes(b"\x80\x04 not safetensors")
    again = extract_features(lenet, digits, ["head"], mean=MEAN, std=STD, cache=cache)["head"]
    assert not again.cached and torch.equal(again.features, first.features)
    assert set(load_file(str(path))) == {"features", "labels"}


def test_bad_layer_names_and_pools_name_the_value_and_the_valid_ones(lenet) -> None:
    with pytest.raises(
        ConfigError,
        match=r"unknown layer\(s\) 'c9' for lenet5 \(did you mean c5, c3, c1\?\); "
        r"valid: 'head'.*stages act1, s4.*c1, act1, s2",
    ):
        check_layers(lenet, ["head", "c9"])
    with pytest.raises(ConfigError, match="non-empty list"):
        check_layers(lenet, [])
    assert check_layers(lenet, ["s4", "head", "s4"]) == ["s4", "head"]
    with pytest.raises(ConfigError, match=r"pool='max' is not one of 'avg'.*'avgK'.*'flatten'"):
        extract_features(lenet, None, ["head"], mean=MEAN, std=STD, pool="max")


def test_feature_extraction_shows_images_per_second_and_fills_in_place(capsys):
    """Long extractions were silent (issue 19): a bar with the rate and the time left."""
    import cnnlab
    from cnnlab.data import load_dataset
    from cnnlab.transfer.features import extract_features

    model = cnnlab.create_model("lenet5").eval()
    data = load_dataset("digits", "test")
    feats = extract_features(model, data, ["s4"], mean=(0.5,), std=(0.5,), batch_size=64, progress=True)
    err = capsys.readouterr().err
    assert "features of s4" in err and "img/s" in err
    assert feats["s4"].features.shape[0] == len(data) == feats["s4"].labels.shape[0]
