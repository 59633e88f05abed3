"""analyze(): rows at the op level, counts against FlopCounterMode, parameters three ways,
memory, and a model left exactly as it was."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import cnnlab
from cnnlab.analysis import analyze
from cnnlab.errors import InputShapeError
from tests.analysis.test_receptive_field import CHAIN_MODELS
from tests.helpers import flop_counter_macs, meta_model


class Branchy(nn.Module):
    """Functional ops, a shared module called twice, a functional conv with its own
    parameter, a concatenation, an addition, a gate and a batched matrix product."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.shared = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.w = nn.Parameter(torch.randn(8, 16, 1, 1) * 0.1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem(x))
        a = self.shared(x)
        b = self.shared(F.max_pool2d(x, 3, 1, 1))  # the same module, a second call
        y = torch.cat([a, b], dim=1)  # N x 16 x H x W
        y = F.conv2d(y, self.w)  # a functional conv: N x 8 x H x W
        y = self.bn(y) + x
        gate = torch.sigmoid(y.mean(dim=(2, 3), keepdim=True))
        y = y * gate
        tokens = y.flatten(2)  # N x 8 x HW
        attn = torch.bmm(tokens.transpose(1, 2), tokens)  # N x HW x HW
        y = torch.bmm(tokens, attn).mean(dim=2)
        return self.fc(y)


def test_user_model_rows_and_macs_match_flop_counter() -> None:
    model = Branchy()
    a = analyze(model, (3, 8, 8))
    assert a.macs == flop_counter_macs(model, (3, 8, 8))
    assert a.flops == 2 * a.macs
    labels = [r.label for r in a]
    # Functional ops called in forward are rows, named after their parent (the root here).
    for expected in ("relu", "max_pool2d", "cat", "conv2d", "add", "sigmoid", "mul", "bmm", "bmm_1", "fc"):
        assert expected in labels, (expected, labels)
    shared = [r for r in a if r.name == "shared"]
    assert [r.call for r in shared] == [0, 1] and [r.label for r in shared] == ["shared", "shared#2"]
    assert shared[0].weights == 8 * 8 * 9 and not shared[0].shared
    assert shared[1].params == 0 and shared[1].shared  # counted once
    conv = a.row("conv2d")
    assert conv.kind == "conv" and conv.weights == 8 * 16 and conv.macs == 8 * 8 * 8 * 16
    cat = a.row("cat")
    assert cat.kind == "concat" and set(cat.inputs) == {shared[0].index, shared[1].index}
    assert a.row("add").kind == "elementwise"
    assert a.params_total == sum(p.numel() for p in model.parameters())
    assert sum(r.params for r in a) == a.params_total == a.params_used


def test_rows_split_parameters_and_count_other_ops_apart_from_macs() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 2)
    )
    model[0].weight.requires_grad_(False)
    a = analyze(model, (3, 8, 8))
    conv, bn, relu, pool, flat, fc = a.rows
    assert (conv.weights, conv.biases, conv.frozen, conv.trainable) == (108, 4, 108, 4)
    assert (conv.kernel, conv.stride, conv.padding, conv.dilation, conv.groups) == ((3, 3), (1, 1), (0, 0), (1, 1), 1)
    assert conv.macs == 6 * 6 * 4 * 27 and conv.ops == {"bias": 6 * 6 * 4}
    assert (bn.weights, bn.biases) == (4, 4) and bn.ops == {"norm": 144} and bn.macs == 0
    assert relu.ops == {"act": 144}
    assert pool.ops == {"pool": 36 * 4} and pool.kernel == (2, 2) and pool.stride == (2, 2)
    assert flat.kind == "reshape" and flat.ops == {}
    assert fc.macs == 36 * 2 and fc.ops == {"bias": 2}
    assert a.macs == conv.macs + fc.macs  # nothing else folded in
    assert (a.params_total, a.params_trainable) == (108 + 4 + 8 + 74, 4 + 8 + 74)
    assert [r.inputs for r in a.rows] == [(0,), (1,), (2,), (3,), (4,), (5,)]
    assert a.is_chain


def test_every_hook_removed_mode_and_grad_flags_restored_results_repeatable() -> None:
    model = Branchy()
    model.train()
    model.fc.weight.requires_grad_(False)
    seen = []
    handle = model.stem.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    before = {n: p.detach().clone() for n, p in model.state_dict().items()}
    first = analyze(model, (3, 8, 8)).to_dict()
    second = analyze(model, (3, 8, 8)).to_dict()
    assert first == second
    after = model.state_dict()
    assert all(torch.equal(before[n], after[n]) for n in before)  # running stats included
    assert seen == []  # the user's hook never saw the meta tensors ...
    model(torch.randn(1, 3, 8, 8))
    assert len(seen) == 1  # ... and still works afterwards
    handle.remove()
    assert model.training and not model.fc.weight.requires_grad and model.fc.bias.requires_grad
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    model.eval()
    model.bn.train()  # mixed modes come back as they were
    analyze(model, (3, 8, 8))
    analyze(model, (3, 8, 8), aux=False, measure_saved=True)
    assert not model.training and model.bn.training and not model.stem.training


class _Allocations(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.devices: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor) and t.numel() > 1:
                self.devices.add(t.device.type)
        return out


def test_registered_model_is_analysed_without_allocating_weights() -> None:
    with _Allocations() as seen:
        a = analyze("vgg16")
    assert seen.devices == {"meta"}
    assert a.params_total == 138_357_544


