"""train_one_epoch, evaluate and fit: metrics, hooks, schedules, auxiliary losses, divergence,
and one-batch overfitting for a model of every family."""

from __future__ import annotations

import io
import json
import math
import sys
import types

import pytest
import torch
from torch import nn

import cnnlab
from cnnlab.engine import (
    Callback,
    Checkpointer,
    EarlyStopping,
    MetricsLogger,
    ProgressBar,
    TensorBoardLogger,
    TrainingDivergedError,
    TrainState,
    WandbLogger,
    evaluate,
    fit,
    load_checkpoint,
    train_one_epoch,
)
from cnnlab.errors import ConfigError
from tests.engine import RepeatLoader, StubSchedule, TensorLoader, TwoHeads, random_digits
from tests.helpers import small_model


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class Recorder(Callback):
    def __init__(self):
        self.calls, self.batches, self.status = [], [], None

    def on_fit_start(self, state):
        self.calls.append(("fit_start", state.start_epoch))

    def on_epoch_start(self, state):
        self.calls.append(("epoch_start", state.epoch))

    def on_batch_end(self, state, batch_metrics):
        self.batches.append(dict(batch_metrics))

    def on_epoch_end(self, state, metrics):
        self.calls.append(("epoch_end", metrics["epoch"]))

    def on_fit_end(self, state):
        self.calls.append(("fit_end", state.status))


def lenet(num_classes=10):
    return cnnlab.create_model("lenet5", num_classes=num_classes)


def digits_loaders(n=64, batch=16):
    x, y = random_digits(n)
    return TensorLoader(x, y, batch, flip=True), TensorLoader(x, y, 32, shuffle=False)


