"""Understand a trained network: tensors in, :class:`Explanation` out, never a figure.

Every method reaches the model through :mod:`cnnlab.explain.access` (layers by name, state
restored, in-place and reused ReLUs handled, pixel-range images); ``cnnlab.viz`` draws the
results.
"""

from .access import (
    LayerInfo,
    Preprocess,
    as_batch,
    capture,
    default_layer,
    get_layer,
    list_layers,
    load_image,
    prepared,
    relu_rule,
    run_to,
    split_forward,
)
from .adversarial import fgsm, fooling_image, pgd
from .attribution import cam, deconvnet, grad_cam, grad_cam_pp, guided_backprop, occlusion, saliency
from .cams import eigen_cam, guided_grad_cam, hires_cam, layer_cam, score_cam
from .faithfulness import deletion_insertion, road
from .gradients import input_x_gradient, integrated_gradients
from .inspect import activations, dead_units, embed_2d, extract_features, filters, nearest_neighbours
from .result import Explanation
from .sanity import SanityResult, class_sensitivity, deletion, model_randomisation
from .synthesis import activation_maximization, feature_inversion, optimize_image

__all__ = [
    "Explanation",
    "SanityResult",
    "activation_maximization",
    "activations",
    "cam",
    "class_sensitivity",
    "dead_units",
    "deconvnet",
    "deletion",
    "deletion_insertion",
    "eigen_cam",
    "embed_2d",
    "extract_features",
    "feature_inversion",
    "fgsm",
    "filters",
    "fooling_image",
    "grad_cam",
    "grad_cam_pp",
    "guided_backprop",
    "guided_grad_cam",
    "input_x_gradient",
    "integrated_gradients",
    "hires_cam",
    "layer_cam",
    "model_randomisation",
    "nearest_neighbours",
    "occlusion",
    "optimize_image",
    "pgd",
    "road",
    "saliency",
    "score_cam",
    "LayerInfo",
    "Preprocess",
    "as_batch",
    "capture",
    "default_layer",
    "get_layer",
    "list_layers",
    "load_image",
    "prepared",
    "relu_rule",
    "run_to",
    "split_forward",
]
