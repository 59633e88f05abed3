"""Weight import: torchvision models with random weights load into cnnlab with equal logits;
local files load without network and without executing code."""

from __future__ import annotations

import pickle

import pytest
import torch

import cnnlab
from cnnlab.errors import WeightsError
from cnnlab.weights import read_state_dict, torchvision_cache_path

TV_MODELS = [n for n in cnnlab.list_models() if cnnlab.model_card(n).torchvision is not None]
assert len(TV_MODELS) >= 20  # a registry that lost torchvision's mapping fails here rather than skipping


def _torchvision_model(name):
    import torchvision.models as tvm

    tv = cnnlab.model_card(name).torchvision
    return getattr(tvm, tv.builder)(weights=None, **tv.builder_kwargs).eval()


# VGG's remap is one positional rule for every column: vgg11 and vgg11_bn (plain and with
# BatchNorm) stand for the columns in `make test`; the other six (130M+ parameters each, 4-6 s
# apiece on the 2-core CPU) run under -m slow.
_VGG_SLOW = {"vgg13", "vgg16", "vgg19", "vgg13_bn", "vgg16_bn", "vgg19_bn"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in _VGG_SLOW else n for n in TV_MODELS])
def test_torchvision_weights_give_equal_logits(name, tmp_path):
    card = cnnlab.model_card(name)
    reference = _torchvision_model(name)
    path = tmp_path / "tv.pth"
    torch.save(reference.state_dict(), path)
    model = cnnlab.create_model(name, weights=path, **card.torchvision.model_kwargs).eval()
    x = torch.randn(2, *(card.test_input_size or card.input_size))
    with torch.no_grad():
        diff = (model(x) - reference(x)).abs().max().item()
    assert diff <= 1e-5, f"{name}: max abs logit difference {diff:g}"
    assert model.pretrained_cfg["source"] == str(path)


def test_cnnlab_file_roundtrip_safetensors_and_pth(tmp_path):
    from safetensors.torch import save_file

    model = cnnlab.create_model("lenet5").eval()
    save_file(model.state_dict(), str(tmp_path / "w.safetensors"))
    torch.save({"state_dict": model.state_dict(), "epoch": 3}, tmp_path / "ckpt.pth")
    x = torch.randn(2, 1, 32, 32)
    for file in ("w.safetensors", "ckpt.pth"):
        other = cnnlab.create_model("lenet5", weights=tmp_path / file).eval()
        assert torch.equal(other(x), model(x))


class _Evil:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))


def test_file_that_runs_code_when_unpickled_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"w": _Evil()}, f, protocol=2)
    with pytest.raises(WeightsError, match="weights_only"):
        read_state_dict(path)
    assert not (tmp_path / "PWNED").exists()


def test_missing_file_and_wrong_classes_are_clear(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        cnnlab.create_model("lenet5", weights=tmp_path / "nope.pth")
    torch.save(cnnlab.create_model("lenet5", num_classes=4).state_dict(), tmp_path / "w.pth")
    with pytest.raises(WeightsError, match=r"shape mismatch.*output.weight"):
        cnnlab.create_model("lenet5", weights=tmp_path / "w.pth")


def test_torchvision_weights_offline_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    name = TV_MODELS[0]
    with pytest.raises(WeightsError, match=r"Offline\?.*place it at .*hub/checkpoints"):
        cnnlab.create_model(name, weights="torchvision")


def test_torchvision_weights_read_from_hub_cache_offline(tmp_path, monkeypatch):
    """A file already in the torch hub cache loads with no network at all."""
    import torchvision.models as tvm

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", None)  # any network use would fail
    name = min(TV_MODELS, key=lambda n: cnnlab.model_card(n).params)
    card = cnnlab.model_card(name)
    url = tvm.get_weight(card.torchvision.weights).url
    path = torchvision_cache_path(url)
    path.parent.mkdir(parents=True)
    torch.save(_torchvision_model(name).state_dict(), path)
    model = cnnlab.create_model(name, weights="torchvision", **card.torchvision.model_kwargs)
    assert model.pretrained_cfg["source"].startswith("torchvision ")
    assert model.pretrained_cfg["mean"] == (0.485, 0.456, 0.406)


def test_model_without_torchvision_weights():
    with pytest.raises(WeightsError, match="lenet5 has no torchvision weights"):
        cnnlab.create_model("lenet5", weights="torchvision")


def test_checkpoint_without_batchnorm_counters_loads(tmp_path):
    """Files saved before PyTorch 0.4.1 have no num_batches_tracked; they still load."""
    model = cnnlab.create_model("minivgg").eval()
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "old.pth")
    other = cnnlab.create_model("minivgg", weights=tmp_path / "old.pth").eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(other(x), model(x))


