"""The explanation methods by the names the CLI and a notebook use, and one way to run them:
:data:`METHODS` (name -> :class:`Method`), :func:`method_options` (what a method accepts,
checked, with ``KEY=VALUE`` strings typed by the method's own defaults) and :func:`explain`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from . import adversarial, attribution, cams, gradients, synthesis
from . import inspect as inspect_
from .result import Explanation


@dataclass(frozen=True)
class Method:
    """One explanation method: the function, the arguments its name fixes (``smoothgrad`` is
    saliency with ``smoothgrad=True``), whether it explains given images, whether it reads a
    dataset's images instead, one line of help, whether it makes an attribution map of the
    images (which ``explain compare`` scores) and whether low values of that map mark the
    important pixels (occlusion's p(class))."""

    function: Callable[..., Explanation]
    help: str
    needs_images: bool = True
    fixed: Mapping[str, Any] = field(default_factory=dict)
    over_dataset: bool = False
    attribution: bool = False
    low_is_important: bool = False


METHODS: dict[str, Method] = {
    "saliency": Method(
        attribution.saliency, "|d class score / d pixel|, max over channels (Simonyan et al. 2014)", attribution=True
    ),
    "smoothgrad": Method(
        attribution.saliency,
        "saliency averaged over noisy copies (Smilkov et al. 2017)",
        fixed={"smoothgrad": True},
        attribution=True,
    ),
    "smoothgrad-sq": Method(
        attribution.saliency,
        "mean squared gradient over noisy copies, max over channels (SmoothGrad-Squared; Adebayo et al. 2018, "
        "Hooker et al. 2019)",
        fixed={"smoothgrad": True, "aggregate": "square"},
        attribution=True,
    ),
    "vargrad": Method(
        attribution.saliency,
        "variance of the gradient over noisy copies, max over channels (VarGrad; Adebayo et al. 2018)",
        fixed={"smoothgrad": True, "aggregate": "var"},
        attribution=True,
    ),
    "integrated-gradients": Method(
        gradients.integrated_gradients,
        "(x - x') x the path integral of the class score's gradient from a baseline (black, blurred, uniform), "
        "with the completeness check (Sundararajan et al. 2017)",
        attribution=True,
    ),
    "input-x-gradient": Method(
        gradients.input_x_gradient, "pixel x d class score / d pixel, signed (Shrikumar et al. 2016)", attribution=True
    ),
    "grabcut": Method(attribution.grabcut, "object mask: GrabCut seeded by the saliency map (Simonyan et al. 2014)"),
    "occlusion": Method(
        attribution.occlusion,
        "p(class) as a grey square slides over the image (Zeiler & Fergus 2014)",
        attribution=True,
        low_is_important=True,
    ),
    "cam": Method(attribution.cam, "class activation map of a GAP + linear head (Zhou et al. 2016)", attribution=True),
    "gradcam": Method(
        attribution.grad_cam, "gradient-weighted class activation map (Selvaraju et al. 2017)", attribution=True
    ),
    "gradcam++": Method(attribution.grad_cam_pp, "Grad-CAM++ (Chattopadhyay et al. 2018)", attribution=True),
    "scorecam": Method(
        cams.score_cam,
        "Score-CAM (Wang et al. 2020): channels weighted by the softmax of the target's score on the image "
        "masked by each upsampled map; gradient-free, 1 + C forward passes",
        attribution=True,
    ),
    "layercam": Method(
        cams.layer_cam,
        "LayerCAM (Jiang et al. 2021): activations times their positive gradients, position by position; "
        "sharp maps at early layers",
        attribution=True,
    ),
    "hirescam": Method(
        cams.hires_cam,
        "HiResCAM (Draelos & Carin 2020): activations times gradients element-wise; faithful to the score "
        "for global-average-pooling + linear heads",
        attribution=True,
    ),
    "eigencam": Method(
        cams.eigen_cam,
        "Eigen-CAM (Muhammad & Yeasin 2020): the layer's first principal component, sign fixed; "
        "class-agnostic, no gradients",
        attribution=True,
    ),
    "guided-gradcam": Method(
        cams.guided_grad_cam,
        "Guided Grad-CAM (Selvaraju et al. 2017): guided backprop times the upsampled Grad-CAM map",
        attribution=True,
    ),
    "guided-backprop": Method(
        attribution.guided_backprop, "guided backpropagation (Springenberg et al. 2015)", attribution=True
    ),
    "deconvnet": Method(
        attribution.deconvnet, "deconvnet projection of a class or a neuron (Zeiler & Fergus 2014)", attribution=True
    ),
    "filters": Method(inspect_.filters, "a convolution's filters as images (default: the first)", needs_images=False),
    "activations": Method(inspect_.activations, "a layer's feature maps for the image"),
    "maximize": Method(
        synthesis.activation_maximization,
        "an image that maximises a class score or a channel (Simonyan et al. 2014)",
        needs_images=False,
    ),
    "invert": Method(
        synthesis.feature_inversion, "an image whose layer features match the input's (Mahendran & Vedaldi 2015)"
    ),
    "fooling": Method(adversarial.fooling_image, "change the image until the net says --target (CS231n)"),
    "fgsm": Method(adversarial.fgsm, "fast gradient sign attack (Goodfellow et al. 2015)"),
    "pgd": Method(adversarial.pgd, "projected gradient descent attack (Madry et al. 2018)"),
    "embed": Method(
        inspect_.embed_2d,
        "a 2-D map of --dataset images by their features: PCA, or --set method=tsne",
        needs_images=False,
        over_dataset=True,
    ),
    "neighbours": Method(
        inspect_.nearest_neighbours,
        "nearest --dataset images in pixel and in feature space (lecture)",
        needs_images=False,
        over_dataset=True,
    ),
}


def method(name: str) -> Method:
    """The :class:`Method` called ``name``; an unknown name lists the known ones."""
    try:
        return METHODS[name]
    except KeyError:
        raise ConfigError(f"unknown explanation method {name!r}; choose one of {', '.join(METHODS)}") from None


def accepts(name: str, argument: str) -> bool:
    """Whether method ``name`` takes ``argument`` (``accepts("gradcam", "layer")``)."""
    return argument in inspect.signature(method(name).function).parameters


def _typed(value: str, default: Any) -> Any:
    """A ``KEY=VALUE`` string typed like the argument's default."""
    if isinstance(default, bool):
        if value.lower() in ("true", "1", "yes"):
            return True
        if value.lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"expected true or false, got {value!r}")
    if isinstance(default, int):
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"expected a whole number, got {value!r}") from None
    if isinstance(default, float):
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
    try:
        return float(value) if "." in value or "e" in value.lower() else int(value)
    except ValueError:
        return value


