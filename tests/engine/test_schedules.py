"""Learning-rate schedules: each one's sequence against hand-computed values, warmup, and a
state_dict round trip mid-schedule that continues identically."""

from __future__ import annotations

import io
import math

import pytest
import torch

from cnnlab.engine.schedules import ScheduleSpec, build_schedule, preview_lrs
from cnnlab.errors import ConfigError


def approx(values):
    return pytest.approx(values, rel=1e-9, abs=1e-15)


def _opt(lr=0.1, groups=1):
    params = [torch.nn.Parameter(torch.zeros(2)) for _ in range(groups)]
    return torch.optim.SGD([{"params": [p]} for p in params], lr=lr, momentum=0.9)


# -- sequences ---------------------------------------------------------------------------------


def test_constant():
    assert preview_lrs({"name": "constant"}, lr=0.05, epochs=4) == approx([0.05] * 4)


def test_step_per_epoch():
    lrs = preview_lrs({"name": "step", "step_size": 3, "gamma": 0.1}, lr=1.0, epochs=8)
    assert lrs == approx([1, 1, 1, 0.1, 0.1, 0.1, 0.01, 0.01])


def test_step_per_step():
    # Inception-v3 style decay but per optimizer step: 2 steps per epoch, step_size 3 steps.
    lrs = preview_lrs(
        {"name": "step", "per": "step", "step_size": 3, "gamma": 0.5}, lr=1.0, epochs=4, steps_per_epoch=2, per="step"
    )
    assert lrs == approx([1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25])


def test_multistep_epochs():
    lrs = preview_lrs({"name": "multistep", "milestones": [2, 5], "gamma": 0.1}, lr=0.1, epochs=7)
    assert lrs == approx([0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001])


def test_epoch_table_deepergooglenet():
    # The course's experiment #1: 1e-2 for epochs 1-25, 1e-3 for 26-35, 1e-4 afterwards.
    lrs = preview_lrs({"name": "epochs", "table": {0: 1e-2, 25: 1e-3, 35: 1e-4}}, lr=1e-2, epochs=40)
    assert lrs == approx([1e-2] * 25 + [1e-3] * 10 + [1e-4] * 5)


def test_epoch_table_scales_a_different_base_lr():
    lrs = preview_lrs({"name": "epochs", "table": {0: 1.0, 2: 0.5}}, lr=0.2, epochs=4)
    assert lrs == approx([0.2, 0.2, 0.1, 0.1])


def test_poly_per_epoch_is_the_course_formula():
    # Practitioner Bundle ch. 11: alpha = baseLR * (1 - epoch / maxEpochs) ** power, epoch from 0.
    for power in (1.0, 2.0):
        lrs = preview_lrs({"name": "poly", "power": power}, lr=5e-3, epochs=70)
        assert lrs == approx([5e-3 * (1 - e / 70) ** power for e in range(70)])


def test_poly_per_step_with_min_lr():
    lrs = preview_lrs(
        {"name": "poly", "per": "step", "power": 1.0, "min_lr": 0.1}, lr=1.0, epochs=2, steps_per_epoch=2, per="step"
    )
    assert lrs == approx([0.1 + 0.9 * (1 - t / 4) for t in range(4)])


def test_cosine_per_step():
    t_max = 6
    lrs = preview_lrs({"name": "cosine", "min_lr": 0.01}, lr=1.0, epochs=3, steps_per_epoch=2, per="step")
    assert lrs == pytest.approx([0.01 + 0.99 * (1 + math.cos(math.pi * t / t_max)) / 2 for t in range(t_max)], rel=1e-9)


def test_cosine_holds_its_end_value_past_the_plan():
    opt = _opt(1.0)
    sched = build_schedule(opt, {"name": "cosine"}, epochs=1, steps_per_epoch=4)
    seen = []
    for _ in range(8):  # twice the planned steps: the lr must not climb back up
        seen.append(sched.lr)
        opt.step()
        sched.step_batch()
    last_planned = (1 + math.cos(math.pi * 3 / 4)) / 2
    assert seen[3:] == approx([last_planned] * 5)