# -- train_one_epoch / evaluate ---------------------------------------------------------------
def test_train_one_epoch_metrics_and_set_epoch():
    train, _ = digits_loaders()
    model = lenet()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    before = [p.detach().clone() for p in model.parameters()]
    out = train_one_epoch(model, train, opt, device="cpu", epoch=3)
    assert train.epochs_set == [3]
    assert set(out) == {"loss", "acc1", "images", "steps", "seconds", "images_per_s"}
    assert out["images"] == 64 and out["steps"] == 4
    assert 0 <= out["acc1"] <= 1 and math.isfinite(out["loss"]) and out["images_per_s"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert model.training


def test_train_one_epoch_max_steps_and_batch_metrics():
    train, _ = digits_loaders()
    model, rec = lenet(), Recorder()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    out = train_one_epoch(model, train, opt, device="cpu", max_steps=2, callbacks=[rec])
    assert out["steps"] == 2 and out["images"] == 32
    assert [b["global_step"] for b in rec.batches] == [1, 2]
    assert {"phase", "loss", "acc1", "lr", "running_loss", "running_acc1", "images_per_s", "batch_size"} <= set(
        rec.batches[0]
    )
    assert out["loss"] == pytest.approx(sum(b["loss"] * b["batch_size"] for b in rec.batches) / 32)


class FixedLogits(nn.Module):
    """Returns the logits stored for each batch, ignoring the images."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits
        self.weight = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return self.logits[x[:, 0, 0, 0].long()] + 0 * self.weight


def test_evaluate_topk_on_crafted_logits():
    # 6 samples, 6 classes; the true class ranks 1st, 2nd, 6th, 6th, 1st, 6th.
    logits = torch.tensor(
        [
            [9, 1, 2, 3, 4, 5],
            [1, 9, 8, 3, 4, 5],
            [0, 5, 4, 3, 2, 1],
            [0, 5, 4, 3, 2, 1],
            [1, 2, 3, 4, 5, 9],
            [1, 2, 3, 9, 8, 0],
        ],
        dtype=torch.float,
    )
    labels = torch.tensor([0, 2, 0, 0, 5, 5])
    ranks = [(logits[i] > logits[i, labels[i]]).sum().item() + 1 for i in range(6)]
    assert ranks == [1, 2, 6, 6, 1, 6]
    x = torch.arange(6, dtype=torch.float)[:, None, None, None].expand(6, 1, 2, 2).contiguous()
    loader = TensorLoader(x, labels, 4, shuffle=False)
    model = FixedLogits(logits)
    model.train()
    out = evaluate(model, loader, device="cpu", topk=(1, 2, 5), return_outputs=True)
    assert out["acc1"] == pytest.approx(sum(r <= 1 for r in ranks) / 6)
    assert out["acc2"] == pytest.approx(sum(r <= 2 for r in ranks) / 6)
    assert out["acc5"] == pytest.approx(sum(r <= 5 for r in ranks) / 6)
    assert out["loss"] == pytest.approx(nn.functional.cross_entropy(logits, labels).item(), rel=1e-6)
    assert torch.equal(out["logits"], logits) and torch.equal(out["labels"], labels)
    assert out["images"] == 6
    assert model.training, "evaluate restores the training mode"
    # acc5 is left out when there are fewer than 5 classes
    three = evaluate(FixedLogits(logits[:, :3]), TensorLoader(x, labels % 3, 4, shuffle=False), device="cpu")
    assert "acc1" in three and "acc5" not in three


# -- fit, callbacks, schedules ----------------------------------------------------------------
def test_fit_hooks_schedule_and_history():
    train, val = digits_loaders()
    model, rec = lenet(), Recorder()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = StubSchedule(opt)
    history = fit(model, train, val, opt, epochs=2, device="cpu", scheduler=sched, callbacks=[rec])
    assert rec.calls == [
        ("fit_start", 0),
        ("epoch_start", 0),
        ("epoch_end", 1),
        ("epoch_start", 1),
        ("epoch_end", 2),
        ("fit_end", "completed"),
    ]
    assert sched.steps == 8 and sched.epochs == 2
    assert sched.seen[0]["val_loss"] == history[0]["val_loss"]
    assert [r["epoch"] for r in history] == [1, 2]
    assert {"lr", "train_loss", "train_acc1", "val_loss", "val_acc1", "val_acc5", "epoch_seconds"} <= set(history[0])
    assert history[0]["lr"] == pytest.approx(0.05 * 0.99**4)  # lr of the epoch's last step, before step_epoch
    assert [b["phase"] for b in rec.batches].count("val") == 2 * 2  # 64 images in batches of 32
    assert history.column("epoch") == [1, 2]


def test_fit_steps_torch_schedulers_per_epoch():
    train, val = digits_loaders()
    model = lenet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.1)
    history = fit(model, train, val, opt, epochs=2, device="cpu", scheduler=sched)
    assert [r["lr"] for r in history] == pytest.approx([0.1, 0.01])


def test_early_stopping_stops_and_says_so():
    train, val = digits_loaders()
    model, rec, lines = lenet(), Recorder(), []
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # nothing improves
    stop = EarlyStopping(monitor="val_loss", patience=2, print_fn=lines.append)
    history = fit(model, train, val, opt, epochs=10, device="cpu", callbacks=[stop, rec])
    assert len(history) == 3 and rec.calls[-1] == ("fit_end", "stopped")
    assert "early stopping after epoch 3" in lines[0]


def test_monitoring_validation_without_validation_data_fails_early():
    train, _ = digits_loaders()
    model = lenet()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with pytest.raises(ConfigError, match="no validation data"):
        fit(model, train, None, opt, epochs=1, device="cpu", callbacks=[EarlyStopping()])


def test_progress_bar_and_summary_lines():
    train, val = digits_loaders()
    model, stream, lines = lenet(), io.StringIO(), []
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    fit(
        model,
        train,
        val,
        opt,
        epochs=1,
        device="cpu",
        callbacks=[ProgressBar(force=True, file=stream, print_fn=lines.append, mininterval=0)],
    )
    assert "epoch 1/1" in stream.getvalue() and "img_s" in stream.getvalue()
    assert lines[0].startswith("epoch 1/1 | train loss") and "val loss" in lines[0] and "img/s" in lines[0]
    # not a terminal and not forced: no bar, still the summary line
    quiet, lines = io.StringIO(), []
    fit(model, train, val, opt, epochs=1, device="cpu", callbacks=[ProgressBar(file=quiet, print_fn=lines.append)])
    assert quiet.getvalue() == "" and len(lines) == 1


def test_metrics_logger_writes_csv_and_jsonl(tmp_path):
    train, val = digits_loaders()
    model = lenet()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    history = fit(model, train, val, opt, epochs=2, device="cpu", run_dir=tmp_path, callbacks=[MetricsLogger()])
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows == list(history)
    csv_lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert csv_lines[0].split(",")[:3] == ["epoch", "lr", "train_loss"] and len(csv_lines) == 3


def test_metrics_logger_on_resume_drops_epochs_to_be_redone(tmp_path):
    rows = [{"epoch": e, "train_loss": 1.0 / e} for e in (1, 2, 3)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"epoch": 4, "tra')
    logger = MetricsLogger(tmp_path)
    logger.on_fit_start(TrainState(model=nn.Linear(1, 1), start_epoch=2, run_dir=tmp_path))
    assert [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == rows[:2]
    assert (tmp_path / "metrics.csv").read_text().splitlines() == ["epoch,train_loss", "1,1.0", "2,0.5"]
    logger.on_epoch_end(TrainState(model=nn.Linear(1, 1), epoch=2), {"epoch": 3, "train_loss": 0.25, "val_loss": 0.5})
    assert (tmp_path / "metrics.csv").read_text().splitlines() == [
        "epoch,train_loss,val_loss",
        "1,1.0,",
        "2,0.5,",
        "3,0.25,0.5",
    ]


def test_optional_loggers_skip_with_a_notice(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    monkeypatch.setitem(sys.modules, "wandb", None)
    train, val = digits_loaders()
    model, lines = lenet(), []
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    fit(
        model,
        train,
        val,
        opt,
        epochs=1,
        device="cpu",
        run_dir=tmp_path,
        callbacks=[TensorBoardLogger(print_fn=lines.append), WandbLogger(print_fn=lines.append)],
    )
    assert len(lines) == 2
    assert lines[0].startswith("TensorBoard logging skipped") and "pip install tensorboard" in lines[0]
    assert lines[1].startswith("Weights & Biases logging skipped") and "pip install wandb" in lines[1]


def test_optional_loggers_log_epochs_when_installed(monkeypatch, tmp_path):
    calls = []

    class FakeWriter:
        def __init__(self, log_dir, purge_step=None):
            calls.append(("writer", log_dir, purge_step))

        def add_scalar(self, tag, value, step):
            calls.append(("scalar", tag, step))

        def flush(self):
            pass

        def close(self):
            calls.append(("close",))

    class FakeRun:
        def log(self, metrics, step):
            calls.append(("wandb.log", sorted(metrics), step))

        def finish(self, exit_code):
            calls.append(("wandb.finish", exit_code))

    def fake_init(**kwargs):
        calls.append(("wandb.init", kwargs["mode"], kwargs["config"]))
        return FakeRun()

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=FakeWriter))
    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=fake_init))
    monkeypatch.delenv("WANDB_MODE", raising=False)
    train, val = digits_loaders()
    model = lenet()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    fit(
        model,
        train,
        val,
        opt,
        epochs=1,
        device="cpu",
        run_dir=tmp_path,
        recipe={"lr": 0.01},
        callbacks=[TensorBoardLogger(log_every=2), WandbLogger()],
    )
    assert calls[0] == ("writer", str(tmp_path / "tensorboard"), None)
    assert calls[1] == ("wandb.init", "offline", {"lr": 0.01})
    assert ("scalar", "batch/train_loss", 2) in calls and ("scalar", "epoch/val_acc1", 1) in calls
    assert (
        "wandb.log",
        [
            "epoch",
            "epoch_seconds",
            "lr",
            "train_acc1",
            "train_images_per_s",
            "train_loss",
            "train_seconds",
            "val_acc1",
            "val_acc5",
            "val_loss",
            "val_seconds",
        ],
        4,
    ) in calls
    assert calls[-2:] == [("close",), ("wandb.finish", 0)]


def test_grad_clip_bounds_the_update():
    train, _ = digits_loaders()
    model = lenet()
    before = torch.cat([p.detach().flatten() for p in model.parameters()])
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    train_one_epoch(model, train, opt, device="cpu", grad_clip=1e-3, max_steps=1)
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert 0 < (after - before).norm() <= 1e-3 * (1 + 1e-5)


def test_amp_bf16_and_channels_last_on_cpu():
    train, val = digits_loaders()
    model = lenet()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    history = fit(model, train, val, opt, epochs=1, device="cpu", amp="bf16", channels_last=True)
    assert math.isfinite(history[0]["train_loss"]) and math.isfinite(history[0]["val_loss"])
    assert model.c1.weight.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ConfigError, match="amp='bf16'"):
        train_one_epoch(model, train, opt, device="cpu", amp="fp16")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fp16_with_a_gradient_scaler_on_cuda(tmp_path):
    train, val = digits_loaders()
    model = lenet().cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    history = fit(
        model,
        train,
        val,
        opt,
        epochs=2,
        device="cuda",
        amp="fp16",
        channels_last=True,
        run_dir=tmp_path,
        callbacks=[Checkpointer(every=1)],
    )
    assert all(math.isfinite(r["train_loss"]) for r in history)
    last = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert last["scaler"] is not None and last["scaler"]["scale"] > 0
    history = fit(model, train, val, opt, epochs=3, device="cuda", amp="fp16", run_dir=tmp_path, resume_from=tmp_path)
    assert [r["epoch"] for r in history] == [1, 2, 3]


# -- auxiliary heads --------------------------------------------------------------------------
def test_auxiliary_loss_is_main_plus_weighted_aux():
    x, y = torch.randn(4, 1, 4, 4), torch.tensor([0, 1, 2, 0])
    model = TwoHeads()
    ce = nn.functional.cross_entropy
    h = x.flatten(1)
    expected = ce(model.fc(h), y) + 0.3 * ce(model.aux1(h), y) + 0.3 * ce(model.aux2(h), y)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    out = train_one_epoch(model, RepeatLoader(x, y, 1), opt, device="cpu")
    assert out["loss"] == pytest.approx(expected.item(), rel=1e-6)
    # every head receives gradient
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    # heads switched off: plain forward
    model.aux_logits = False
    out = train_one_epoch(model, RepeatLoader(x, y, 1), opt, device="cpu")
    assert out["loss"] == pytest.approx(ce(model(x), y).item(), rel=1e-6)


def test_auxiliary_outputs_without_weights_fail_clearly():
    model = TwoHeads()
    model.aux_weights = None
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    with pytest.raises(ConfigError, match="aux_weights"):
        train_one_epoch(model, RepeatLoader(torch.randn(2, 1, 4, 4), torch.tensor([0, 1]), 1), opt, device="cpu")


# -- divergence -------------------------------------------------------------------------------
class PoisonAt(Callback):
    """Makes the data NaN from a given global step on (as a bad batch would)."""

    def __init__(self, loader, step):
        self.loader, self.step = loader, step

    def on_batch_end(self, state, batch_metrics):
        if batch_metrics.get("phase") == "train" and state.global_step == self.step:
            self.loader.x = self.loader.x.clone()
            self.loader.x[:] = float("nan")


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    train, val = digits_loaders()
    model, rec, lines = lenet(), Recorder(), []
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    ckpt = Checkpointer(tmp_path, every=1, monitor="val_acc1", print_fn=lines.append)
    with pytest.raises(TrainingDivergedError, match=r"loss is nan at epoch 2, step 3") as err:
        fit(model, train, val, opt, epochs=3, device="cpu", callbacks=[PoisonAt(train, 6), ckpt, rec])
    assert err.value.epoch == 1 and math.isnan(err.value.value)
    assert "lower learning rate" in str(err.value)
    assert rec.calls[-1] == ("fit_end", "diverged")
    assert all(torch.isfinite(p).all() for p in model.parameters()), "the bad step was not applied"
    files = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert files == ["best.pt", "epoch_001.pt", "last.pt"]
    last = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert last["epoch"] == 1 and all(torch.isfinite(t).all() for t in last["model"].values() if t.is_floating_point())


def test_checkpointer_refuses_non_finite_weights(tmp_path):
    train, _ = digits_loaders()
    model, lines = lenet(), []
    opt = torch.optim.SGD(model.parameters(), lr=0.0)

    class Corrupt(Callback):
        def on_epoch_end(self, state, metrics):
            with torch.no_grad():
                model.c1.weight[0, 0, 0, 0] = float("inf")

    fit(
        model,
        train,
        None,
        opt,
        epochs=1,
        device="cpu",
        run_dir=tmp_path,
        callbacks=[Corrupt(), Checkpointer(every=1, monitor=None, print_fn=lines.append)],
    )
    assert not (tmp_path / "checkpoints" / "last.pt").exists()
    assert "not saved" in lines[0]


# -- one-batch overfitting, a model of every family -------------------------------------------
NO_DROP_PATH = {"drop_path_local": 0.0, "global_drop_ratio": 0.0}


def case(name, steps, lr, options=None, slow=False):
    """(model name, steps, Adam learning rate, model options); slow ones are marked."""
    return pytest.param(name, steps, lr, options or {}, id=name, marks=[pytest.mark.slow] if slow else [])


OVERFIT = [
    case("lenet5", 30, 3e-3),
    case("minivgg", 20, 1e-3),
    case("resnet20", 20, 1e-3),
    case("squeezenet1_1", 30, 1e-3),
    case("densenet_bc_100_12", 30, 3e-3),
    case("minigooglenet", 15, 1e-3, slow=True),
    case("deepergooglenet", 10, 1e-3, slow=True),
    case("nin_cifar10", 60, 1e-4, slow=True),
    case("alexnet", 10, 1e-4, slow=True),
    case("vgg11", 20, 1e-4, slow=True),
    case("googlenet", 15, 1e-4, slow=True),  # through forward_aux: main + 0.3 aux1 + 0.3 aux2
    case("bn_inception", 10, 1e-3, slow=True),
    case("inception_v3", 10, 1e-3, slow=True),
    case("preact_resnet164", 20, 1e-3, slow=True),
    case("wrn16_8", 15, 1e-3, slow=True),
    case("resnext50_32x4d", 10, 1e-3, slow=True),
    case("fractalnet20", 15, 1e-3, NO_DROP_PATH, slow=True),
    case("dpn68", 15, 1e-3, slow=True),
]
# Their papers' initialisations (weights N(0, 0.01), no batch norm) shrink the signal so much
# that the first outputs do not depend on the input; the papers needed many epochs to leave
# chance. One batch in a few steps tests the architecture and the loop, so use He's init.
HE_INIT = {"alexnet", "googlenet"}


class LossLog(Callback):
    def __init__(self):
        self.losses, self.accs = [], []

    def on_batch_end(self, state, batch_metrics):
        self.losses.append(batch_metrics["loss"])
        self.accs.append(batch_metrics["acc1"])


def without_regularisation(model, he_init=False):
    """Dropout off (it would make a one-batch loss noisy), optionally He-initialised."""
    for m in model.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.p = 0.0
        elif isinstance(getattr(m, "drop_prob", None), float):
            m.drop_prob = 0.0
        if he_init and isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return model


@pytest.mark.parametrize(("name", "steps", "lr", "options"), OVERFIT)
def test_overfits_one_batch(name, steps, lr, options):
    model, x = small_model(name, num_classes=10, **options)
    if name == "inception_v3" and getattr(model, "aux_weights", None) is None:
        model.aux_weights = (0.4,)  # TF-slim's weight for the auxiliary loss
    without_regularisation(model, he_init=name in HE_INIT)
    # 8 smooth random images (8x8 noise upsampled): distinct after many poolings, unlike white noise
    x = nn.functional.interpolate(
        torch.randn(8, x.shape[1], 8, 8), size=x.shape[2:], mode="bilinear", align_corners=False
    )
    y = torch.arange(8)
    log = LossLog()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    train_one_epoch(model, RepeatLoader(x, y, steps), opt, device="cpu", callbacks=[log])
    first, last = log.losses[0], min(log.losses[-3:])
    assert last < 0.5 * first or log.accs[-1] == 1.0, f"{name}: loss {first:.3f} -> {last:.3f}, accuracy {log.accs[-1]}"


# -- validating every N epochs ----------------------------------------------------------------
def test_val_every_validates_every_nth_and_the_last_epoch(tmp_path):
    from cnnlab.engine.checkpoint import load_checkpoint

    train, val = digits_loaders()
    model, rec = lenet(), Recorder()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    history = fit(
        model,
        train,
        val,
        opt,
        epochs=5,
        device="cpu",
        val_every=2,
        run_dir=tmp_path,
        callbacks=[rec, MetricsLogger(), Checkpointer(every=0)],
    )
    assert [("val_loss" in r) for r in history] == [False, True, False, True, True]  # 2, 4 and the last
    assert [b["phase"] for b in rec.batches].count("val") == 3 * 2
    csv_lines = (tmp_path / "metrics.csv").read_text().splitlines()
    header = csv_lines[0].split(",")
    assert len(csv_lines) == 6 and "val_loss" in header
    assert csv_lines[1].split(",")[header.index("val_loss")] == ""  # epoch 1: an empty cell, not a stale value
    assert load_checkpoint(tmp_path / "checkpoints" / "best.pt")["epoch"] in (2, 4, 5)
    with pytest.raises(ConfigError, match="val_every must be a positive whole number.*got 0"):
        fit(model, train, val, opt, epochs=1, device="cpu", val_every=0)


def test_early_stopping_and_plateau_count_validated_epochs_only():
    train, val = digits_loaders()
    model, lines = lenet(), []
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # nothing improves
    stop = EarlyStopping(monitor="val_loss", patience=2, print_fn=lines.append)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=5)
    history = fit(model, train, val, opt, epochs=10, device="cpu", val_every=2, scheduler=plateau, callbacks=[stop])
    assert len(history) == 6 and "early stopping after epoch 6" in lines[0]  # validated at 2, 4, 6: two without gain
    assert plateau.last_epoch == 3  # stepped after each validation, not after every epoch
