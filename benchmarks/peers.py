"""How closely cnnlab agrees with the field's own libraries, as numbers for docs/analysis.md and
docs/explain.md ("Checked against"). The pass/fail checks are tests/explain/test_differential.py
and tests/analysis/test_differential.py; this script prints the measured agreement.

    PYTHONPATH=. python benchmarks/peers.py            # explain methods and the torchvision counts
    PYTHONPATH=. python benchmarks/peers.py --registry # also every registered model's MACs (minutes)
"""

from __future__ import annotations

import argparse
import copy
from importlib.metadata import version

import numpy as np
import torch
import torch.nn.functional as F
import torchattacks
import torchvision
from captum import attr as captum_attr
from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, ScoreCAM
from pytorch_grad_cam.metrics import perturbation_confidence as perturbation
from pytorch_grad_cam.metrics import road as road_lib
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection

import cnnlab
from cnnlab.explain import adversarial as ADV
from cnnlab.explain import attribution as A
from cnnlab.explain import cams as C
from cnnlab.explain import gradients as G
from cnnlab.explain.access import Preprocess, run_to
from cnnlab.explain.faithfulness import linear_impute, road

# The same small ReLU CNN, normalisation and images as the pass/fail tests.
from tests.explain.test_differential import (  # noqa: E402
    TARGETS,
    _scaled_like_pytorch_grad_cam,
    images,
    net,
    pixels_model,
)
from tests.explain.test_gradients import same_noise  # noqa: E402
from tests.helpers import flop_counter_macs  # noqa: E402


def explain_rows() -> list[tuple[str, str, float]]:
    model = net()
    peer = pixels_model(model)
    x = images()
    t = torch.tensor([0, 1, 3])
    grad = x.clone().requires_grad_()
    rows = [
        (
            "saliency",
            "Captum Saliency",
            (A.saliency(model, x, t).maps - captum_attr.Saliency(peer).attribute(grad, target=t).amax(1)),
        ),
        (
            "guided backprop",
            "Captum GuidedBackprop",
            A.guided_backprop(model, x, t).maps - captum_attr.GuidedBackprop(peer).attribute(grad, target=t),
        ),
        (
            "deconvnet",
            "Captum Deconvolution",
            A.deconvnet(model, x, t).maps - captum_attr.Deconvolution(peer).attribute(grad, target=t),
        ),
        (
            "Grad-CAM",
            "Captum LayerGradCam",
            A.grad_cam(model, x, t, layer="4").maps
            - captum_attr.LayerGradCam(peer, peer[1][4]).attribute(x, target=t, relu_attributions=True)[:, 0],
        ),
        ("FGSM", "torchattacks FGSM", ADV.fgsm(model, x, t).maps - torchattacks.FGSM(peer, eps=8 / 255)(x, t)),
        (
            "PGD Linf",
            "torchattacks PGD",
            ADV.pgd(model, x, t, steps=5, random_start=False).maps
            - torchattacks.PGD(peer, eps=8 / 255, alpha=2 / 255, steps=5, random_start=False)(x, t),
        ),
        (
            "PGD L2",
            "torchattacks PGDL2",
            ADV.pgd(model, x, t, eps=0.5, alpha=0.1, steps=5, norm="l2", random_start=False).maps
            - torchattacks.PGDL2(peer, eps=0.5, alpha=0.1, steps=5, random_start=False)(x, t),
        ),
    ]
    # Occlusion: Captum's per-pixel mean of f(x) - f(occluded) over the covering windows,
    # rebuilt from cnnlab's p(target) per window position (4 / 2 covers every pixel of 8).
    occ = A.occlusion(model, x, t, window=4, stride=2, fill=0.5)
    total, count = torch.zeros(3, 8, 8), torch.zeros(8, 8)
    for r, py in enumerate(occ.extras["positions"]["rows"]):
        for c, px in enumerate(occ.extras["positions"]["cols"]):
            total[:, py : py + 4, px : px + 4] += (occ.extras["baseline"] - occ.maps[:, r, c])[:, None, None]
            count[py : py + 4, px : px + 4] += 1
    theirs = captum_attr.Occlusion(lambda inp: peer(inp).softmax(1)).attribute(
        x, sliding_window_shapes=(3, 4, 4), strides=(3, 2, 2), baselines=0.5, target=t
    )
    rows.append(("occlusion", "Captum Occlusion", (total / count)[:, None] - theirs))
    # SmoothGrad: Captum's NoiseTunnel given cnnlab's standard-normal draws (one generator per image).
    x01 = x  # images() span [0, 1]: cnnlab's noise std is noise x 1

    def same_noise(inp: torch.Tensor, stdev: float, k: int) -> torch.Tensor:
        gens = [torch.Generator().manual_seed(11) for _ in range(len(inp))]
        draws = torch.stack([torch.stack([torch.randn(inp.shape[1:], generator=g) for _ in range(k)]) for g in gens])
        return inp.repeat_interleave(k, dim=0) + stdev * draws.flatten(0, 1)

    captum_attr.NoiseTunnel._add_noise_to_input = staticmethod(same_noise)
    ours = A.saliency(model, x01, t, smoothgrad=True, samples=6, noise=0.15, seed=11, batch_size=18).extras["gradient"]
    theirs = captum_attr.NoiseTunnel(captum_attr.Saliency(peer)).attribute(
        x01.clone().requires_grad_(), nt_type="smoothgrad", nt_samples=6, stdevs=0.15, target=t, abs=False
    )
    rows.append(("SmoothGrad (gradient)", "Captum NoiseTunnel(Saliency), cnnlab's noise", ours - theirs))
    out = [(name, who, float(diff.detach().abs().max())) for name, who, diff in rows]
    for plus, cls in ((False, GradCAM), (True, GradCAMPlusPlus)):
        m = copy.deepcopy(model)
        if plus:
            with torch.no_grad():
                m[-1].weight.mul_(1000)
        ours = A.grad_cam(m, x, t, layer="1", plus_plus=plus).maps
        for _ in range(2):  # pytorch-grad-cam's scale_cam_image, applied twice
            ours = ours - ours.flatten(1).min(1).values[:, None, None]
            ours = ours / (1e-7 + ours.flatten(1).max(1).values[:, None, None])
        p = pixels_model(m)
        with cls(model=p, target_layers=[p[1][1]]) as cam:
            theirs = cam(input_tensor=x.clone(), targets=[ClassifierOutputTarget(int(i)) for i in t])
        out.append(
            (
                "Grad-CAM++" if plus else "Grad-CAM (scaled)",
                f"pytorch-grad-cam {cls.__name__}",
                float(np.abs(ours.numpy() - theirs).max()),
            )
        )
    return out


