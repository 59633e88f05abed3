"""Explanation methods on small models: real properties, state left as found, batch equals
one by one, seeds reproduce."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnnlab
from cnnlab.errors import ConfigError
from cnnlab.explain import attribution as A
from cnnlab.explain import inspect as I
from cnnlab.explain import sanity as S
from cnnlab.explain.access import capture, list_layers, relu_rule
from cnnlab.explain.adversarial import fgsm, fooling_image, pgd
from cnnlab.explain.methods import METHODS, explain, method_options
from cnnlab.explain.synthesis import activation_maximization, feature_inversion, total_variation


def grey_net(mean: float = 0.0, std: float = 1.0) -> nn.Module:
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 3),
    )
    net.pretrained_cfg = {"input_size": (1, 8, 8), "mean": (mean,), "std": (std,), "classes": ["a", "b", "c"]}
    return net.eval()


def images(n: int = 3, c: int = 1, size: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(seed))


def test_saliency_of_a_linear_model_is_its_weights() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    net.pretrained_cfg = {"input_size": (2, 4, 4), "mean": (0.5, 0.5), "std": (0.5, 0.25)}
    exp = A.saliency(net, images(2, 2, 4), target=1)
    w = net[1].weight[1].view(2, 4, 4) / torch.tensor([0.5, 0.25]).view(2, 1, 1)  # d/d pixel through (x - m) / s
    expected = w.abs().amax(0)
    torch.testing.assert_close(exp.maps, expected.expand(2, 4, 4))
    assert exp.units == "|d score / d pixel|" and exp.target.tolist() == [1, 1]


class PatchModel(nn.Module):
    """Class 0's logit is the brightness of the top-left 4x4 patch."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(64, 2, bias=False)
        with torch.no_grad():
            self.fc.weight.zero_()
            self.fc.weight[0].view(8, 8)[:4, :4] = 4.0
        self.pretrained_cfg = {"input_size": (1, 8, 8), "mean": (0.0,), "std": (1.0,)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


def test_occlusion_of_the_square_the_model_reads_lowers_its_probability() -> None:
    model = PatchModel().eval()
    x = torch.ones(1, 1, 8, 8)
    exp = A.occlusion(model, x, target=0, window=4, stride=4, fill=0.0)
    assert exp.maps.shape == (1, 2, 2)
    assert exp.maps[0, 0, 0] < 0.6 < exp.extras["baseline"][0]  # the patch occluded: p(0) falls
    assert torch.allclose(exp.maps[0].flatten()[1:], exp.extras["baseline"].expand(3))  # elsewhere: unchanged
    assert exp.extras["class_map"].shape == (1, 2, 2)


def test_grad_cam_equals_relu_cam_over_the_map_size_for_a_gap_head() -> None:
    model = cnnlab.create_model("minigooglenet").eval()
    x = images(2, 3, 32)
    cam, grad = A.cam(model, x), A.grad_cam(model, x)
    h, w = cam.maps.shape[1:]
    torch.testing.assert_close(grad.maps, F.relu(cam.maps) / (h * w), atol=1e-6, rtol=1e-5)
    assert grad.extras["upsampled"].shape == (2, 32, 32)
    with pytest.raises(ConfigError, match="grad_cam"):
        A.cam(cnnlab.create_model("minivgg").eval(), x)


class InPlace(nn.Module):
    def __init__(self, functional: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.act = nn.ReLU(inplace=True)  # one module, called twice
        self.fc = nn.Linear(4, 3)
        self.functional = functional
        self.pretrained_cfg = {"input_size": (1, 8, 8), "mean": (0.0,), "std": (1.0,)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        relu = F.relu_ if self.functional else self.act
        y = relu(self.conv(x))  # in place on the output Grad-CAM reads
        y = relu(self.conv2(y))
        return self.fc(y.mean(dim=(2, 3)))


def test_in_place_and_reused_relus_do_not_change_grad_cam() -> None:
    torch.manual_seed(0)
    a, b = InPlace(functional=True).eval(), InPlace(functional=False).eval()
    b.load_state_dict(a.state_dict())
    x = images(2)
    ga, gb = A.grad_cam(a, x, layer="conv"), A.grad_cam(b, x, layer="conv")
    torch.testing.assert_close(ga.maps, gb.maps)
    with capture(a, "conv") as acts:  # the captured activation keeps its negative values
        a(x)
    assert (acts["conv"] < 0).any()
    assert A.guided_backprop(b, x).params["relus_rewritten"] == 2


def test_guided_backprop_differs_from_the_gradient_and_refuses_tanh() -> None:
    net = grey_net()
    x = images()
    guided = A.guided_backprop(net, x, target=0).maps
    plain = A.saliency(net, x, target=0).extras["gradient"]
    assert not torch.allclose(guided, plain)
    deconv = A.deconvnet(net, x, target=0)
    assert deconv.maps.shape == x.shape
    with pytest.raises(ConfigError, match="tanh"):
        A.guided_backprop(cnnlab.create_model("lenet5", act="tanh"), images(1, 1, 32))
    with relu_rule("guided") as mode:
        net(x)
    assert mode.calls == 2


STATE_METHODS = [
    ("saliency", lambda m, x: A.saliency(m, x)),
    ("smoothgrad", lambda m, x: A.saliency(m, x, smoothgrad=True, samples=3, seed=0)),
    ("grad_cam", lambda m, x: A.grad_cam(m, x, layer="3")),
    ("grad_cam_pp", lambda m, x: A.grad_cam_pp(m, x, layer="3")),
    ("guided", lambda m, x: A.guided_backprop(m, x)),
    ("deconvnet", lambda m, x: A.deconvnet(m, x, layer="3", channel=1)),
    ("occlusion", lambda m, x: A.occlusion(m, x, window=4, stride=4)),
    ("fooling", lambda m, x: fooling_image(m, x, 1, max_iterations=3)),
    ("pgd", lambda m, x: pgd(m, x, steps=2)),
    ("maximize", lambda m, x: activation_maximization(m, 1, steps=2)),
    ("invert", lambda m, x: feature_inversion(m, x, "3", steps=2)),
    ("activations", lambda m, x: I.activations(m, x, "3")),
    ("dead", lambda m, x: I.dead_units(m, x, "4")),
]


@pytest.mark.parametrize("name,run", STATE_METHODS, ids=[n for n, _ in STATE_METHODS])
def test_state_hooks_and_input_are_left_as_found(name, run) -> None:
    net = grey_net()
    net.train()
    net[1].training = False  # a submodule's own mode must survive too
    net[0].weight.requires_grad_(False)
    seen = []
    handle = net[3].register_forward_hook(lambda m, i, o: seen.append(1))
    grads = {n: p.grad for n, p in net.named_parameters()}
    x = images()
    copy = x.clone()
    with pytest.warns(UserWarning, match="forward hooks on"):  # the user's hook, set aside and named
        run(net, x)
    assert torch.equal(x, copy)
    assert net.training and not net[1].training and net[2].training
    assert [p.requires_grad for p in net.parameters()] == [False, True, True, True, True, True]
    assert all(p.grad is grads[n] for n, p in net.named_parameters())
    assert not seen  # the user's hook was set aside during the method ...
    net(x)
    assert seen == [1]  # ... and is back afterwards
    handle.remove()


@pytest.mark.parametrize(
    "run",
    [
        lambda m, x: A.saliency(m, x, target=1).maps,
        lambda m, x: A.grad_cam(m, x, 1, layer="3").maps,
        lambda m, x: A.guided_backprop(m, x, 1).maps,
        lambda m, x: A.occlusion(m, x, 1, window=4, stride=2, batch_size=3).maps,
        lambda m, x: fgsm(m, x, target=1).maps,
        lambda m, x: pgd(m, x, steps=2, random_start=False).maps,
        lambda m, x: fooling_image(m, x, 2, max_iterations=5).maps,
        lambda m, x: A.saliency(m, x, target=1, smoothgrad=True, samples=5, seed=3, batch_size=4).maps,
        lambda m, x: A.grad_cam_pp(m, x, 1, layer="3").maps,
        lambda m, x: A.deconvnet(m, x, 1).maps,
        lambda m, x: A.deconvnet(m, x, layer="3", channel=2).maps,
        lambda m, x: pgd(m, x, steps=2, seed=5).maps,
        lambda m, x: pgd(m, x, steps=2, seed=5, norm="l2", eps=0.5, alpha=0.2).maps,
        lambda m, x: I.activations(m, x, "3").maps,
    ],
    ids=[
        "saliency",
        "grad_cam",
        "guided",
        "occlusion",
        "fgsm",
        "pgd",
        "fooling",
        "smoothgrad",
        "grad_cam_pp",
        "deconvnet",
        "deconvnet_unit",
        "pgd_random_start",
        "pgd_l2_random_start",
        "activations",
    ],
)
def test_a_batch_equals_one_by_one(run) -> None:
    net = grey_net()
    x = images(3)
    together = run(net, x)
    alone = torch.cat([run(net, x[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)


def test_seeds_reproduce() -> None:
    net, x = grey_net(), images()
    for run in (
        lambda s: A.saliency(net, x, smoothgrad=True, samples=4, seed=s).maps,
        lambda s: activation_maximization(net, 0, steps=3, seed=s).maps,
        lambda s: pgd(net, x, seed=s, steps=1).maps,
    ):
        assert torch.equal(run(1), run(1)) and not torch.equal(run(1), run(2))


def trained_digits_model() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 16
    y = torch.tensor(d.target)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 64, 10))
    net.pretrained_cfg = {"input_size": (1, 8, 8), "mean": (0.0,), "std": (1.0,)}
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(60):
        opt.zero_grad()
        F.cross_entropy(net(x[:1000]), y[:1000]).backward()
        opt.step()
    return net.eval(), x[1000:1010], y[1000:1010]


def test_fooling_images_reach_the_target_within_the_stated_norm() -> None:
    net, x, y = trained_digits_model()
    target = (y + 1) % 10
    exp = fooling_image(net, x, target, step_size=0.05, max_iterations=200)
    assert exp.extras["success"].all()
    assert torch.equal(net(exp.maps).argmax(1), target)
    delta = exp.maps - x
    torch.testing.assert_close(exp.extras["l2"], delta.flatten(1).norm(dim=1))
    assert (exp.extras["iterations"] >= 1).all() and (exp.maps >= 0).all() and (exp.maps <= 1).all()
    bounded = fooling_image(net, x, target, step_size=0.05, max_iterations=50, max_norm=0.05)
    assert (bounded.extras["l2"] <= 0.05 + 1e-5).all() and not bounded.extras["success"].all()


def test_pgd_and_fgsm_stay_in_their_budgets() -> None:
    net, x, y = trained_digits_model()
    for norm, eps in (("linf", 0.2), ("l2", 2.0)):
        exp = pgd(net, x, y, eps=eps, alpha=eps / 4, steps=8, norm=norm)
        key = "linf" if norm == "linf" else "l2"
        assert (exp.extras[key] <= eps + 1e-5).all() and (exp.maps >= 0).all() and (exp.maps <= 1).all()
        assert exp.extras["success"].float().mean() > 0.3
    one = fgsm(net, torch.full_like(x, 0.5), y, eps=0.1)  # no clipping at 0.5 +- 0.1
    assert torch.allclose(one.extras["perturbation"].abs(), torch.full_like(x, 0.1))


def test_inversion_reduces_the_feature_distance_and_maximization_raises_the_score() -> None:
    net, x, _ = trained_digits_model()
    inv = feature_inversion(net, x[:2], "1", steps=60, lr=0.05, tv=1e-4)
    assert (inv.extras["feature_distance_end"] < 0.5 * inv.extras["feature_distance_start"]).all()
    act = activation_maximization(net, 3, steps=40, jitter=1, blur_every=0)
    assert act.extras["score_end"][0] > act.extras["score_start"][0] + 1
    hidden = activation_maximization(net, layer="1", channel=2, steps=20, jitter=0, blur_every=0)
    assert hidden.extras["score_end"][0] > hidden.extras["score_start"][0]
    smooth = torch.rand(1, 1, 8, 8)
    assert total_variation(smooth.mean().expand(1, 1, 8, 8)) == 0 < total_variation(smooth)


def test_sanity_checks_detect_guided_backprop() -> None:
    """Adebayo et al. (2018): the gradient passes model randomisation and class
    sensitivity; guided backprop, which mostly recovers the image, fails both."""
    torch.manual_seed(0)
    model = cnnlab.create_model("minivgg", in_chans=1).eval()
    x = images(3, 1, 32)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    grad = S.model_randomisation(A.saliency, model, x)
    guided = S.model_randomisation(A.guided_backprop, model, x)
    assert grad.passed and not guided.passed and guided.score > grad.score
    assert S.class_sensitivity(A.saliency, model, x).passed
    assert not S.class_sensitivity(A.guided_backprop, model, x).passed
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # the caller's model untouched


def test_deletion_rewards_the_pixels_the_model_reads() -> None:
    model = PatchModel().eval()
    x = torch.rand(2, 1, 8, 8) * 0.5 + 0.5

    def oracle(m, imgs, target):
        maps = torch.zeros(len(imgs), 8, 8)
        maps[:, :4, :4] = 1
        return cnnlab.explain.Explanation("oracle", maps, "")

    def inverse(m, imgs, target):
        return cnnlab.explain.Explanation("inverse", 1 - oracle(m, imgs, target).maps, "")

    assert S.deletion(oracle, model, x, target=0, steps=8).passed
    assert not S.deletion(inverse, model, x, target=0, steps=8).passed


def test_filters_features_neighbours_and_maps() -> None:
    net, x, y = trained_digits_model()
    f = I.filters(net)
    assert f.maps.shape == (8, 1, 3, 3) and f.layer == "0"
    with pytest.raises(ConfigError, match="not a convolution"):
        I.filters(net, "1")
    feats = I.extract_features(net, x, "1")
    assert feats.maps.shape == (10, 8)
    dead = I.dead_units(net, x, "1")
    assert dead.maps.shape == (8,) and dead.extras["inputs"] == 10
    nn_ = I.nearest_neighbours(net, x[:3], x, layer="1", k=2, gallery_labels=y, query_labels=y[:3])
    assert nn_.maps[:, 0].tolist() == [0, 1, 2]  # each query is its own nearest neighbour
    assert nn_.extras["pixel_neighbours"][:, 0].tolist() == [0, 1, 2]
    emb = I.embed_2d(net, x, layer="1")
    assert emb.maps.shape == (10, 2) and len(emb.extras["explained_variance_ratio"]) == 2
    tsne = I.embed_2d(None, features=torch.randn(12, 5), method="tsne", perplexity=3)
    assert tsne.maps.shape == (12, 2)


def test_layers_are_listed_with_shapes_and_receptive_fields() -> None:
    layers = {layer.name: layer for layer in list_layers(grey_net())}
    assert layers["3"].output_shape == (8, 4, 4) and layers["3"].receptive_field == (8, 8)
    assert layers["7"].receptive_field is None


def test_bad_targets_and_layers_name_the_value() -> None:
    net = grey_net()
    with pytest.raises(ConfigError, match="unknown class 'd'"):
        A.saliency(net, images(), target="d")
    with pytest.raises(ConfigError, match="out of range"):
        A.saliency(net, images(), target=7)
    with pytest.raises(ConfigError, match="no layer 'conv9'"):
        A.grad_cam(net, images(), layer="conv9")
    with pytest.raises(ConfigError, match="pixel units"):
        A.saliency(net, images() * 255)
    assert A.saliency(net, images(), target="b").target.tolist() == [1, 1, 1]
    assert functools.partial(A.saliency, smoothgrad=True)  # methods compose with partial for sanity checks


def test_grabcut_covers_a_salient_blob() -> None:
    pytest.importorskip("cv2")
    img = torch.full((1, 3, 32, 32), 0.2)
    img[:, 0, 8:24, 8:24] = 0.9  # a red square on grey
    sal = torch.zeros(1, 32, 32)
    sal[:, 10:22, 10:22] = 1.0 + torch.rand(12, 12) * 0.01
    sal += torch.rand(1, 32, 32) * 0.01
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 2))
    net.pretrained_cfg = {"input_size": (3, 32, 32), "mean": (0.0,) * 3, "std": (1.0,) * 3}
    exp = A.grabcut(net, img, saliency_maps=sal)
    mask = exp.maps[0]
    assert mask.dtype == torch.bool and mask[12:20, 12:20].all() and not mask[:4].any()


def test_methods_by_name_type_their_options_and_match_a_direct_call():
    assert method_options("smoothgrad", {"seed": 3, "layer": None}, ["samples=4"]) == {
        "smoothgrad": True,
        "seed": 3,
        "samples": 4,
    }
    with pytest.raises(ConfigError, match="--channel does not apply to saliency"):
        method_options("saliency", {"channel": 2})
    with pytest.raises(ConfigError, match="unknown explanation method 'salency'"):
        method_options("salency")
    model = cnnlab.create_model("lenet5").eval()
    x = torch.rand(2, 1, 32, 32)
    by_name = explain("gradcam", model, x, **method_options("gradcam"))
    assert torch.equal(by_name.maps, METHODS["gradcam"].function(model, x).maps)