def test_googlenet_parameters_three_ways_explain_the_auxiliary_heads() -> None:
    a = analyze("googlenet")
    assert a.params_total == 13_378_280
    assert a.params_used == 6_998_552
    assert dict(a.unused) == {"aux1": 3_188_840, "aux2": 3_190_888}
    with_aux = analyze("googlenet", aux=True)
    assert with_aux.params_used == with_aux.params_total and with_aux.unused == ()
    assert with_aux.macs > a.macs


def test_vgg16_activations_by_the_lecture_rule() -> None:
    a = analyze("vgg16")
    # 224*224*3 input + conv outputs (2x3.2M, 2x1.6M, 3x802,816, 3x401,408, 3x100,352)
    # + pools (802,816 + 401,408 + 200,704 + 100,352 + 25,088 + 25,088 adaptive) + FCs 9,192.
    assert a.activation_elements == 15_237_608 + 25_088  # torchvision's 7x7 adaptive pool is a row
    assert a.activation_bytes == 4 * a.activation_elements


def test_saved_bytes_are_what_autograd_saves() -> None:
    # conv saves its input; relu saves its output, which the linear (through a view) saves
    # again: one storage. Parameters are not activations.
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 16, 2))
    a = analyze(model, (3, 4, 4), batch_size=2)
    assert a.saved_bytes == 4 * (2 * 3 * 16 + 2 * 8 * 16)
    mem = a.training_memory("adam", batch_size=8)
    p = a.params_total * 4
    assert (mem.parameters, mem.gradients, mem.optimizer_state) == (p, p, 2 * p)
    assert mem.activations == 4 * a.saved_bytes and mem.total == 4 * p + 4 * a.saved_bytes
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'"):
        a.training_memory("lbfgs")


def test_saved_bytes_on_meta_equal_a_real_cpu_step() -> None:
    model = cnnlab.create_model("resnet18", num_classes=10)
    a = analyze(model, (3, 32, 32), batch_size=2)
    storages: dict[int, int] = {}
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        if s.data_ptr() not in params:
            storages[s.data_ptr()] = s.nbytes()
        return t

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(torch.randn(2, 3, 32, 32))
    assert a.saved_bytes == sum(storages.values())


def test_bad_inputs_name_the_value_and_the_fix() -> None:
    with pytest.raises(InputShapeError, match="3x8x8"):
        analyze("vgg16", (3, 8, 8))
    with pytest.raises(InputShapeError, match="does not declare an input size"):
        analyze(nn.Conv2d(3, 3, 3))
    with pytest.raises(InputShapeError, match="positive integers"):
        analyze("lenet5", (1, 0, 32))
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        analyze("lenet5", batch_size=0)
    with pytest.raises(TypeError, match="registered model name"):
        analyze(42)
    with pytest.raises(ValueError, match="no auxiliary heads"):
        analyze("vgg16", aux=True)
    assert analyze("lenet5", "1x32x32").input_size == (1, 32, 32)


@pytest.mark.parametrize("name", cnnlab.list_models())
def test_every_registered_model_macs_equal_flop_counter_and_params_the_card(name: str) -> None:
    card = cnnlab.model_card(name)
    a = analyze(name)
    assert a.macs == flop_counter_macs(meta_model(name), card.input_size)  # the peer, on meta
    if card.macs is not None:
        assert a.macs == card.macs
    assert a.params_total == card.params
    assert sum(r.params for r in a) == a.params_used <= a.params_total
    assert a.saved_bytes is not None and a.saved_bytes > 0, a.saved_note
    assert not [r.label for r in a if r.rf.kind == "unknown"]
    assert all(r.kind != "other" for r in a)
    assert a.is_chain == (name in CHAIN_MODELS)  # the chain list of test_receptive_field is complete


def test_tied_pruned_and_normalised_weights_are_counted_where_they_are_used() -> None:
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Conv2d(4, 4, 3, padding=1)
            self.b = nn.Conv2d(4, 4, 3, padding=1)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.b(self.a(x))

    a = analyze(Tied(), (4, 8, 8))
    assert [(r.params, r.shared) for r in a] == [(148, False), (4, False)]  # b's own bias only
    assert a.params_used == a.params_total == 152

    pruned = nn.Conv2d(3, 8, 3)
    torch.nn.utils.prune.l1_unstructured(pruned, "weight", 0.5)
    normed = torch.nn.utils.parametrizations.weight_norm(nn.Conv2d(3, 8, 3))
    for model, total in ((pruned, 224), (normed, 232)):
        a = analyze(nn.Sequential(model), (3, 8, 8))
        assert sum(r.params for r in a) == a.params_used == a.params_total == total
    assert pruned.weight.device.type == "cpu"  # the weight the pruning hook computes is left as it was


def test_bias_added_as_its_own_op_and_flat_inputs() -> None:
    class Tokens(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(8, 4)

        def forward(self, x):
            return self.fc(x.flatten(2).transpose(1, 2))  # N x 16 x 8: mm, then the bias add

    a = analyze(Tokens(), (8, 4, 4))
    assert a.row("fc").ops == {"bias": 16 * 4} and a.row("fc").macs == 16 * 8 * 4
    mlp = analyze(nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 2)), (10,))
    assert mlp.macs == 60 and [r.rf.kind for r in mlp] == ["global"] * 3
    with pytest.raises(ValueError, match="never loads weights"):
        analyze("vgg16", weights="torchvision")