def test_onecycle():
    lrs = preview_lrs(
        {"name": "onecycle", "max_lr": 1.0, "pct_start": 0.3, "div_factor": 25.0, "final_div_factor": 1e4},
        lr=0.1,
        epochs=2,
        steps_per_epoch=10,
        per="step",
    )
    total, peak = 20, int(0.3 * 20) - 1  # OneCycleLR's first phase ends at pct_start * total - 1
    initial = 1.0 / 25
    up = [initial + (1.0 - initial) * (1 - math.cos(math.pi * t / peak)) / 2 for t in range(peak + 1)]
    final = initial / 1e4
    down = [
        final + (1.0 - final) * (1 + math.cos(math.pi * (t - peak) / (total - 1 - peak))) / 2
        for t in range(peak + 1, total)
    ]
    assert lrs == pytest.approx(up + down, rel=1e-9)


def test_onecycle_does_not_raise_on_an_extra_step():
    opt = _opt()
    sched = build_schedule(opt, {"name": "onecycle", "max_lr": 1.0}, epochs=1, steps_per_epoch=5)
    for _ in range(7):
        opt.step()
        sched.step_batch()
    assert sched.lr == pytest.approx(1.0 / 25 / 1e4)


def test_plateau_alexnet_divide_by_ten():
    # Watch rank-1 validation accuracy (mode max): it stalls after epoch 2.
    metrics = [{"val_acc1": a} for a in (0.30, 0.40, 0.45, 0.45, 0.45, 0.44, 0.50, 0.50, 0.50)]
    spec = {"name": "plateau", "factor": 0.1, "patience": 1, "monitor": "val_acc1", "mode": "max", "threshold": 0.0}
    lrs = preview_lrs(spec, lr=0.01, epochs=9, metrics=metrics)
    # best 0.45 at epoch 2; epochs 3 and 4 do not improve -> after epoch 4 the lr drops (patience 1);
    # 0.44 does not improve on 0.45 either, 0.50 does; then 0.50, 0.50 stall again.
    assert lrs == approx([0.01, 0.01, 0.01, 0.01, 0.01, 0.001, 0.001, 0.001, 0.001])


def test_plateau_needs_its_metric():
    opt = _opt()
    sched = build_schedule(opt, {"name": "plateau", "monitor": "val_acc1", "mode": "max"}, epochs=3, steps_per_epoch=1)
    with pytest.raises(ConfigError, match=r"val_acc1.*val_loss"):
        sched.step_epoch({"val_loss": 1.0})


def test_plateau_waits_through_epochs_without_validation():
    opt = _opt()
    sched = build_schedule(
        opt, {"name": "plateau", "patience": 0, "factor": 0.1, "threshold": 0.0}, epochs=4, steps_per_epoch=1
    )
    lr = opt.param_groups[0]["lr"]
    sched.step_epoch({"val_loss": 1.0})
    sched.step_epoch({"train_loss": 0.9}, validated=False)  # val_every: no validation, no verdict
    assert opt.param_groups[0]["lr"] == lr
    sched.step_epoch({"val_loss": 1.0})  # no gain on 1.0 with patience 0
    assert opt.param_groups[0]["lr"] == approx(lr * 0.1)
    with pytest.raises(ConfigError, match="val_loss"):
        sched.step_epoch({"train_loss": 0.9})  # a validated epoch must carry the metric


def test_inverse_time_is_keras_decay():
    # Keras 2 SGD(lr=0.01, decay=0.01 / 40): the update with index t uses lr / (1 + decay * t).
    decay = 0.01 / 40
    lrs = preview_lrs({"name": "inverse_time", "decay": decay}, lr=0.01, epochs=3, steps_per_epoch=4, per="step")
    assert lrs == approx([0.01 / (1 + decay * t) for t in range(12)])


def test_inverse_time_per_epoch():
    lrs = preview_lrs({"name": "inverse_time", "decay": 0.5, "per": "epoch"}, lr=1.0, epochs=3, steps_per_epoch=2)
    assert lrs == approx([1.0, 1 / 1.5, 1 / 2.0])


# -- warmup ------------------------------------------------------------------------------------


def test_constant_warmup_resnet110():
    # He et al. 2015 Sec. 4.2: 0.01 until ~400 iterations, then 0.1, milestones on absolute steps.
    spec = {
        "name": "multistep",
        "per": "step",
        "milestones": [6, 8],
        "warmup_steps": 3,
        "warmup_factor": 0.1,
        "warmup_mode": "constant",
    }
    lrs = preview_lrs(spec, lr=0.1, epochs=5, steps_per_epoch=2, per="step")
    assert lrs == approx([0.01, 0.01, 0.01, 0.1, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001])


