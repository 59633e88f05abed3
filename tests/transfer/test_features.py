"""Features from any layer: equal to the layer's own output, pooled as asked, streamed to a
cache on disk batch by batch so that a second extraction maps the file and runs no forward
pass, never a half-written entry, and clear errors for bad names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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


def _entries(root: Path) -> list[Path]:
    """The cache's entries; temporary folders are hidden (``.KEY.*.tmp``)."""
    return sorted(p for p in root.iterdir() if not p.name.startswith("."))


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


def test_a_second_extraction_maps_the_cache_and_runs_no_forward_pass(lenet, digits, tmp_path, monkeypatch) -> None:
    cache = FeatureCache(tmp_path)
    calls = _count_forwards(lenet, monkeypatch)
    first = extract_features(lenet, digits, ["s4", "head"], mean=MEAN, std=STD, cache=cache, batch_size=32)
    assert calls[0] == 3 and len(_entries(tmp_path)) == 2  # 96 images in batches of 32
    calls[0] = 0
    again = extract_features(lenet, digits, ["head", "s4"], mean=MEAN, std=STD, cache=cache, batch_size=32)
    assert calls[0] == 0 and all(f.cached for f in again.values())
    assert torch.equal(again["s4"].features, first["s4"].features) and torch.equal(again["head"].labels, digits.labels)
    # Mapped, not read: the file is in this process's memory map and the tensor is a view of it.
    path = again["s4"].path
    assert path is not None and path.name == "features.npy" and path.parent in _entries(tmp_path)
    maps = Path("/proc/self/maps")
    if maps.exists():
        assert str(path.resolve()) in maps.read_text()
    # Copy-on-write: a caller writing into the tensor changes its copy, never the cache.
    again["s4"].features.zero_()
    assert torch.equal(torch.from_numpy(np.load(path)), first["s4"].features)
    # A new layer beside cached ones: one pass for it alone, the others still read from disk.
    more = extract_features(lenet, digits, ["s4", "act1"], mean=MEAN, std=STD, cache=cache, batch_size=32)
    assert calls[0] == 3 and more["s4"].cached and not more["act1"].cached


def test_streamed_features_equal_the_in_memory_ones(lenet, digits, tmp_path) -> None:
    layers = ["act1", "s4", "head"]
    kw = {"mean": MEAN, "std": STD, "pool": "flatten", "batch_size": 40}  # 96 images: a last batch of 16
    memory = extract_features(lenet, digits, layers, **kw)
    streamed = extract_features(lenet, digits, layers, cache=FeatureCache(tmp_path), **kw)
    mapped = extract_features(lenet, digits, layers, cache=FeatureCache(tmp_path), **kw)
    for layer in layers:
        assert memory[layer].path is None and not streamed[layer].cached and mapped[layer].cached
        assert streamed[layer].features.shape == (96, {"act1": 4704, "s4": 400, "head": 84}[layer])
        assert torch.equal(streamed[layer].features, memory[layer].features)
        assert torch.equal(mapped[layer].features, memory[layer].features)
        assert torch.equal(mapped[layer].labels, memory[layer].labels)


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
    assert calls[0] == 4 and len(_entries(tmp_path)) == 5


def test_cache_entries_are_npy_files_and_a_damaged_one_is_recomputed(lenet, digits, tmp_path) -> None:
    cache = FeatureCache(tmp_path)
    first = extract_features(lenet, digits, ["head"], mean=MEAN, std=STD, cache=cache)["head"]
    (entry,) = _entries(tmp_path)
    old_format = tmp_path / f"{entry.name}.safetensors"  # the same key's file in the first format
    old_format.write_bytes(b"an entry of format 1")
    (entry / "meta.json").write_text("{")  # recomputed: the old file goes with the new entry
    assert not extract_features(lenet, digits, ["head"], mean=MEAN, std=STD, cache=cache)["head"].cached
    assert not old_format.exists()
    assert sorted(p.name for p in entry.iterdir()) == ["features.npy", "labels.npy", "meta.json"]
    assert torch.equal(torch.from_numpy(np.load(entry / "features.npy", allow_pickle=False)), first.features)
    assert list(tmp_path.iterdir()) == [entry]  # filled under a temporary name, then renamed
    size = (entry / "features.npy").stat().st_size
    damage = {
        "features.npy": (entry / "features.npy").read_bytes()[: size // 2],  # what a non-atomic writer leaves
        "labels.npy": b"\x80\x04 a pickle, never loaded",
        "meta.json": b"{",
    }
    for name, spoilt in damage.items():
        # A new file in its place: truncating a file another array maps would kill the process (SIGBUS).
        (entry / "spoilt").write_bytes(spoilt)
        (entry / "spoilt").replace(entry / name)
        again = extract_features(lenet, digits, ["head"], mean=MEAN, std=STD, cache=cache)["head"]
        assert not again.cached and torch.equal(again.features, first.features), name
        assert extract_features(lenet, digits, ["head"], mean=MEAN, std=STD, cache=cache)["head"].cached
    assert list(tmp_path.iterdir()) == [entry] and (entry / "features.npy").stat().st_size == size


@pytest.mark.parametrize("stop", [RuntimeError("disk trouble"), KeyboardInterrupt()])
def test_an_interrupted_extraction_leaves_no_entry(lenet, digits, tmp_path, monkeypatch, stop) -> None:
    cache = FeatureCache(tmp_path)
    inner, seen = lenet.c1.forward, []

    def failing(x):
        seen.append(x.device.type != "meta")  # the model's input check traces on the meta device
        if sum(seen) == 2:  # the second batch of 32, after the first was written
            raise stop
        return inner(x)

    monkeypatch.setattr(lenet.c1, "forward", failing)
    with pytest.raises(type(stop)):
        extract_features(lenet, digits, ["s4", "head"], mean=MEAN, std=STD, cache=cache, batch_size=32)
    assert list(tmp_path.iterdir()) == []  # neither an entry nor a temporary folder
    monkeypatch.setattr(lenet.c1, "forward", inner)
    again = extract_features(lenet, digits, ["s4", "head"], mean=MEAN, std=STD, cache=cache, batch_size=32)
    assert not any(f.cached for f in again.values()) and len(_entries(tmp_path)) == 2


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
