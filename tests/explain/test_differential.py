"""cnnlab.explain against the field's own libraries, on the same model and images (issue 17).

Peers: Captum (Saliency, NoiseTunnel, Occlusion, GuidedBackprop, Deconvolution,
LayerGradCam), pytorch-grad-cam (GradCAM, GradCAMPlusPlus) and torchattacks (FGSM, PGD,
PGDL2). cnnlab takes images in pixel units and normalises them inside; the peers get the
same function as one module, ``Sequential(Normalize(mean, std), net)``, on the same pixels.
Each test states the convention difference it corrects for beside its tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cnnlab.explain import adversarial as ADV
from cnnlab.explain import attribution as A

captum_attr = pytest.importorskip("captum.attr")
grad_cam_lib = pytest.importorskip("pytorch_grad_cam")
torchattacks = pytest.importorskip("torchattacks")
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

MEAN, STD = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
SIZE = 8


class Normalize(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def net() -> nn.Module:
    """A small ReLU CNN with a global-average-pooling head (every method applies)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 4),
    ).eval()
    model.pretrained_cfg = {"input_size": (3, SIZE, SIZE), "mean": MEAN, "std": STD}
    return model


def pixels_model(model: nn.Module) -> nn.Module:
    """What the peers see: the same function of pixels."""
    return nn.Sequential(Normalize(), model).eval()


def images(n: int = 3) -> torch.Tensor:
    x = torch.rand(n, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(3))
    x[:, :, 0, 0], x[:, :, 0, 1] = 0.0, 1.0  # each image spans [0, 1]: SmoothGrad's noise std is noise x 1
    return x


TARGETS = torch.tensor([0, 1, 3])


