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


def _torchvision_model(name):
    import torchvision.models as tvm

    tv = cnnlab.model_card(name).torchvision
    return getattr(tvm, tv.builder)(weights=None, **tv.builder_kwargs).eval()


@pytest.mark.parametrize("name", TV_MODELS)
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
    if not TV_MODELS:
        pytest.skip("no torchvision-compatible model registered")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    name = TV_MODELS[0]
    with pytest.raises(WeightsError, match=r"Offline\?.*place it at .*hub/checkpoints"):
        cnnlab.create_model(name, weights="torchvision")


def test_torchvision_weights_read_from_hub_cache_offline(tmp_path, monkeypatch):
    """A file already in the torch hub cache loads with no network at all."""
    if not TV_MODELS:
        pytest.skip("no torchvision-compatible model registered")
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
