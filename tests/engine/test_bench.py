"""The benchmark harness: its arithmetic on a model of known FLOPs, the interleaved
comparison with a plain loop, and the command line."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from cnnlab.cli.main import main
from cnnlab.engine.bench import Timing, bench, matmul_peak, summarize
from cnnlab.errors import ConfigError


class Known(nn.Module):
    """One 3x3 convolution, 2 -> 4 channels, 8x8 output, then a 256 -> 5 linear layer:
    4*8*8*2*9 + 256*5 = 4,608 + 1,280 = 5,888 multiply-adds per image."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.fc = nn.Linear(256, 5)
        self.num_classes = 5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.conv(x), 1))


def test_summary_arithmetic() -> None:
    timing = Timing([0.5, 0.2, 0.25, 0.3, 0.4], batch_size=10)
    out = summarize(timing, flops_per_step=1_000_000, peak_flops=8_000_000.0)
    assert out["median_step_s"] == 0.3 and out["spread_s"] == (0.2, 0.5)
    assert out["images_per_s"] == pytest.approx(10 / 0.3)
    assert out["achieved_flops"] == pytest.approx(1_000_000 / 0.3)
    assert out["percent_of_peak"] == pytest.approx(100 * (1_000_000 / 0.3) / 8_000_000)
    assert summarize(timing, 1, None)["percent_of_peak"] is None


def test_a_model_of_known_flops_against_the_plain_loop() -> None:
    result = bench(
        Known(), input_size=(2, 8, 8), batch_size=4, steps=2, repeats=3, warmup=1, against="plain", peak=False
    )
    assert result.flops_per_step == 3 * 2 * 5_888 * 4  # training: 3 x forward, flops = 2 x macs
    assert len(result.step_seconds) == 3 and len(result.against_step_seconds) == 3
    assert result.median_step_s == sorted(result.step_seconds)[1]
    assert result.images_per_s == pytest.approx(4 / result.median_step_s)
    assert result.achieved_flops == pytest.approx(result.flops_per_step / result.median_step_s)
    assert result.ratio == pytest.approx(result.images_per_s / result.against_images_per_s)
    infer = bench(Known(), mode="infer", input_size=(2, 8, 8), batch_size=4, steps=2, repeats=1, warmup=0, peak=False)
    assert infer.flops_per_step == 2 * 5_888 * 4 and infer.ratio is None


def test_the_bench_trains_the_model_it_times() -> None:
    model = Known()
    before = model.fc.weight.detach().clone()
    bench(model, input_size=(2, 8, 8), batch_size=4, steps=1, repeats=1, warmup=0, peak=False)
    assert not torch.equal(before, model.fc.weight)


def test_matmul_peak_is_a_rate() -> None:
    rate = matmul_peak("cpu", size=64, repeats=2, min_seconds=0.01)
    assert 1e6 < rate < 1e14


def test_bad_arguments_name_the_value() -> None:
    with pytest.raises(ConfigError, match="mode='fit'"):
        bench(Known(), mode="fit", input_size=(2, 8, 8))
    with pytest.raises(ConfigError, match="steps=0"):
        bench(Known(), steps=0, input_size=(2, 8, 8))
    with pytest.raises(ConfigError, match="torchvision has no model called 'lenet5'"):
        bench("lenet5", against="torchvision", steps=1, repeats=1, warmup=0, peak=False)


def test_cli_json_and_table() -> None:
    lines: list[str] = []
    args = [
        "bench",
        "lenet5",
        "--batch-size",
        "8",
        "--steps",
        "1",
        "--repeats",
        "2",
        "--warmup",
        "0",
        "--against",
        "plain",
        "--no-peak",
        "--format",
        "json",
    ]
    assert main(args, print_fn=lines.append) == 0
    data = json.loads(lines[0])
    assert data["model"] == "lenet5" and data["ratio"] == pytest.approx(
        data["images_per_s"] / data["against_images_per_s"]
    )
    assert data["flops_per_step"] == 3 * 8 * 2 * 416_520  # LeNet-5's 416,520 multiply-adds at 32x32
    assert data["options"] == {"amp": False, "channels_last": True, "compile": False}  # cnnlab train's CPU defaults
    lines.clear()
    assert main(args[:-2] + ["--mode", "infer", "--no-channels-last"], print_fn=lines.append) == 0
    assert any("against plain" in line and "ratio" in line for line in lines)
    assert any("options: amp=False, channels_last=False" in line for line in lines)


def test_auto_threads_leaves_out_busy_cores(monkeypatch) -> None:
    from cnnlab.engine.threads import auto_threads, parse_threads

    assert auto_threads(load=0.1, cores=2) == 2
    assert auto_threads(load=0.6, cores=2) == 1
    assert auto_threads(load=5.0, cores=2) == 1
    assert auto_threads(load=1.4, cores=8) == 7
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert auto_threads() == 3 and parse_threads("auto") == 3 and parse_threads("2") == 2
    assert parse_threads(None) is None
    with pytest.raises(ConfigError, match="threads='many'"):
        parse_threads("many")