def test_saliency_equals_captum_saliency():
    """Captum's Saliency(abs=True) is |d score / d pixel| per channel; Simonyan et al. take
    the maximum over channels, so cnnlab's map is Captum's amax over dim 1. Exact."""
    model, x = net(), images()
    ours = A.saliency(model, x, TARGETS)
    theirs = captum_attr.Saliency(pixels_model(model)).attribute(x.clone().requires_grad_(), target=TARGETS, abs=True)
    torch.testing.assert_close(ours.maps, theirs.amax(dim=1), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(ours.extras["gradient"].abs(), theirs, rtol=1e-6, atol=1e-7)


def test_smoothgrad_equals_captum_noise_tunnel_with_the_same_noise(monkeypatch):
    """Captum's NoiseTunnel draws its noise from the global RNG with one std for all images;
    cnnlab draws each image's noise from its own generator seeded by ``seed`` with std
    ``noise x (max - min)`` (1 here). Given cnnlab's standard-normal draws, NoiseTunnel's
    mean gradient equals cnnlab's to float rounding."""
    model, x = net(), images()
    samples, noise, seed = 6, 0.15, 11

    def same_noise(input: torch.Tensor, stdev: float, k: int) -> torch.Tensor:
        streams = [torch.Generator().manual_seed(seed) for _ in range(len(input))]
        draws = torch.stack(
            [torch.stack([torch.randn(input.shape[1:], generator=g) for _ in range(k)]) for g in streams]
        )
        return input.repeat_interleave(k, dim=0) + stdev * draws.flatten(0, 1)  # image-major, as Captum lays it out

    monkeypatch.setattr(captum_attr.NoiseTunnel, "_add_noise_to_input", staticmethod(same_noise))
    ours = A.saliency(
        model, x, TARGETS, smoothgrad=True, samples=samples, noise=noise, seed=seed, batch_size=samples * 3
    )
    tunnel = captum_attr.NoiseTunnel(captum_attr.Saliency(pixels_model(model)))
    theirs = tunnel.attribute(
        x.clone().requires_grad_(), nt_type="smoothgrad", nt_samples=samples, stdevs=noise, target=TARGETS, abs=False
    )
    torch.testing.assert_close(ours.extras["gradient"], theirs, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(ours.maps, theirs.abs().amax(dim=1), rtol=1e-5, atol=1e-7)


def test_occlusion_equals_captum_occlusion():
    """Zeiler & Fergus report p(target) per window position; Captum's Occlusion reports per
    pixel the mean over the windows covering it of f(x) - f(occluded). With f the softmax
    probability, Captum's map is rebuilt from cnnlab's exactly."""
    model, x = net(), images()
    window, stride, fill = 4, 2, 0.5
    ours = A.occlusion(model, x, TARGETS, window=window, stride=stride, fill=fill)
    peer = pixels_model(model)
    theirs = captum_attr.Occlusion(lambda inp: peer(inp).softmax(1)).attribute(
        x, sliding_window_shapes=(3, window, window), strides=(3, stride, stride), baselines=fill, target=TARGETS
    )
    rows, cols = ours.extras["positions"]["rows"], ours.extras["positions"]["cols"]
    total = torch.zeros(len(x), SIZE, SIZE)
    count = torch.zeros(SIZE, SIZE)
    for r, py in enumerate(rows):
        for c, px in enumerate(cols):
            total[:, py : py + window, px : px + window] += (ours.extras["baseline"] - ours.maps[:, r, c])[
                :, None, None
            ]
            count[py : py + window, px : px + window] += 1
    assert bool((count > 0).all())  # 4/2 on 8 px covers every pixel
    torch.testing.assert_close((total / count)[:, None].expand_as(theirs), theirs, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(("ours", "peer"), [(A.guided_backprop, "GuidedBackprop"), (A.deconvnet, "Deconvolution")])
def test_guided_backprop_and_deconvnet_equal_captum(ours, peer):
    """Captum rewrites nn.ReLU modules' backward with hooks; cnnlab rewrites every ReLU call.
    On a net of nn.ReLU modules both are the same rule. Exact."""
    model, x = net(), images()
    mine = ours(model, x, TARGETS)
    theirs = getattr(captum_attr, peer)(pixels_model(model)).attribute(x.clone().requires_grad_(), target=TARGETS)
    torch.testing.assert_close(mine.maps, theirs, rtol=1e-6, atol=1e-7)


def test_grad_cam_equals_captum_layer_grad_cam():
    """Captum's LayerGradCam is sum_k mean(dy/dA_k) A_k, with relu_attributions=True the
    paper's ReLU; N x 1 x h x w against cnnlab's N x h x w. Exact."""
    model, x = net(), images()
    ours = A.grad_cam(model, x, TARGETS, layer="4")
    peer = pixels_model(model)
    theirs = captum_attr.LayerGradCam(peer, peer[1][4]).attribute(x, target=TARGETS, relu_attributions=True)
    torch.testing.assert_close(ours.maps, theirs[:, 0], rtol=1e-5, atol=1e-7)


def _scaled_like_pytorch_grad_cam(maps: torch.Tensor) -> torch.Tensor:
    """pytorch-grad-cam's scale_cam_image, (m - min) / (1e-7 + max) per image, which it applies
    twice (per layer, then after averaging the layers): the second undoes the first's guard."""
    for _ in range(2):
        maps = maps - maps.flatten(1).min(1).values[:, None, None]
        maps = maps / (1e-7 + maps.flatten(1).max(1).values[:, None, None])
    return maps


@pytest.mark.parametrize(
    ("plus_plus", "peer"), [(False, "GradCAM"), (True, "GradCAMPlusPlus")], ids=["gradcam", "gradcam++"]
)
def test_grad_cam_equals_pytorch_grad_cam(plus_plus, peer):
    """pytorch-grad-cam returns each map min-max scaled and resized to the input; at a layer
    of the input's resolution the resize is the identity, so cnnlab's raw map, scaled the
    same way, is compared. Grad-CAM++: pytorch-grad-cam adds eps = 1e-6 to alpha's
    denominator 2 g^2 + sum(A) g^3 (cnnlab divides exactly); its head is scaled by 1000 here
    so the gradients g are large, and eps still moves the scaled map by up to 2.5e-5 of itself
    (measured) where a channel's gradient is small: tolerance 1e-4 for ++, 1e-5 for Grad-CAM."""
    model, x = net(), images()
    if plus_plus:
        with torch.no_grad():
            model[-1].weight.mul_(1000)
    ours = A.grad_cam(model, x, TARGETS, layer="1", plus_plus=plus_plus)  # 8 x 8: the input's size
    peer_model = pixels_model(model)
    with getattr(grad_cam_lib, peer)(model=peer_model, target_layers=[peer_model[1][1]]) as cam:
        theirs = cam(input_tensor=x.clone(), targets=[ClassifierOutputTarget(int(t)) for t in TARGETS])
    tol = 1e-4 if plus_plus else 1e-5
    np.testing.assert_allclose(_scaled_like_pytorch_grad_cam(ours.maps).numpy(), theirs, rtol=tol, atol=tol / 10)


def test_fgsm_equals_torchattacks():
    """Both: one step of eps sign(grad of the cross-entropy) in pixel space, clipped to [0, 1]
    (torchattacks takes the mean loss, cnnlab the sum: the sign is the same). Exact."""
    model, x = net(), images()
    ours = ADV.fgsm(model, x, TARGETS, eps=8 / 255)
    theirs = torchattacks.FGSM(pixels_model(model), eps=8 / 255)(x, TARGETS)
    torch.testing.assert_close(ours.maps, theirs, rtol=0, atol=1e-7)


@pytest.mark.parametrize(
    ("norm", "peer", "eps", "alpha", "tol"),
    [
        ("linf", "PGD", 8 / 255, 2 / 255, 1e-7),
        # L2: torchattacks adds 1e-10 to the gradient's norm; cnnlab clamps it at 1e-12.
        ("l2", "PGDL2", 0.5, 0.1, 1e-6),
    ],
    ids=["linf", "l2"],
)
def test_pgd_equals_torchattacks(norm, peer, eps, alpha, tol):
    """Madry et al.'s PGD without a random start (torchattacks' random start draws from the
    global RNG), the same steps, projection and clipping."""
    model, x = net(), images()
    ours = ADV.pgd(model, x, TARGETS, eps=eps, alpha=alpha, steps=5, norm=norm, random_start=False)
    theirs = getattr(torchattacks, peer)(pixels_model(model), eps=eps, alpha=alpha, steps=5, random_start=False)(
        x, TARGETS
    )
    torch.testing.assert_close(ours.maps, theirs, rtol=0, atol=tol)