def test_linear_warmup_in_epochs_ramps_per_step_before_a_per_epoch_schedule():
    # Goyal et al. style: 1 epoch of 4 steps from 0.25 x lr to lr, then step decay per epoch.
    spec = {"name": "step", "step_size": 2, "gamma": 0.5, "warmup_epochs": 1, "warmup_factor": 0.25}
    lrs = preview_lrs(spec, lr=1.0, epochs=3, steps_per_epoch=4, per="step")
    ramp = [0.25 + 0.75 * t / 4 for t in range(4)]
    assert lrs == approx(ramp + [1.0] * 4 + [0.5] * 4)


def test_warmup_before_poly_and_cosine():
    lrs = preview_lrs(
        {"name": "poly", "per": "step", "warmup_steps": 2, "warmup_factor": 0.5},
        lr=1.0,
        epochs=1,
        steps_per_epoch=4,
        per="step",
    )
    assert lrs == approx([1.0 * 0.5, 0.75 * 0.75, 0.5, 0.25])
    lrs = preview_lrs(
        {"name": "cosine", "warmup_steps": 1, "warmup_factor": 0.5}, lr=1.0, epochs=1, steps_per_epoch=2, per="step"
    )
    assert lrs == approx([0.5, 0.5])


def test_warmup_before_plateau():
    spec = {"name": "plateau", "patience": 0, "warmup_steps": 2, "warmup_factor": 0.5, "threshold": 0.0}
    lrs = preview_lrs(spec, lr=1.0, epochs=3, steps_per_epoch=1, per="step", metrics=[{"val_loss": 1.0}] * 3)
    assert lrs == approx([0.5, 0.75, 0.1])


# -- the Schedule object -----------------------------------------------------------------------


def test_every_param_group_follows_and_lr_property():
    opt = _opt(0.1, groups=2)
    sched = build_schedule(opt, {"name": "step", "step_size": 1, "gamma": 0.5}, epochs=3, steps_per_epoch=1)
    opt.step()
    sched.step_batch()
    sched.step_epoch({})
    assert sched.lrs == approx([0.05, 0.05]) and sched.lr == pytest.approx(0.05)


def test_set_lr_rescales_the_rest():
    opt = _opt(0.01)
    sched = build_schedule(opt, ScheduleSpec(name="epochs", table={0: 0.01, 2: 0.001}), epochs=4, steps_per_epoch=1)
    opt.step()
    sched.step_batch()
    sched.step_epoch({})
    sched.set_lr(0.1)  # resume with a 10x higher rate, as the course does after ctrl+c
    assert sched.lr == pytest.approx(0.1)
    sched.step_epoch({})
    assert sched.lr == pytest.approx(0.01)


SPECS = [
    {"name": "constant"},
    {"name": "step", "step_size": 2, "gamma": 0.5},
    {"name": "multistep", "per": "step", "milestones": [3, 7, 11]},
    {"name": "epochs", "table": {0: 0.1, 2: 0.01, 4: 0.001}},
    {"name": "poly", "power": 2.0},
    {"name": "poly", "per": "step", "power": 0.9},
    {"name": "cosine", "min_lr": 0.001},
    {"name": "onecycle", "max_lr": 0.5},
    {"name": "plateau", "patience": 0, "threshold": 0.0},
    {"name": "inverse_time", "decay": 0.05},
    {"name": "multistep", "milestones": [3], "warmup_steps": 5, "warmup_factor": 0.1},
    {"name": "cosine", "warmup_epochs": 1.5, "warmup_mode": "linear"},
]