def test_one_default_on_and_off() -> None:
    result = bench(
        Known(),
        input_size=(2, 8, 8),
        batch_size=4,
        steps=1,
        repeats=2,
        warmup=0,
        peak=False,
        channels_last=True,
        against={"channels_last": False},
    )
    assert result.against == "channels_last=False" and result.ratio > 0
    with pytest.raises(ConfigError, match="fused"):
        bench(Known(), input_size=(2, 8, 8), against={"fused": True})


def test_fast_defaults_resolve_per_device() -> None:
    from cnnlab.engine.recipes import load_recipe
    from cnnlab.engine.run import fast_defaults

    recipe = load_recipe("lenet5-digits")
    assert recipe.channels_last == "auto" and recipe.amp == "auto"
    cpu = fast_defaults(recipe, torch.device("cpu"), Known())
    assert cpu.channels_last is True and cpu.amp is False
    assert fast_defaults(recipe, torch.device("cpu"), nn.Linear(3, 2)).channels_last is False  # nothing to gain
    assert fast_defaults(recipe, torch.device("mps"), Known()).channels_last is False
    from dataclasses import replace

    assert fast_defaults(replace(recipe, channels_last=False), torch.device("cpu"), Known()).channels_last is False
    from cnnlab.engine.run import resolve_auto

    with pytest.raises(ConfigError, match="channels_last='yes'"):
        resolve_auto("yes", "auto", "cpu")
    assert resolve_auto("auto", True, "cpu", nn.Linear(3, 2)) == (False, True)


def test_channels_last_trains_like_the_plain_layout() -> None:
    """The fast default changes the memory layout only: five SGD steps of LeNet-5 on digits
    end with the same weights up to floating-point reordering."""
    import cnnlab
    from cnnlab.data import DeviceLoader, load_dataset
    from cnnlab.engine import train_one_epoch

    data = load_dataset("digits", "train")
    weights = []
    for channels_last in (False, True):
        torch.manual_seed(0)
        model = cnnlab.create_model("lenet5")
        initial = model.c1.weight.detach().clone()
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        loader = DeviceLoader(
            data, 32, train=True, seed=0, mean=data.info.mean, std=data.info.std, channels_last=channels_last
        )
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        train_one_epoch(model, loader, opt, device="cpu", channels_last=channels_last, max_steps=5)
        weights.append({k: v.detach().contiguous() for k, v in model.state_dict().items()})
    for key, value in weights[0].items():
        torch.testing.assert_close(weights[1][key], value, rtol=1e-4, atol=1e-5, msg=key)
    assert (weights[0]["c1.weight"] - initial).abs().max() > 1e-3  # it trained


def test_cli_device_errors_are_one_line_as_in_cnnlab_train(monkeypatch, capsys) -> None:
    args = ["bench", "lenet5", "--steps", "1", "--repeats", "1", "--warmup", "0", "--no-peak"]
    assert main([*args, "--device", "gpu"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "device 'gpu' is not a device torch knows; use cpu, cuda" in err
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main([*args, "--device", "cuda"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "device 'cuda' asked for, but torch sees no CUDA device; use --device cpu" in err
    with pytest.raises(ConfigError, match="device 'cuda:1'"):
        bench(Known(), input_size=(2, 8, 8), device="cuda:1")


def test_zero_classes_is_refused_like_negative_ones(capsys) -> None:
    for n in ("0", "-5"):
        assert main(["bench", "lenet5", "--num-classes", n, "--steps", "1", "--repeats", "1", "--no-peak"]) == 1
        assert f"num_classes must be a positive integer, got {n} for lenet5" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="num_classes=0"):
        bench(Known(), input_size=(2, 8, 8), num_classes=0)


def test_cli_input_takes_one_size_for_the_models_own_channels(capsys) -> None:
    base = [
        "bench",
        "lenet5",
        "--batch-size",
        "2",
        "--steps",
        "1",
        "--repeats",
        "1",
        "--warmup",
        "0",
        "--no-peak",
        "--format",
        "json",
    ]
    for size in ("32", "32x32", "1x32x32"):
        lines: list[str] = []
        assert main([*base, "--input", size], print_fn=lines.append) == 0
        assert json.loads(lines[0])["input_size"] == [1, 32, 32]
    with pytest.raises(SystemExit) as exit_info:
        main([*base, "--input", "1x32x32x1"])
    assert exit_info.value.code == 2
    assert "--input: '1x32x32x1' is not a size: give CxHxW, e.g. 3x224x224" in capsys.readouterr().err
    with pytest.raises(
        ConfigError,
        match=r"got \(32, 32\); pass e.g. input_size=\(1, 32, 32\) \(on the command line: --input 1x32x32\)",
    ):
        bench("lenet5", input_size=(32, 32))