def gradient_rows() -> list[tuple[str, str, float]]:
    """tests/explain/test_gradients.py's comparisons with Captum, each with its correction."""
    model, x = net(), images()
    peer = pixels_model(model)
    out = []
    # Integrated Gradients: Captum's baselines are in pixels (the peer normalises inside), so
    # cnnlab's baseline goes in unchanged; Captum's trapezoid weights sum to (n - 1) / n.
    steps, deltas = 12, []
    for baseline in G.BASELINES:
        for method in G.QUADRATURES:
            ours = G.integrated_gradients(model, x, TARGETS, baseline=baseline, steps=steps, method=method, seed=4)
            theirs, delta = captum_attr.IntegratedGradients(peer).attribute(
                x.clone(),
                baselines=ours.extras["baseline"],
                target=TARGETS,
                n_steps=steps,
                method=method,
                return_convergence_delta=True,
            )
            scale = (steps - 1) / steps if method == "riemann_trapezoid" else 1.0
            who = "Captum IntegratedGradients" + (" (cnnlab x (n-1)/n)" if scale != 1.0 else "")
            out.append((f"Integrated Gradients ({baseline}, {method})", who, ours.maps * scale - theirs))
            if method != "riemann_trapezoid":  # Captum's delta: sum - (f(x) - f(x')); cnnlab reports |.|
                deltas.append(ours.extras["completeness"]["error"] - delta.abs())
    out.append(
        (
            "IG completeness error (all but trapezoid)",
            "Captum convergence delta, abs",
            torch.stack(deltas),
        )
    )
    ours = G.input_x_gradient(model, x, TARGETS).maps
    theirs = captum_attr.InputXGradient(peer).attribute(x.clone().requires_grad_(), target=TARGETS)
    out.append(("Input x Gradient", "Captum InputXGradient", ours - theirs))
    # SmoothGrad-Squared and VarGrad: Captum's NoiseTunnel given cnnlab's per-image draws;
    # six samples in three passes of two (batch_size 6) exercise VarGrad's merge.
    samples, noise, seed = 6, 0.15, 11
    captum_attr.NoiseTunnel._add_noise_to_input = same_noise(seed)
    for aggregate, nt_type, name in (("square", "smoothgrad_sq", "SmoothGrad-Squared"), ("var", "vargrad", "VarGrad")):
        ours = A.saliency(
            model,
            x,
            TARGETS,
            smoothgrad=True,
            samples=samples,
            noise=noise,
            seed=seed,
            batch_size=6,
            aggregate=aggregate,
        )
        theirs = captum_attr.NoiseTunnel(captum_attr.Saliency(peer)).attribute(
            x.clone().requires_grad_(), nt_type=nt_type, nt_samples=samples, stdevs=noise, target=TARGETS, abs=False
        )
        who = f"Captum NoiseTunnel({nt_type}), cnnlab's noise"
        out.append((f"{name} (gradient)", who, ours.extras["gradient"] - theirs))
        out.append((f"{name} (map)", f"{who}, amax over channels", ours.maps - theirs.amax(dim=1)))
    return [(name, who, float(diff.detach().abs().max())) for name, who, diff in out]