@pytest.mark.parametrize(
    "spec", SPECS, ids=lambda s: s["name"] + ("+warmup" if any(k.startswith("warmup") for k in s) else "")
)
def test_state_dict_round_trip_mid_schedule(spec):
    epochs, spe = 6, 3
    metrics = [{"val_loss": v} for v in (3.0, 2.0, 2.0, 2.5, 1.0, 1.0)]

    def run(sched, opt, epoch_range, out):
        for epoch in epoch_range:
            for _ in range(spe):
                out.append(sched.lr)
                opt.step()
                sched.step_batch()
            sched.step_epoch(metrics[epoch])

    opt_a = _opt(0.1)
    a = build_schedule(opt_a, spec, epochs=epochs, steps_per_epoch=spe)
    seen_a: list[float] = []
    run(a, opt_a, range(3), seen_a)
    buffer = io.BytesIO()
    torch.save({"schedule": a.state_dict(), "optimizer": opt_a.state_dict()}, buffer)
    run(a, opt_a, range(3, epochs), seen_a)

    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)  # a checkpoint never needs to unpickle code
    opt_b = _opt(0.1)
    b = build_schedule(opt_b, spec, epochs=epochs, steps_per_epoch=spe)
    opt_b.load_state_dict(saved["optimizer"])
    b.load_state_dict(saved["schedule"])
    seen_b: list[float] = []
    run(b, opt_b, range(3, epochs), seen_b)
    assert seen_b == seen_a[3 * spe :]
    assert b.state_dict()["steps_done"] == a.state_dict()["steps_done"] == epochs * spe


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "cosine"},
        {"name": "cosine", "per": "step"},
        {"name": "poly", "power": 2.0},
        {"name": "onecycle", "max_lr": 0.5},
    ],
    ids=lambda s: s["name"] + "/" + s.get("per", "default"),
)
def test_a_run_resumed_with_more_epochs_follows_the_new_length(spec):
    spe = 3

    def run(sched, opt, epochs):
        out = []
        for _ in range(epochs):
            for _ in range(spe):
                out.append(sched.lr)
                opt.step()
                sched.step_batch()
            sched.step_epoch()
        return out

    opt_a = _opt(0.1)
    a = build_schedule(opt_a, spec, epochs=2, steps_per_epoch=spe)
    run(a, opt_a, 2)
    opt_b = _opt(0.1)
    b = build_schedule(opt_b, spec, epochs=4, steps_per_epoch=spe)  # resumed with --epochs 4
    opt_b.load_state_dict(opt_a.state_dict())
    b.load_state_dict(a.state_dict())
    resumed = run(b, opt_b, 2)
    if spec["name"] == "cosine":  # recursive: it goes on down from where it ended, never climbing again
        assert all(later <= earlier * (1 + 1e-9) for earlier, later in zip(resumed, resumed[1:])), resumed
        assert b.scheduler.T_max == (4 if b.interval == "epoch" else 4 * spe)
    else:  # closed forms of the step count: exactly a 4-epoch run's rates
        opt_c = _opt(0.1)
        fresh = run(build_schedule(opt_c, spec, epochs=4, steps_per_epoch=spe), opt_c, 4)
        assert resumed == pytest.approx(fresh[2 * spe :], rel=1e-12)


def test_load_refuses_another_schedule():
    opt = _opt()
    a = build_schedule(opt, {"name": "cosine"}, epochs=2, steps_per_epoch=2)
    b = build_schedule(_opt(), {"name": "step", "step_size": 1}, epochs=2, steps_per_epoch=2)
    with pytest.raises(ConfigError, match="'cosine'.*'step'"):
        b.load_state_dict(a.state_dict())


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"name": "stepp"}, r"schedule\.name='stepp'.*one of"),
        ({"name": "step"}, r"step_size"),
        ({"name": "multistep", "milestones": [5, 3]}, r"milestones=\[5, 3\].*increasing"),
        ({"name": "epochs", "table": {5: 0.1}}, r"start at epoch 0"),
        ({"name": "onecycle"}, r"max_lr"),
        ({"name": "plateau", "per": "step"}, r"per='step'.*per epoch"),
        ({"name": "cosine", "warmup_steps": 2, "warmup_epochs": 1}, r"both"),
        ({"name": "cosine", "warmup_factor": 0.0}, r"warmup_factor"),
        ({"name": "cosine", "gama": 0.1}, r"unknown key 'schedule\.gama'.*schedule\.gamma"),
        ({"name": "step", "step_size": "ten"}, r"schedule\.step_size='ten'.*int"),
    ],
)
def test_bad_specs_fail_naming_the_value(spec, match):
    with pytest.raises(ConfigError, match=match):
        build_schedule(_opt(), spec, epochs=3, steps_per_epoch=2)
