"""The explain defects of the outside audit (issue 17), each a test that failed before its fix."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnnlab
from cnnlab.cli import main
from cnnlab.errors import ConfigError
from cnnlab.explain import adversarial as ADV
from cnnlab.explain import attribution as A
from cnnlab.explain.access import list_layers
from tests.explain.test_methods import grey_net, images


def test_user_hooks_are_named_in_a_warning_and_the_model_s_own_function_is_explained():
    """A hook that scales the output made Explanation.logits 100x model(x) without a word."""
    net, x = grey_net(), images()
    plain = net(x)
    handle = net[7].register_forward_hook(lambda m, a, out: out * 100)
    with pytest.warns(UserWarning, match=r"forward hooks on '7'.*explain the model's own function"):
        exp = A.saliency(net, x)
    torch.testing.assert_close(exp.logits, plain)  # the function explained, as the warning says
    handle.remove()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no hook, no warning
        A.saliency(net, x)


def test_smoothgrad_batched_equals_one_at_a_time_and_records_a_drawn_seed():
    net, x = grey_net(), images(4)
    batched = A.saliency(net, x, target=1, smoothgrad=True, samples=8, seed=7)
    alone = torch.cat(
        [A.saliency(net, x[i : i + 1], target=1, smoothgrad=True, samples=8, seed=7).maps for i in range(4)]
    )
    torch.testing.assert_close(batched.maps, alone, rtol=1e-5, atol=1e-7)  # was 13% of the maximum apart
    drawn = A.saliency(net, x, target=1, smoothgrad=True, samples=3)
    assert isinstance(drawn.seed, int)
    again = A.saliency(net, x, target=1, smoothgrad=True, samples=3, seed=drawn.seed)
    torch.testing.assert_close(drawn.maps, again.maps)


class ReusedRelu(nn.Module):
    """torchvision's BasicBlock pattern: one ReLU module called twice per forward."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(4, 3)
        self.pretrained_cfg = {"input_size": (1, 8, 8), "mean": (0.0,), "std": (1.0,)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x) + 1.0)
        return self.fc(x.mean(dim=(2, 3)))


def test_a_reused_module_says_which_call_it_explains_and_the_user_chooses():
    torch.manual_seed(0)
    net, x = ReusedRelu().eval(), images()
    with pytest.warns(UserWarning, match=r"'relu' is called 2 times.*first call.*relu#1, relu#2"):
        first = A.grad_cam(net, x, 0, layer="relu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        named_first = A.grad_cam(net, x, 0, layer="relu#1")
        second = A.grad_cam(net, x, 0, layer="relu#2")
    torch.testing.assert_close(first.maps, named_first.maps)
    assert second.layer == "relu#2" and not torch.allclose(first.maps, second.maps)
    # by hand: the second call's output A, and d logit_0 / d A = fc.weight[0] / 64 everywhere
    with torch.no_grad():
        acts = F.relu(net.conv2(F.relu(net.conv1(x))) + 1.0)
        expected = F.relu(torch.einsum("nchw,c->nhw", acts, net.fc.weight[0] / 64))
    torch.testing.assert_close(second.maps, expected)
    with pytest.raises(ConfigError, match=r"relu is called 2 times per forward pass, so there is no call #3"):
        A.grad_cam(net, x, 0, layer="relu#3")
    with pytest.raises(ConfigError, match="call number"):
        A.grad_cam(net, x, 0, layer="relu#x")


def test_the_default_grad_cam_layer_is_a_layer_list_layers_shows():
    model = cnnlab.create_model("minivgg").eval()
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    exp = A.grad_cam(model, x)
    assert exp.layer != "forward_features"
    assert exp.layer in {layer.name for layer in list_layers(model)}
    torch.testing.assert_close(exp.maps, A.grad_cam(model, x, layer=exp.layer).maps)  # that layer's map, by name


class Counting(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.calls = 0
        self.pretrained_cfg = net.pretrained_cfg

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.net(x)


def test_fgsm_costs_one_forward_and_the_final_check():
    net = grey_net()
    counted = Counting(net)
    x = images()
    reference = ADV.pgd(net, x, eps=8 / 255, alpha=8 / 255, steps=1, random_start=False)
    exp = ADV.fgsm(counted, x, eps=8 / 255)
    assert counted.calls == 2  # was 3: a clean pass, the gradient pass, the final check
    torch.testing.assert_close(exp.maps, reference.maps)


@pytest.fixture()
def image_file(tmp_path):
    from PIL import Image

    path = tmp_path / "x.png"
    Image.fromarray((torch.rand(32, 32) * 255).byte().numpy(), mode="L").save(path)
    return path


def test_explain_cli_says_the_weights_are_random_and_records_weights_and_seed(image_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(["explain", "saliency", "lenet5", "--image", str(image_file), "--out", str(out)], print_fn=lambda s: None)
        == 0
    )
    assert "randomly initialised weights" in capsys.readouterr().err
    manifest = json.loads((out / "saliency.json").read_text())
    assert manifest["weights"]["source"] == "random" and isinstance(manifest["weights"]["init_seed"], int)
    # the same seed gives the same network and the same map
    main(
        ["explain", "saliency", "lenet5", "--image", str(image_file), "--out", str(out), "--seed", "4"],
        print_fn=lambda s: None,
    )
    first = json.loads((out / "saliency.json").read_text())
    main(
        ["explain", "saliency", "lenet5", "--image", str(image_file), "--out", str(out), "--seed", "4"],
        print_fn=lambda s: None,
    )
    second = json.loads((out / "saliency.json").read_text())
    assert first["weights"] == second["weights"] == {"source": "random", "init_seed": 4}
    assert first["maps_range"] == second["maps_range"]


def test_explain_cli_records_a_weights_file_and_its_hash(image_file, tmp_path, capsys):
    import hashlib

    from safetensors.torch import save_file

    weights = tmp_path / "w.safetensors"
    save_file(cnnlab.create_model("lenet5").state_dict(), str(weights))
    out = tmp_path / "out"
    assert (
        main(
            ["explain", "saliency", "lenet5", "--weights", str(weights), "--image", str(image_file), "--out", str(out)],
            print_fn=lambda s: None,
        )
        == 0
    )
    assert "randomly initialised" not in capsys.readouterr().err
    record = json.loads((out / "saliency.json").read_text())["weights"]
    assert record == {
        "source": "file",
        "file": str(weights),
        "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
    }