def cam_rows() -> list[tuple[str, str, float]]:
    """tests/explain/test_cams.py's comparisons with pytorch-grad-cam and Captum."""
    model, x = net(), images()
    targets = [ClassifierOutputTarget(int(t)) for t in TARGETS]
    out = []
    # Layer "1" is 8 x 8, the input's size: every resize is the identity; maps compared after
    # pytorch-grad-cam's double min-max scaling.
    for name, ours, cls in (
        ("Score-CAM (scaled)", lambda: C.score_cam(model, x, TARGETS, layer="1", progress=False), ScoreCAM),
        ("LayerCAM (scaled)", lambda: C.layer_cam(model, x, TARGETS, layer="1"), LayerCAM),
        ("HiResCAM (scaled)", lambda: C.hires_cam(model, x, TARGETS, layer="1"), HiResCAM),
    ):
        mine = _scaled_like_pytorch_grad_cam(ours().maps).numpy()
        p = pixels_model(model)
        with cls(model=p, target_layers=[p[1][1]]) as cam:
            theirs = cam(input_tensor=x.clone(), targets=targets)
        out.append((name, f"pytorch-grad-cam {cls.__name__}", float(np.abs(mine - theirs).max())))
    # Eigen-CAM: the projection equals get_2d_projection's up to the SVD's sign, which cnnlab
    # fixes; the EigenCAM class is the ReLU of the projection with the peer's sign, scaled.
    mine = C.eigen_cam(model, x, layer="1")
    with torch.no_grad():
        acts = run_to(model, Preprocess.of(model).normalize(x), "1")["1"]
    theirs = torch.from_numpy(get_2d_projection(acts.numpy()))
    signs = (mine.extras["projection"] * theirs).flatten(1).sum(1).sign()
    diff = mine.extras["projection"] - signs[:, None, None] * theirs
    out.append(("Eigen-CAM projection", "pytorch-grad-cam get_2d_projection, up to sign", float(diff.abs().max())))
    p = pixels_model(model)
    with EigenCAM(model=p, target_layers=[p[1][1]]) as cam:
        peer_map = cam(input_tensor=x.clone(), targets=None)
    expected = _scaled_like_pytorch_grad_cam(F.relu(signs[:, None, None] * mine.extras["projection"])).numpy()
    out.append(
        ("Eigen-CAM (scaled, peer's sign)", "pytorch-grad-cam EigenCAM", float(np.abs(expected - peer_map).max()))
    )
    # Guided Grad-CAM at layer "4" (4 x 4): the upsampling matters.
    for mode in ("nearest", "bilinear"):
        mine = C.guided_grad_cam(model, x, TARGETS, layer="4", interpolate=mode).maps
        theirs = captum_attr.GuidedGradCam(p, p[1][4]).attribute(
            x.clone().requires_grad_(), target=TARGETS, interpolate_mode=mode
        )
        out.append((f"Guided Grad-CAM ({mode})", "Captum GuidedGradCam", float((mine - theirs).detach().abs().max())))
    return out