def method_options(
    name: str, given: Mapping[str, Any] | None = None, sets: Iterable[str] = (), model: str = "MODEL"
) -> dict[str, Any]:
    """The keyword arguments to call method ``name`` with. ``given`` are the common options
    (``layer``, ``channel``, ``seed``, ``batch_size``, ``target``; None: not given), each
    refused where the method has no such argument; ``sets`` are ``KEY=VALUE`` strings for any
    other keyword-only argument, typed like its default. A method that must be told its layer
    says so (``model`` names the model in that message's command)."""
    m = method(name)
    params = inspect.signature(m.function).parameters
    opts = dict(m.fixed)
    for key, value in (given or {}).items():
        if value is None:
            continue
        if key not in params:
            raise ConfigError(f"--{key.replace('_', '-')} does not apply to {name}")
        opts[key] = value
    layer = params.get("layer")
    if layer is not None and layer.default is inspect.Parameter.empty and "layer" not in opts:
        raise ConfigError(
            f"{name} needs --layer NAME, the layer to read (cnnlab explain {name} {model} --list-layers lists them)"
        )
    settable = [n for n, p in params.items() if p.kind == p.KEYWORD_ONLY and n not in m.fixed]
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or key not in settable:
            raise ConfigError(f"--set {item!r}: {name} takes {', '.join(settable)} (as KEY=VALUE)")
        try:
            opts[key] = _typed(value, params[key].default)
        except ValueError as err:
            raise ConfigError(f"--set {item!r}: {err}") from None
    return opts


def explain(name: str, model: nn.Module, images: torch.Tensor | None = None, **options: Any) -> Explanation:
    """Run method ``name`` on ``model`` (and ``images`` where it explains images) with
    ``options`` from :func:`method_options`. ``maximize`` without a layer or target maximises
    class 0; ``fooling`` needs a target. Dataset methods (``embed``, ``neighbours``) take their
    images from the caller: call their functions directly."""
    m = method(name)
    if m.over_dataset:
        raise ConfigError(f"{name} reads a dataset's images: call cnnlab.explain.{m.function.__name__} with them")
    if m.needs_images and images is None:
        raise ConfigError(f"{name} needs --image FILE ...")
    if name == "fooling" and options.get("target") is None:
        raise ConfigError("fooling needs --target CLASS, the class to fool the network into")
    if name == "maximize" and "layer" not in options and "target" not in options:
        options = {**options, "target": 0}
    return m.function(model, images, **options) if m.needs_images else m.function(model, **options)