# -- files that say which model they came from ---------------------------------------------------
def test_create_model_records_its_options():
    model = cnnlab.create_model("resnet20", num_classes=5, shortcut="B")
    assert model.build_options == {"shortcut": "B"}
    assert cnnlab.create_model("lenet5").build_options == {}


def _export(model, path):
    from cnnlab.transfer.export import export_model

    export_model(model.eval(), path, "safetensors")
    return path


def test_exported_weights_refuse_a_model_of_another_build(tmp_path):
    # plain20 and resnet20 hold the same tensors (option A shortcuts have none), so the
    # weights would load silently and compute something else.
    path = _export(cnnlab.create_model("plain20"), tmp_path / "plain20.safetensors")
    with pytest.raises(WeightsError, match=r"create_model\('plain20'\).*this model is create_model\('resnet20'\)"):
        cnnlab.create_model("resnet20", weights=path)
    # same name, a structural option changed: refused, and the message gives the build to use
    path = _export(cnnlab.create_model("resnet20", shortcut="C"), tmp_path / "r20c.safetensors")
    with pytest.raises(WeightsError, match=r"create_model\('resnet20', shortcut='C', weights=\.\.\.\)"):
        cnnlab.create_model("resnet20", shortcut="B", weights=path)
    ok = cnnlab.create_model("resnet20", shortcut="C", weights=path)
    assert ok.build_options == {"shortcut": "C"}


def test_exported_weights_ignore_regularisation_options_and_explicit_defaults(tmp_path):
    path = _export(cnnlab.create_model("resnet20", drop_path_rate=0.2), tmp_path / "sd.safetensors")
    x = torch.randn(2, 3, 32, 32)
    reference = cnnlab.create_model("resnet20", drop_path_rate=0.2).eval()
    reference.load_state_dict(read_state_dict(path))
    for options in ({}, {"shortcut": "A"}, {"drop_path_rate": 0.5}):  # eval computes the same function
        model = cnnlab.create_model("resnet20", weights=path, **options).eval()
        assert torch.equal(model(x), reference(x))
    # LeNet-5 trained on 32x32 digits, run on 28x28 MNIST with padding=2: the weights mean the same
    path = _export(cnnlab.create_model("lenet5"), tmp_path / "lenet5.safetensors")
    padded = cnnlab.create_model("lenet5", padding=2, weights=path).eval()
    plain = cnnlab.create_model("lenet5", weights=path).eval()
    x = torch.randn(2, 1, 28, 28)
    assert torch.equal(padded(x), plain(torch.nn.functional.pad(x, (2, 2, 2, 2))))


def test_exported_weights_bring_their_preprocessing(tmp_path):
    model = cnnlab.create_model("lenet5")
    model.pretrained_cfg = {**model.pretrained_cfg, "mean": (0.5,), "std": (0.25,), "classes": list("abcdefghij")}
    path = _export(model, tmp_path / "lenet5.safetensors")
    loaded = cnnlab.create_model("lenet5", weights=path)
    assert loaded.pretrained_cfg["mean"] == (0.5,) and loaded.pretrained_cfg["std"] == (0.25,)
    assert loaded.pretrained_cfg["classes"] == list("abcdefghij")
    assert loaded.pretrained_cfg["input_size"] == (1, 32, 32)
    assert loaded.pretrained_cfg["source"] == str(path)


def test_training_checkpoint_names_its_model(tmp_path):
    from cnnlab.engine.checkpoint import model_config

    source = cnnlab.create_model("plain20", num_classes=4)
    path = tmp_path / "last.pt"
    torch.save({"model_config": model_config(source), "model": source.state_dict(), "epoch": 1}, path)
    assert model_config(source)["options"] == {}
    with pytest.raises(WeightsError, match="plain20"):
        cnnlab.create_model("resnet20", num_classes=4, weights=path)
    loaded = cnnlab.create_model("plain20", num_classes=4, weights=path).eval()
    x = torch.randn(1, 3, 32, 32)
    assert torch.equal(loaded(x), source.eval()(x))


def test_plain_state_dicts_are_not_checked(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "plain.safetensors"
    plain = cnnlab.create_model("plain20").eval()
    save_file(plain.state_dict(), str(path))
    loaded = cnnlab.create_model("resnet20", weights=path).eval()  # nothing says where these came from
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), plain.state_dict().values()))


def test_export_rebuilds_with_the_options_the_model_was_built_with(tmp_path):
    from cnnlab.transfer.export import load_safetensors, read_metadata

    path = _export(
        cnnlab.create_model("densenet_bc_100_12", num_classes=3, depth=40, growth_rate=6), tmp_path / "d.safetensors"
    )
    assert read_metadata(path)["options"] == {"depth": 40, "growth_rate": 6}
    assert load_safetensors(path).build_options == {"depth": 40, "growth_rate": 6}