def faithfulness_rows() -> list[tuple[str, str, float]]:
    """tests/explain/test_faithfulness.py's comparisons with pytorch-grad-cam's ROAD code."""
    out = []
    for share in (0.05, 0.4, 0.9):
        g = torch.Generator().manual_seed(1)
        img = torch.rand(3, 11, 9, generator=g)
        removed = torch.rand(11, 9, generator=g) < share
        removed[0, 0] = removed[-1, -1] = True  # corners: border weights renormalised
        theirs = road_lib.NoisyLinearImputer(noise=0.0)(img, (~removed).float())
        out.append(
            (
                f"linear_impute ({share:.0%} removed)",
                "pytorch-grad-cam NoisyLinearImputer(noise=0)",
                float((linear_impute(img, removed) - theirs).abs().max()),
            )
        )
    # ROAD: the peer's percentile is the share it keeps; LeRF's map scaled to [0, 1] for its
    # 1 - map; scores p(target), averaged over the images.
    model, x = net(), images()
    maps = A.saliency(model, x, TARGETS).maps
    fraction = 0.25
    ours = road(model, x, maps, TARGETS, fractions=(fraction,), noise=0.0)
    targets = [lambda out, t=int(t): out.softmax(-1)[t] for t in TARGETS]
    for order, remove, got in (
        ("MoRF", perturbation.RemoveMostRelevantFirst, ours.morf_probability[0]),
        ("LeRF", perturbation.RemoveLeastRelevantFirst, ours.lerf_probability[0]),
    ):
        cams = maps.numpy() if order == "MoRF" else (maps / maps.amax(dim=(1, 2), keepdim=True)).numpy()
        metric = perturbation.PerturbationConfidenceMetric(
            remove(100 * (1 - fraction), road_lib.NoisyLinearImputer(noise=0.0))
        )
        theirs = metric(x, cams, targets, pixels_model(model), return_diff=False)
        out.append(
            (
                f"ROAD {order} p(target), 25 % removed, noise 0",
                f"pytorch-grad-cam {remove.__name__}",
                abs(got - float(np.mean(theirs))),
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", action="store_true", help="also compare every registered model's MACs")
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, captum {version('captum')}, "
        f"grad-cam {version('grad-cam')}, torchattacks {version('torchattacks')}"
    )
    print("\n| method | peer | max abs difference |\n|---|---|---|")
    for name, who, diff in explain_rows() + gradient_rows() + cam_rows() + faithfulness_rows():
        print(f"| {name} | {who} | {diff:.1e} |")
    names = [
        "alexnet",
        "vgg11",
        "resnet18",
        "resnet50",
        "densenet121",
        "squeezenet1_0",
        "mobilenet_v2",
        "mobilenet_v3_small",
        "efficientnet_b0",
        "convnext_tiny",
        "regnet_x_400mf",
        "shufflenet_v2_x0_5",
        "swin_t",
    ]
    equal = []
    special = {
        "vit_b_16": ({"image_size": 64}, 64),
        "googlenet": ({"aux_logits": False, "init_weights": False}, 64),
        "inception_v3": ({"aux_logits": False, "init_weights": False}, 96),
    }
    for name in names + list(special):
        kwargs, size = special.get(name, ({}, 64))
        model = getattr(torchvision.models, name)(weights=None, **kwargs).eval()
        ours = cnnlab.analyze(model, (3, size, size), measure_saved=False).macs
        equal.append(ours == flop_counter_macs(model, (3, size, size)))
    print(
        f"\ntorchvision models (64x64, inception_v3 96x96): analyze().macs == FlopCounterMode(meta) / 2 "
        f"for {sum(equal)} of {len(equal)}"
    )
    if args.registry:
        same = 0
        models = cnnlab.list_models()
        for name in models:
            card = cnnlab.model_card(name)
            with torch.device("meta"):
                model = cnnlab.create_model(name)
            same += cnnlab.analyze(name, measure_saved=False).macs == flop_counter_macs(model, card.input_size)
        print(f"registered models at their card's input size: equal for {same} of {len(models)}")


if __name__ == "__main__":
    main()
