"""The CUDA paths: fast defaults, fused optimizers, bf16 training, device-resident data, the
benchmark's peak and memory, explanations. Run with `make test-gpu` on a machine with a CUDA
device; skipped (and excluded from `make test`) elsewhere."""

from __future__ import annotations

import math

import pytest
import torch

import cnnlab
from cnnlab.data import Augment, DeviceLoader, load_dataset

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def test_fast_defaults_resolve_for_cuda():
    from cnnlab.engine.run import resolve_auto

    assert resolve_auto("auto", "auto", "cuda", cnnlab.create_model("lenet5")) == (True, torch.cuda.is_bf16_supported())
    assert resolve_auto("auto", "auto", "cuda", torch.nn.Linear(2, 2))[0] is False


def test_recipe_optimizers_are_fused_on_cuda():
    from cnnlab.engine.recipes import build_optimizer, load_recipe

    model = cnnlab.create_model("lenet5").cuda()
    assert build_optimizer(model, load_recipe("lenet5-digits")).defaults.get("fused") is True
    assert not build_optimizer(cnnlab.create_model("lenet5"), load_recipe("lenet5-digits")).defaults.get("fused")


def test_fp32_steps_on_cuda_follow_the_cpu():
    from cnnlab.engine import train_one_epoch

    data = load_dataset("digits", "train")
    losses = []
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)
        model = cnnlab.create_model("lenet5").to(device)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loader = DeviceLoader(data, 64, train=False, device=device, mean=data.info.mean, std=data.info.std)
        losses.append(train_one_epoch(model, loader, opt, device=device, max_steps=5)["loss"])
    assert losses[1] == pytest.approx(losses[0], rel=1e-3)


def test_a_recipe_trains_on_cuda_with_its_fast_defaults(tmp_path):
    from cnnlab.engine.run import train_recipe

    result = train_recipe(
        "lenet5-digits",
        overrides=["epochs=3", "device=cuda"],
        run_dir=tmp_path / "run",
        progress=False,
        print_fn=lambda s: None,
    )
    assert result.test["acc1"] > 0.9 and all(math.isfinite(r["train_loss"]) for r in result.history)


def test_device_loader_batches_live_on_the_gpu():
    data = load_dataset("digits", "train")
    loader = DeviceLoader(
        data,
        32,
        train=True,
        device="cuda",
        augment=Augment(crop_padding=2, hflip=True),
        seed=0,
        mean=data.info.mean,
        std=data.info.std,
        channels_last=True,
    )
    x, y = next(iter(loader))
    assert x.is_cuda and y.is_cuda and x.shape == (32, 1, 32, 32) and x.is_contiguous(memory_format=torch.channels_last)


def test_bench_on_cuda_reports_its_peak_and_memory():
    from cnnlab.engine.bench import bench

    r = bench("lenet5", device="cuda", steps=2, repeats=2, warmup=1, against="plain")
    assert r.peak_memory_bytes and r.peak_memory_bytes > 0 and "max_memory_allocated" in r.memory_note
    assert 0 < r.percent_of_peak < 100 and r.ratio > 0 and r.options["channels_last"] is True


def test_explanations_on_cuda_match_the_cpu():
    from cnnlab.explain import grad_cam, saliency

    model = cnnlab.create_model("lenet5").eval()
    x = torch.rand(2, 1, 32, 32)
    for method in (saliency, grad_cam):
        cpu = method(model, x).maps
        gpu = method(model.cuda(), x.cuda()).maps.cpu()
        model.cpu()
        torch.testing.assert_close(gpu, cpu, rtol=1e-3, atol=1e-5)
