"""cnnlab.explain.cams (Score-CAM, LayerCAM, HiResCAM, Eigen-CAM, Guided Grad-CAM): against
pytorch-grad-cam and Captum on the small net and pixels of test_differential (the peers get
``Sequential(Normalize(mean, std), net)``, so they see the same function of pixels), a batch
equal to its images one at a time, the model left as found, and bad layers refused. Each
differential test states the convention difference it corrects for beside its tolerance.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnnlab
from cnnlab.errors import ConfigError
from cnnlab.explain import attribution as A
from cnnlab.explain import cams as C
from cnnlab.explain.access import Preprocess, run_to
from tests.explain.test_differential import TARGETS, _scaled_like_pytorch_grad_cam, images, net, pixels_model
from tests.helpers import assert_same_fingerprint, model_fingerprint

captum_attr = pytest.importorskip("captum.attr")
grad_cam_lib = pytest.importorskip("pytorch_grad_cam")
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402
from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection  # noqa: E402

METHODS = {
    "score-cam": lambda m, x, t, layer: C.score_cam(m, x, t, layer=layer, batch_size=5, progress=False),
    "layer-cam": lambda m, x, t, layer: C.layer_cam(m, x, t, layer=layer),
    "hires-cam": lambda m, x, t, layer: C.hires_cam(m, x, t, layer=layer),
    "eigen-cam": lambda m, x, t, layer: C.eigen_cam(m, x, t, layer=layer),
    "guided-grad-cam": lambda m, x, t, layer: C.guided_grad_cam(m, x, t, layer=layer),
}


def _peer(name: str, model: nn.Module, layer: int):
    peer = pixels_model(model)
    return getattr(grad_cam_lib, name)(model=peer, target_layers=[peer[1][layer]])


def _targets() -> list:
    return [ClassifierOutputTarget(int(t)) for t in TARGETS]


def _acts(model: nn.Module, x: torch.Tensor, layer: str) -> torch.Tensor:
    with torch.no_grad():
        return run_to(model, Preprocess.of(model).normalize(x), layer)[layer]


# ------------------------------------------------------------------ against the peers


@pytest.mark.parametrize(("ours", "peer"), [(C.layer_cam, "LayerCAM"), (C.hires_cam, "HiResCAM")])
def test_layer_cam_and_hires_cam_equal_pytorch_grad_cam(ours, peer):
    """pytorch-grad-cam sums ReLU(g) * A (LayerCAM) or g * A (HiResCAM) over channels, takes
    the ReLU, then min-max scales each map twice and resizes it to the input; at layer "1"
    (8 x 8, the input's size) the resize is the identity, so cnnlab's raw map scaled the same
    way is compared. Float rounding only: 1e-5."""
    model, x = net(), images()
    mine = ours(model, x, TARGETS, layer="1")
    with _peer(peer, model, 1) as cam:
        theirs = cam(input_tensor=x.clone(), targets=_targets())
    np.testing.assert_allclose(_scaled_like_pytorch_grad_cam(mine.maps).numpy(), theirs, rtol=1e-5, atol=1e-6)


def test_score_cam_equals_pytorch_grad_cam_on_the_same_pixels():
    """With the normalisation inside the peer's model, pytorch-grad-cam masks the pixels and
    then normalises, as cnnlab does (and as the paper masks the input image); logit scores,
    softmax over channels and the 1e-8 in the min-max denominator are the same. Layer "1" is
    8 x 8, so both upsamplings (theirs align_corners=True, ours False) are the identity and
    the final resize is too; maps compared after pytorch-grad-cam's double min-max scaling.
    Float rounding only: 1e-5."""
    model, x = net(), images()
    mine = C.score_cam(model, x, TARGETS, layer="1", progress=False)
    with _peer("ScoreCAM", model, 1) as cam:
        theirs = cam(input_tensor=x.clone(), targets=_targets())
    np.testing.assert_allclose(_scaled_like_pytorch_grad_cam(mine.maps).numpy(), theirs, rtol=1e-5, atol=1e-6)


def test_score_cam_weights_equal_pytorch_grad_cam_below_the_input_resolution(monkeypatch):
    """Layer "4" is 4 x 4, so the masks are upsampled: pytorch-grad-cam's
    nn.UpsamplingBilinear2d uses align_corners=True, cnnlab (like its extras["upsampled"])
    align_corners=False. With the peer's upsampler switched to align_corners=False its channel
    weights (ScoreCAM.get_cam_weights on cnnlab's activations) equal cnnlab's, and cnnlab's map
    is ReLU(sum_k w_k A_k) with them (1e-5); with its own upsampler the weights differ."""
    model, x = net(), images()
    mine = C.score_cam(model, x, TARGETS, layer="4", batch_size=7, progress=False)
    acts = _acts(model, x, "4")

    def peer_weights() -> torch.Tensor:
        with _peer("ScoreCAM", model, 4) as cam:
            return torch.from_numpy(cam.get_cam_weights(x.clone(), None, _targets(), acts.numpy(), None))

    assert not torch.allclose(peer_weights(), mine.extras["weights"], rtol=1e-3, atol=1e-5)
    monkeypatch.setattr(
        torch.nn, "UpsamplingBilinear2d", lambda size: lambda t: F.interpolate(t, size, mode="bilinear")
    )
    weights = peer_weights()
    torch.testing.assert_close(mine.extras["weights"], weights, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(mine.maps, F.relu(torch.einsum("nchw,nc->nhw", acts, weights)), rtol=1e-5, atol=1e-7)


def test_score_cam_masks_pixels_where_pytorch_grad_cam_masks_the_tensor_it_is_given():
    """pytorch-grad-cam given the bare net and normalised images (its usual use) masks the
    normalised tensor; cnnlab masks pixels, then normalises. With mean 0 and std 1 the two are
    the same computation (1e-5); with the net's mean and std they differ."""
    model, x = net(), images()
    plain = net()
    plain.pretrained_cfg = {"input_size": (3, 8, 8), "mean": (0.0,) * 3, "std": (1.0,) * 3}
    with grad_cam_lib.ScoreCAM(model=plain, target_layers=[plain[1]]) as cam:
        on_pixels = cam(input_tensor=x.clone(), targets=_targets())
        on_normalised = cam(input_tensor=Preprocess.of(model).normalize(x), targets=_targets())
    mine = _scaled_like_pytorch_grad_cam(C.score_cam(model, x, TARGETS, layer="1", progress=False).maps).numpy()
    identity = _scaled_like_pytorch_grad_cam(C.score_cam(plain, x, TARGETS, layer="1", progress=False).maps).numpy()
    np.testing.assert_allclose(identity, on_pixels, rtol=1e-5, atol=1e-6)
    assert not np.allclose(mine, on_normalised, rtol=1e-3, atol=1e-4)


def test_eigen_cam_equals_pytorch_grad_cam_up_to_sign():
    """The projection equals get_2d_projection's (both centre each channel over positions)
    up to the SVD's arbitrary sign, which cnnlab fixes and pytorch-grad-cam does not; its
    float32 numpy SVD against cnnlab's float64: 1e-4. cnnlab's sign correlates the projection
    positively with the channel-mean map. The EigenCAM class is then the ReLU of the
    projection with the peer's sign, double min-max scaled (layer "1": no resize)."""
    model, x = net(), images()
    mine = C.eigen_cam(model, x, layer="1")
    acts = _acts(model, x, "1")
    theirs = torch.from_numpy(get_2d_projection(acts.numpy()))
    signs = (mine.extras["projection"] * theirs).flatten(1).sum(1).sign()
    assert bool((signs != 0).all())
    torch.testing.assert_close(mine.extras["projection"], signs[:, None, None] * theirs, rtol=1e-4, atol=1e-5)
    mean_map = acts.mean(1)
    mean_map = mean_map - mean_map.flatten(1).mean(1)[:, None, None]
    assert bool(((mine.extras["projection"] * mean_map).flatten(1).sum(1) > 0).all())
    assert torch.equal(mine.maps, F.relu(mine.extras["projection"]))
    with _peer("EigenCAM", model, 1) as cam:
        peer_map = cam(input_tensor=x.clone(), targets=None)
    expected = _scaled_like_pytorch_grad_cam(F.relu(signs[:, None, None] * mine.extras["projection"]))
    np.testing.assert_allclose(expected.numpy(), peer_map, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_guided_grad_cam_equals_captum(mode):
    """Captum's GuidedGradCam: LayerGradCam with relu_attributions=True (the paper's ReLU, as
    cnnlab's grad_cam), upsampled by F.interpolate (default "nearest"; "bilinear" uses
    align_corners=False, as cnnlab), times GuidedBackprop on nn.ReLU modules (cnnlab rewrites
    every ReLU call: the same rule on this net). Layer "4" is 4 x 4, so the upsampling
    matters. Float rounding only."""
    model, x = net(), images()
    mine = C.guided_grad_cam(model, x, TARGETS, layer="4", interpolate=mode)
    peer = pixels_model(model)
    theirs = captum_attr.GuidedGradCam(peer, peer[1][4]).attribute(
        x.clone().requires_grad_(), target=TARGETS, interpolate_mode=mode
    )
    torch.testing.assert_close(mine.maps, theirs, rtol=1e-5, atol=1e-7)
    assert mine.maps.shape == x.shape


# ------------------------------------------------------------------------ properties


def test_hires_cam_is_faithful_after_global_average_pooling():
    """At the map global average pooling reads, d y_c / d A_k = w_ck / (h w): HiResCAM is the
    CAM divided by h w (and equals Grad-CAM there, whose channel-mean gradient is the same)."""
    model, x = net(), images()
    mine = C.hires_cam(model, x, TARGETS, layer="4")
    acts = _acts(model, x, "4")
    cam = torch.einsum("nchw,nc->nhw", acts, model[-1].weight[TARGETS].detach()) / 16
    torch.testing.assert_close(mine.maps, F.relu(cam), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(mine.maps, A.grad_cam(model, x, TARGETS, layer="4").maps, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("method", list(METHODS))
def test_a_batch_equals_one_by_one(method):
    """Score-CAM's masked batches of 5 mix images; the others are per-image by construction."""
    run, model, x = METHODS[method], net(), images()
    together = run(model, x, TARGETS, "4")
    alone = [run(model, x[i : i + 1], TARGETS[i : i + 1], "4") for i in range(len(x))]
    torch.testing.assert_close(together.maps, torch.cat([a.maps for a in alone]), atol=1e-6, rtol=1e-5)
    key = "grad_cam" if method == "guided-grad-cam" else "upsampled"
    torch.testing.assert_close(together.extras[key], torch.cat([a.extras[key] for a in alone]), atol=1e-6, rtol=1e-5)
    assert together.target.tolist() == TARGETS.tolist()


@pytest.mark.parametrize("method", list(METHODS))
def test_the_default_layer_is_the_map_forward_features_returns(method):
    """On lenet5 (random weights, one 1 x 32 x 32 image) the default is the pooled map s4."""
    model = cnnlab.create_model("lenet5")
    x = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    result = METHODS[method](model, x, None, None)
    assert result.layer == "s4"
    if method == "guided-grad-cam":
        assert result.maps.shape == (1, 1, 32, 32) and result.extras["grad_cam"].shape == (1, 32, 32)
    else:
        assert result.maps.shape == (1, 5, 5) and result.extras["upsampled"].shape == (1, 32, 32)
        assert bool((result.maps >= 0).all())
    assert result.target.tolist() == result.logits.argmax(1).tolist()


class _Reused(nn.Module):
    """One ReLU module called twice: ``relu#2`` is the second call, 6 channels at 4 x 4."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1, self.conv2 = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 6, 3, stride=2, padding=1)
        self.relu, self.head = nn.ReLU(), nn.Linear(6, 3)
        self.pretrained_cfg = {"input_size": (1, 8, 8), "mean": (0.5,), "std": (0.25,)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.relu(self.conv2(self.relu(self.conv1(x)))).mean((2, 3)))


@pytest.mark.parametrize("method", list(METHODS))
def test_a_reused_module_is_named_by_its_call(method):
    model, x = _Reused().eval(), torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    result = METHODS[method](model, x, None, "relu#2")
    assert result.layer == "relu#2"
    shape = (2, 1, 8, 8) if method == "guided-grad-cam" else (2, 4, 4)
    assert result.maps.shape == shape


@pytest.mark.parametrize("method", list(METHODS))
def test_the_model_is_left_as_found(method):
    """Bitwise: parameters, buffers, modes (train mode here), hooks, requires_grad, .grad,
    the global RNG and the grad mode; also when the method refuses a layer."""
    model, x = net().train(), images()
    model[0].weight.grad = torch.ones_like(model[0].weight)
    before = model_fingerprint(model)
    METHODS[method](model, x, TARGETS, "4")
    assert_same_fingerprint(before, model_fingerprint(model))
    with pytest.raises(ConfigError):
        METHODS[method](model, x, TARGETS, "6")
    assert_same_fingerprint(before, model_fingerprint(model))


@pytest.mark.parametrize("method", list(METHODS))
def test_a_layer_without_spatial_maps_is_refused_by_name(method):
    """Layer "6" (Flatten) gives N x 16: no channels of h x w maps."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ConfigError, match=r"N x C x h x w output; '?6'? gives \(3, 16\)"):
            METHODS[method](net(), images(), TARGETS, "6")


def test_guided_grad_cam_refuses_an_unknown_interpolation():
    with pytest.raises(ConfigError, match="interpolate must be 'bilinear' or 'nearest'"):
        C.guided_grad_cam(net(), images(), TARGETS, layer="4", interpolate="bicubic")
