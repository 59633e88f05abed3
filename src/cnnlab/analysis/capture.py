"""``analyze()``: one recorded forward pass on the meta device, at the operation level.

Three recorders run together, and all of them are gone when ``analyze`` returns:

- module hooks open a row for every leaf-module call and a ``ModuleRecord`` for every
  container call (the user's own hooks are suspended meanwhile, not run);
- a ``TorchFunctionMode`` opens a row for every functional op a container calls directly
  (``torch.cat``, ``x + y``, ``F.relu``), so nothing computed in a ``forward`` is missed;
- a ``TorchDispatchMode`` sees every ATen op inside those rows: it counts multiply-
  accumulates and the other op families, notes which parameters were used, and follows
  each tensor's producer and receptive field, so branches and joins come out exact.

Weights are shape-only meta stand-ins put in place by ``cnnlab.tracing.substituted`` (never
``functional_call``, which writes into a module registered under two names): a registered
model is built on the meta device, a user's model keeps its own weights untouched, and
nothing is allocated or computed. A second, training-mode pass measures what autograd saves for
backward with ``torch.autograd.graph.saved_tensors_hooks``.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Sequence

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from ..errors import ConfigError, InputShapeError
from ..models import create_model
from ..tracing import left_as_found, meta_like, substituted
from .receptive_field import _ADAPTIVE, _POOLS, _REDUCTIONS, _per_axis, propagate
from .records import GLOBAL, NO_FIELD, Analysis, LayerRecord, ModuleRecord, ReceptiveField, input_field

_NORM_OPS = {
    "native_batch_norm",
    "_native_batch_norm_legit",
    "_native_batch_norm_legit_no_training",
    "_native_batch_norm_legit_functional",
    "native_layer_norm",
    "native_group_norm",
}
_ACT_OPS = {
    "relu",
    "relu_",
    "relu6",
    "leaky_relu",
    "leaky_relu_",
    "elu",
    "elu_",
    "selu",
    "gelu",
    "silu",
    "silu_",
    "sigmoid",
    "sigmoid_",
    "tanh",
    "tanh_",
    "hardtanh",
    "hardtanh_",
    "hardswish",
    "hardswish_",
    "hardsigmoid",
    "mish",
    "softplus",
    "threshold",
    "threshold_",
    "_softmax",
    "_log_softmax",
    "prelu",
    "_prelu_kernel",
    "clamp_min",
    "clamp_min_",
    "log_sigmoid_forward",
    "celu",
    "rrelu_with_noise",
}
_CAT_OPS = {"cat", "stack"}
# Ops that move or select values without arithmetic.
_MOVE_OPS = {
    "constant_pad_nd",
    "index_select",
    "gather",
    "index",
    "clone",
    "_to_copy",
    "copy_",
    "roll",
    "flip",
    "repeat",
    "reflection_pad2d",
    "replication_pad2d",
}


def _tensors(value: object) -> list[torch.Tensor]:
    """The tensors in nested tuples, lists and dicts (a lean ``pytree.tree_leaves``: it runs
    once per op of every traced forward)."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        out = []
        for v in value:
            if isinstance(v, torch.Tensor):
                out.append(v)
            elif isinstance(v, (tuple, list, dict)):
                out.extend(_tensors(v))
        return out
    if isinstance(value, dict):
        return _tensors(list(value.values()))
    return []


def _function_name(func: object) -> str:
    """``Tensor.__iadd__`` -> 'add', ``Tensor.add_`` -> 'add', ``F.relu`` -> 'relu'."""
    name = getattr(func, "__name__", type(func).__name__)
    if name.startswith("__") and name.endswith("__"):
        name = name[2:-2]
        if name[:1] in ("i", "r") and name[1:] in (
            "add",
            "sub",
            "mul",
            "truediv",
            "floordiv",
            "matmul",
            "and",
            "or",
            "pow",
            "mod",
        ):
            name = name[1:]
        name = {"truediv": "div"}.get(name, name)
    return name.rstrip("_") or name


def _module_kind(module: nn.Module) -> str | None:
    """Known PyTorch layer classes by family; ``None`` lets the ATen ops decide."""
    if isinstance(module, nn.modules.conv._ConvNd):
        return "conv"
    if isinstance(module, (nn.Linear, nn.Bilinear)):
        return "linear"
    if isinstance(
        module, (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm, nn.CrossMapLRN2d)
    ):
        return "norm"
    if type(module).__module__ == "torch.nn.modules.pooling" or isinstance(
        module,
        (
            nn.modules.pooling._MaxPoolNd,
            nn.modules.pooling._AvgPoolNd,
            nn.modules.pooling._AdaptiveAvgPoolNd,
            nn.modules.pooling._AdaptiveMaxPoolNd,
        ),
    ):
        return "pool"
    if type(module).__module__ == "torch.nn.modules.activation" and not isinstance(module, nn.MultiheadAttention):
        return "act"
    if isinstance(module, nn.modules.dropout._DropoutNd):
        return "dropout"
    if isinstance(module, (nn.Flatten, nn.Unflatten)):
        return "reshape"
    if isinstance(module, nn.Identity):
        return "identity"
    return None


class _TracerError(RuntimeError):
    """A failure in cnnlab's own recording, not in the model's forward."""


def _recording(method):
    """Turn an exception raised by the recorder itself into a ``_TracerError``, so that
    ``analyze`` does not report a recorder bug as a model that cannot run its input."""

    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except _TracerError:
            raise
        except Exception as err:
            raise _TracerError(
                f"cnnlab's analysis failed while recording ({method.__name__}): {type(err).__name__}: {err}; "
                "this is a bug in cnnlab, not in the model: please report it"
            ) from err

    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


class _Row:
    """A row being recorded; becomes a ``LayerRecord`` when it closes."""

    __slots__ = ("record", "owner", "aten", "aten_ops", "params", "operands", "pool_ops", "bias_ops", "elements")

    def __init__(self, record: LayerRecord, owner: nn.Module | None) -> None:
        self.record = record
        self.owner = owner
        self.aten: set[str] = set()
        self.aten_ops: Counter[str] = Counter()  # the fallback families, for unknown rows
        self.params: set[str] = set()
        self.operands = 0
        self.pool_ops = 0
        self.bias_ops = 0
        self.elements: Counter[str] = Counter()  # output elements of norm / act / elementwise ATen ops


class _Tracer:
    def __init__(self, model: nn.Module, rank: int, element_size: int) -> None:
        self.model = model
        self.names = {id(m): n for n, m in model.named_modules()}
        params = dict(model.named_parameters())
        self.canonical = {id(p): n for n, p in params.items()}  # tied weights: the first name
        self.trainable = {n: p.requires_grad for n, p in params.items()}
        self.sizes = {n: p.numel() for n, p in params.items()}
        self.param_names: dict[int, str] = {}  # id of a meta stand-in -> the model's name for it
        self.rank = rank
        self.element_size = element_size
        self.rows: list[LayerRecord] = []
        self.modules: list[ModuleRecord] = []
        self.tensors: dict[int, tuple[torch.Tensor, int, ReceptiveField]] = {}
        self.row: _Row | None = None
        self.containers: list[tuple[nn.Module, ModuleRecord]] = []
        self.calls: Counter[int] = Counter()
        self.fn_counts: Counter[str] = Counter()
        self.used: set[str] = set()
        self.counted: set[str] = set()
        self.recording = False
        self.op_info: dict[object, tuple[str, bool, bool]] = {}
        self.module_params: dict[int, set[str]] = {}

    # -- rows ---------------------------------------------------------------------------
    @_recording
    def open(
        self,
        name: str,
        call: int,
        type_name: str,
        kind: str | None,
        depth: int,
        functional: bool,
        owner: nn.Module | None,
        args: object,
    ) -> _Row:
        # Connections come from the ATen ops inside the row (and pass-throughs, in close).
        record = LayerRecord(
            index=len(self.rows) + 1,
            name=name,
            call=call,
            type=type_name,
            kind=kind or "",
            depth=depth,
            functional=functional,
            input_shapes=(),
            output_shapes=(),
        )
        row = _Row(record, owner)
        if args is not None:
            self.set_inputs(row, args)
        self.row = row
        return row

    @_recording
    def set_inputs(self, row: _Row, args: object) -> None:
        tensors = _tensors(args)
        row.record.input_shapes = tuple(tuple(t.shape) for t in tensors)
        row.operands = len(tensors)

    @_recording
    def close(self, row: _Row, out: object) -> None:
        self.row = None
        rec = row.record
        outs = [t for t in _tensors(out) if isinstance(t, torch.Tensor)]
        for t in outs:
            entry = self.tensors.get(id(t))
            if entry is None:
                self.tensors[id(t)] = (t, rec.index, NO_FIELD)
            elif entry[1] != rec.index:  # passed through untouched (identity, eval dropout)
                if entry[1] not in rec.inputs:
                    rec.inputs += (entry[1],)
                self.tensors[id(t)] = (t, rec.index, entry[2])
        rec.output_shapes = tuple(tuple(t.shape) for t in outs)
        rec.out_elements = sum(t.numel() for t in outs)
        rec.out_bytes = sum(t.numel() * t.element_size() for t in outs)
        rec.rf = self.tensors[id(outs[0])][2] if outs else NO_FIELD
        if not rec.kind:
            rec.kind = self._kind_from_ops(row)
        rec.ops = self._ops(row, rec.kind, rec.out_elements)
        self._count_params(row)
        self.rows.append(rec)

    def _kind_from_ops(self, row: _Row) -> str:
        aten = row.aten
        if aten & {"convolution", "_convolution"}:
            return "conv"
        if row.record.macs:
            return "linear"
        if aten & _NORM_OPS:
            return "norm"
        if aten & (_POOLS | _ADAPTIVE) or ("mean" in aten and row.record.rf.kind == "global"):
            return "pool"
        if aten & _CAT_OPS:
            return "concat"
        if aten & _ACT_OPS:
            return "act"
        if any(self.op_info[op][1] for op in row.aten_ops.keys() if op in self.op_info):
            return "elementwise"
        if aten:
            moves = all(op in _MOVE_OPS or self.op_info[op][2] for op in row.aten_ops if op in self.op_info)
            return "reshape" if moves else "other"
        label = row.record.type.lower()
        return "dropout" if "drop" in label else "identity"

    def _ops(self, row: _Row, kind: str, out_elements: int) -> dict[str, int]:
        """A row of a known kind counts by the kind's convention; what else its ATen ops did
        (a conv with a fused activation, an LSTM's gates) is added per output element."""
        if kind in ("norm", "act"):
            return {kind: out_elements}
        if kind == "pool":
            return {"pool": row.pool_ops}
        if kind == "elementwise":
            return {"elementwise": out_elements * max(1, row.operands - 1)}
        ops = {"bias": row.bias_ops, "pool": row.pool_ops if kind == "other" else 0, **row.elements}
        return {k: v for k, v in ops.items() if v}

    def _count_params(self, row: _Row) -> None:
        rec = row.record
        names = row.params
        if row.owner is not None:
            owned = self.module_params.get(id(row.owner))
            if owned is None:
                owned = {self.canonical[id(p)] for p in row.owner.parameters() if id(p) in self.canonical}
                self.module_params[id(row.owner)] = owned
            names = owned | names  # and any parameter it read from elsewhere
        new = sorted(n for n in names if n not in self.counted)
        rec.shared = bool(names) and not new
        for n in new:
            size = self.sizes[n]
            if n.rsplit(".", 1)[-1].startswith("bias"):
                rec.biases += size
            else:
                rec.weights += size
            if self.trainable[n]:
                rec.trainable += size
            else:
                rec.frozen += size
        self.counted.update(new)

    def _param_args(self, args: tuple) -> list[str]:
        return [self.param_names[id(t)] for t in _tensors(args) if id(t) in self.param_names]

    # -- module hooks -------------------------------------------------------------------
    @_recording
    def pre_hook(self, module: nn.Module, args: tuple) -> None:
        if not self.recording or self.row is not None or id(module) not in self.names or module is self.model:
            return
        name = self.names[id(module)]
        call = self.calls[id(module)]
        self.calls[id(module)] += 1
        depth = name.count(".") + 1
        if next(iter(module.children()), None) is None:
            self.open(name, call, type(module).__name__, _module_kind(module), depth, False, module, args)
        else:
            rec = ModuleRecord(name, type(module).__name__, depth, call, len(self.rows) + 1, len(self.rows))
            self.containers.append((module, rec))

    @_recording
    def post_hook(self, module: nn.Module, args: tuple, out: object) -> None:
        if not self.recording:
            return
        if self.row is not None:
            if self.row.owner is module:
                self.close(self.row, out)
            return
        if self.containers and self.containers[-1][0] is module:
            _, rec = self.containers.pop()
            rec.last_row = len(self.rows)
            outs = [t for t in _tensors(out) if isinstance(t, torch.Tensor)]
            rec.output_shapes = tuple(tuple(t.shape) for t in outs)
            entry = self.tensors.get(id(outs[0])) if outs else None
            rec.output_row = entry[1] if entry is not None else 0  # the row that produced its output
            self.modules.append(rec)

    # -- functional ops -----------------------------------------------------------------
    def call_function(self, func: object, args: tuple, kwargs: dict) -> object:
        op = _function_name(func)
        parent_name = self.containers[-1][1].name if self.containers else ""
        depth = self.containers[-1][1].depth + 1 if self.containers else 1
        key = f"{parent_name}.{op}" if parent_name else op
        n = self.fn_counts[key]
        name = key if n == 0 else f"{key}_{n}"
        row = self.open(name, 0, op, None, depth, True, None, None)
        try:
            out = func(*args, **kwargs)
        except BaseException:
            self.row = None
            raise
        has_tensor = any(isinstance(t, torch.Tensor) for t in _tensors(out))
        inputs = {id(t) for t in _tensors((args, kwargs)) if isinstance(t, torch.Tensor)}
        no_op_alias = not row.aten and all(id(t) in inputs for t in _tensors(out) if isinstance(t, torch.Tensor))
        if not has_tensor or (no_op_alias and "drop" not in op):
            self.row = None  # an accessor (x.size(), x.shape) or a no-op (x.contiguous())
            return out
        self.fn_counts[key] += 1
        self.set_inputs(row, (args, kwargs))
        self.close(row, out)
        return out

    # -- ATen ops -----------------------------------------------------------------------
    @_recording
    def on_op(self, func: torch._ops.OpOverload, args: tuple, kwargs: dict, out: object) -> None:
        info = self.op_info.get(func)
        if info is None:
            info = (func.overloadpacket.__name__, torch.Tag.pointwise in func.tags, bool(func.is_view))
            self.op_info[func] = info
            self.op_info[info[0]] = info
        op, pointwise, is_view = info
        row = self.row
        standalone = row is None
        if standalone:  # an op no function call announced: its own row
            row = self.open(
                op, 0, op, None, self.containers[-1][1].depth + 1 if self.containers else 1, True, None, args
            )
        rec = row.record
        row.aten.add(op)
        row.aten_ops[op] += 1
        fields = []
        first = None
        for t in _tensors((args, kwargs)):
            if not isinstance(t, torch.Tensor):
                continue
            pname = self.param_names.get(id(t))
            if pname is not None:
                self.used.add(pname)
                row.params.add(pname)
                continue
            entry = self.tensors.get(id(t))
            if entry is None:
                continue
            if entry[1] != rec.index and entry[1] not in rec.inputs:
                rec.inputs += (entry[1],)
            fields.append(entry[2])
            if first is None and entry[2].kind != "none":
                first = t
        outs = [t for t in _tensors(out) if isinstance(t, torch.Tensor)]
        main = outs[0] if outs else None
        if main is not None:
            # Multiply-accumulates: torch.utils.flop_counter's formulas (convolutions, matrix
            # products, attention), FLOPs / 2, the same registry FlopCounterMode reads.
            macs_op = func.overloadpacket in flop_registry
            if macs_op:
                rec.macs += flop_registry[func.overloadpacket](*args, **kwargs, out_val=out) // 2
            if op in ("convolution", "_convolution"):
                if args[2] is not None:
                    row.bias_ops += main.numel()
                if rec.kernel is None:
                    r = args[1].dim() - 2
                    rec.kernel = tuple(args[1].shape[2:])
                    rec.stride, rec.padding, rec.dilation = (
                        _per_axis(args[i], r, d) for i, d in ((3, 1), (4, 0), (5, 1))
                    )
                    rec.groups = int(args[8]) if len(args) > 8 else 1
            elif op in ("addmm", "baddbmm"):
                row.bias_ops += main.numel()
            if not macs_op:
                if op in ("add", "add_") and any(
                    n.rsplit(".", 1)[-1].startswith("bias") for n in self._param_args(args)
                ):
                    row.bias_ops += main.numel()  # a bias added as its own op (Linear on 3-d input)
                elif op in _NORM_OPS:
                    row.elements["norm"] += main.numel()
                elif op in _ACT_OPS:
                    row.elements["act"] += main.numel()
                elif pointwise:
                    row.elements["elementwise"] += main.numel()
            if op in _POOLS:
                r = min(self.rank, main.dim() - 2) or 1
                kernel = _per_axis(args[1], len(args[1]) if isinstance(args[1], (list, tuple)) else r, 1)
                row.pool_ops += main.numel() * math.prod(kernel)
                if rec.kernel is None:
                    rec.kernel = kernel
                    stride = _per_axis(args[2] if len(args) > 2 else None, len(kernel), 0)
                    rec.stride = tuple(s or k for s, k in zip(stride, kernel))
                    rec.padding = _per_axis(args[3] if len(args) > 3 else 0, len(kernel), 0)
            elif op in _ADAPTIVE or (op in _REDUCTIONS and first is not None):
                row.pool_ops += first.numel() if first is not None else 0
            if fields or op in ("cat", "stack"):
                rf = propagate(op, args, kwargs, fields, first, main, pointwise, is_view)
            else:
                rf = NO_FIELD
            for t in outs:
                self.tensors[id(t)] = (t, rec.index, rf)
            rec.rf = rf
        if standalone:
            self.close(row, out)


class _FunctionCapture(TorchFunctionMode):
    def __init__(self, tracer: _Tracer) -> None:
        super().__init__()
        self.tracer = tracer

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        tracer = self.tracer
        if not tracer.recording or tracer.row is not None or getattr(func, "__name__", "") in ("__get__", "__set__"):
            return func(*args, **kwargs)
        return tracer.call_function(func, args, kwargs)


_BATCH_NORMS = {
    torch.ops.aten.native_batch_norm.default,
    torch.ops.aten._native_batch_norm_legit.default,
    torch.ops.aten._native_batch_norm_legit_no_training.default,
}


def _run(func: torch._ops.OpOverload, args: tuple, kwargs: dict) -> object:
    """``func(*args, **kwargs)``, with a shortcut for batch norm on meta tensors: its meta
    kernel is a Python decomposition costing milliseconds per call, while its outputs are
    just the input's shape and two per-channel vectors."""
    if func in _BATCH_NORMS and args[0].device.type == "meta":
        x = args[0]
        return torch.empty_like(x), x.new_empty((x.shape[1],)), x.new_empty((x.shape[1],))
    return func(*args, **kwargs)


class _FastMeta(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return _run(func, args, kwargs or {})


class _OpCapture(TorchDispatchMode):
    def __init__(self, tracer: _Tracer) -> None:
        super().__init__()
        self.tracer = tracer

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = _run(func, args, kwargs)
        if self.tracer.recording:
            self.tracer.on_op(func, args, kwargs, out)
        return out


def _recorded_forward(model: nn.Module, tracer: _Tracer, aux: bool, x: torch.Tensor) -> object:
    """Run the model (or its ``forward_aux``) with recording switched on around it."""
    root = ModuleRecord("", type(model).__name__, 0, 0, 1, 0)
    # An input without spatial axes (N x features): every output sees all of it.
    tracer.tensors[id(x)] = (x, 0, input_field(x.shape[2:]) if x.dim() > 2 else GLOBAL)
    tracer.recording = True
    try:
        out = model.forward_aux(x) if aux else model(x)
    finally:
        tracer.recording = False
    root.last_row = len(tracer.rows)
    root.output_shapes = tuple(tuple(t.shape) for t in _tensors(out) if isinstance(t, torch.Tensor))
    tracer.modules.insert(0, root)
    return out


class _SkipInit(TorchFunctionMode):
    """Weight initialisation is a no-op on meta tensors, but PyTorch still runs its
    Python reference kernels for every ``normal_`` and ``uniform_``: skip them."""

    _INIT = frozenset(
        {
            "normal_",
            "uniform_",
            "zero_",
            "fill_",
            "constant_",
            "ones_",
            "zeros_",
            "trunc_normal_",
            "orthogonal_",
            "kaiming_normal_",
            "kaiming_uniform_",
            "xavier_normal_",
            "xavier_uniform_",
            "eye_",
            "dirac_",
            "sparse_",
        }
    )

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", "") in self._INIT:
            t = args[0] if args else kwargs.get("tensor")
            if isinstance(t, torch.Tensor) and t.device.type == "meta":
                return t
        return func(*args, **kwargs)


def _input_size(model: nn.Module, input_size: object, label: str) -> tuple[int, ...]:
    if input_size is None:
        hint = getattr(model, "_input_hint", None)  # cnnlab models: the designed size
        input_size = hint()[1] if hint is not None else getattr(model, "default_input_size", None)
        if input_size is None:
            raise InputShapeError(
                f"{label} does not declare an input size; pass one, e.g. analyze(model, input_size=(3, 224, 224))"
            )
    if isinstance(input_size, str):
        return parse_input_size(input_size)
    try:
        size = tuple(input_size)
    except TypeError:
        raise InputShapeError(f"input_size must be a sequence like (3, 224, 224), got {input_size!r}") from None
    if not size or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size):
        raise InputShapeError(
            f"input_size must be positive integers (channels, then one size per spatial axis) like "
            f"(3, 224, 224), or (features,) for a model without spatial axes; got {input_size!r}"
        )
    return size


def parse_input_size(text: str) -> tuple[int, ...]:
    """'3x224x224' -> (3, 224, 224)."""
    try:
        size = tuple(int(p) for p in text.lower().replace("×", "x").split("x"))
    except ValueError:
        size = ()
    if not size or min(size) < 1:
        raise InputShapeError(f"input size must look like 3x224x224 (channels x height x width), got {text!r}")
    return size


def _unused(model: nn.Module, used: set[str], prefix: str = "") -> list[tuple[str, int]]:
    """The outermost modules none of whose parameters the forward touched."""
    out = []
    for name, child in model.named_children():
        full = f"{prefix}{name}"
        params = [(f"{full}.{n}", p.numel()) for n, p in child.named_parameters()]
        if not params:
            continue
        if not any(n in used for n, _ in params):
            out.append((full, sum(s for _, s in params)))
        else:
            out.extend(_unused(child, used, f"{full}."))
    if not prefix:
        own = [(n, p.numel()) for n, p in model.named_parameters(recurse=False) if n not in used]
        out.extend(own)
    return out


def analyze(
    model_or_name: nn.Module | str,
    input_size: Sequence[int] | str | None = None,
    batch_size: int = 1,
    *,
    aux: bool = False,
    dtype: torch.dtype = torch.float32,
    measure_saved: bool = True,
    **options: object,
) -> Analysis:
    """Analyse one forward pass of any ``nn.Module`` (or a registered model's name, built on
    the meta device with ``options``) at ``input_size`` (one sample: channels, then spatial
    sizes; default: the model's declared size) and ``batch_size``.

    Returns an ``Analysis``: one ``LayerRecord`` per leaf-module call or functional op, the
    container calls for depth control, and totals. ``aux=True`` analyses ``forward_aux``
    (auxiliary heads included) in training mode; otherwise the eval-mode ``forward``.
    Every hook is removed and the model's mode restored; nothing is allocated."""
    if isinstance(model_or_name, str):
        if "weights" in options:
            raise ConfigError(
                f"analyze builds {model_or_name} on the meta device and never loads weights (counts do not "
                f"depend on them); drop weights={options['weights']!r}"
            )
        with torch.device("meta"), _SkipInit():
            model = create_model(model_or_name, **options)
        label = model_or_name
    elif isinstance(model_or_name, nn.Module):
        if options:
            raise TypeError(
                f"options {sorted(options)} apply to a registered model's name only; build the module with them instead"
            )
        model = model_or_name
        card = getattr(model, "card", None)
        label = card.name if card is not None else type(model).__name__
    else:
        raise TypeError(f"analyze() takes an nn.Module or a registered model name, got {type(model_or_name).__name__}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if aux and not hasattr(model, "forward_aux"):
        raise ConfigError(
            f"{label} has no auxiliary heads (no forward_aux); analyse it with aux=False "
            "(on the command line, leave out --aux)"
        )
    size = _input_size(model, input_size, label)
    element_size = torch.empty((), dtype=dtype).element_size()
    params = dict(model.named_parameters())
    trace_note = ""
    try:
        tracer = _trace(model, size, batch_size, dtype, aux, params, meta_like(dtype))
    except (InputShapeError, _TracerError):
        raise
    except Exception as err:
        if not _needs_values(err):
            check = getattr(model, "check_input", None)
            if check is not None:
                check(torch.empty((batch_size, *size), device="meta", dtype=dtype), aux=aux)
            raise InputShapeError(
                f"{label} cannot run on input {'x'.join(map(str, size))}: {type(err).__name__}: {err}"
            ) from err
        # The forward reads values (``if y.mean() > 0:``), which meta tensors do not have: run
        # it for real, on the CPU at batch 1, on copies of the weights (the model's own stay
        # untouched) and one seeded random input; the counts are of the branches it took.
        batch_size = 1
        tracer = _trace(model, size, 1, dtype, aux, params, _cpu_copy(dtype), real=True)
        trace_note = (
            f"traced with real values on the CPU at batch 1 (the forward reads values, which the meta device "
            f"does not have: {type(err).__name__}: {str(err).splitlines()[0]}); counts are of the branches taken "
            "for one random input (seed 0)"
        )
        warnings.warn(f"analyze({label}): {trace_note}", stacklevel=2)

    saved, note = (None, "not measured (measure_saved=False)")
    if measure_saved:
        saved, note = _saved_bytes(model, size, batch_size, dtype)
    used = tracer.used
    return Analysis(
        model=label,
        input_size=size,
        batch_size=batch_size,
        dtype=str(dtype).replace("torch.", ""),
        element_size=element_size,
        rows=tracer.rows,
        modules=sorted(tracer.modules, key=lambda m: (m.first_row, m.depth)),
        params_total=sum(p.numel() for p in params.values()),
        params_trainable=sum(p.numel() for p in params.values() if p.requires_grad),
        params_used=sum(p.numel() for n, p in params.items() if n in used),
        unused=tuple(_unused(model, used)),
        saved_bytes=saved,
        saved_note=note,
        aux=aux,
        trace_note=trace_note,
    )


def _needs_values(err: Exception) -> bool:
    """An error of the meta device itself: the forward read a value (``.item()``, ``bool()``,
    a data-dependent shape), which shape-only tensors cannot give."""
    text = str(err)
    return (
        isinstance(err, (RuntimeError, NotImplementedError))
        and "meta" in text.lower()
        and any(
            key in text
            for key in ("item()", "data-dependent", "data dependent", "Cannot copy out", "cannot be called on meta")
        )
    )


def _cpu_copy(dtype: torch.dtype):
    """Stand-ins for a real trace: copies of the weights on the CPU (zeros for meta ones)."""

    def make(name: str, t: torch.Tensor) -> torch.Tensor:
        kind = dtype if t.is_floating_point() else t.dtype
        if t.device.type == "meta":
            return torch.zeros(t.shape, dtype=kind)
        return t.detach().to("cpu", kind, copy=True)

    return make


def _trace(
    model: nn.Module,
    size: tuple[int, ...],
    batch_size: int,
    dtype: torch.dtype,
    aux: bool,
    params: dict[str, torch.Tensor],
    make,
    real: bool = False,
) -> _Tracer:
    """One recorded forward of ``model`` on stand-ins from ``make``: meta tensors, or (``real``)
    CPU copies of the weights and a seeded random input."""
    tracer = _Tracer(model, len(size) - 1, torch.empty((), dtype=dtype).element_size())
    if real:
        x = torch.randn((batch_size, *size), generator=torch.Generator().manual_seed(0)).to(dtype)
    else:
        x = torch.empty((batch_size, *size), device="meta", dtype=dtype)
    handles = []
    try:
        with left_as_found(model, keep_weight_hooks=True), substituted(model, make) as state:
            tracer.param_names = {id(t): n for n, t in state.items() if n in params}
            model.train(aux)
            # Global hooks: two registrations instead of two per module (hooks_suspended
            # restores the user's global hooks, and handles remove ours in any case).
            handles.append(nn.modules.module.register_module_forward_pre_hook(tracer.pre_hook))
            handles.append(nn.modules.module.register_module_forward_hook(tracer.post_hook))
            with torch.no_grad(), _FunctionCapture(tracer), _OpCapture(tracer):
                _recorded_forward(model, tracer, aux, x)
    finally:
        for h in handles:
            h.remove()
    return tracer


def count_macs(model: nn.Module, input_size: Sequence[int], batch_size: int = 1) -> int:
    """Multiply-accumulates of one eval-mode forward pass (what the ResNet paper calls
    "FLOPs (multiply-adds)"): ``analyze(...).macs``, the one counter cnnlab has."""
    return analyze(model, input_size, batch_size, measure_saved=False).macs


def _saved_bytes(
    model: nn.Module, size: tuple[int, ...], batch_size: int, dtype: torch.dtype
) -> tuple[int | None, str]:
    """Bytes of the activations autograd saves for backward in one training-mode forward
    (``forward_aux`` where the model has auxiliary heads), parameters excluded, each storage
    counted once; measured on the meta device with saved-tensor hooks."""
    aux = hasattr(model, "forward_aux") and bool(getattr(model, "aux_logits", True))
    param_names = {n for n, _ in model.named_parameters()}
    param_keys: set[int] = set()
    seen: dict[int, torch.Tensor] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        key = t.untyped_storage()._cdata
        if key not in param_keys:
            seen.setdefault(key, t)
        return t

    measured_batch = max(batch_size, 2)  # training-mode batch norm needs two samples
    x = torch.empty((measured_batch, *size), device="meta", dtype=dtype)
    try:
        with (
            left_as_found(model, keep_weight_hooks=True),
            substituted(model, meta_like(dtype, grad=True)) as state,
            torch.enable_grad(),
            _FastMeta(),
        ):
            param_keys.update(t.untyped_storage()._cdata for n, t in state.items() if n in param_names)
            model.train()
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                if aux:
                    model.forward_aux(x)
                else:
                    model(x)
    except Exception as err:  # a training forward that cannot run on meta tensors
        return None, f"not measured: the training forward failed on the meta device ({type(err).__name__}: {err})"
    total = sum(t.untyped_storage().nbytes() for t in seen.values())
    what = "forward_aux (auxiliary heads included)" if aux else "forward"
    note = f"measured: one training-mode {what}, autograd's saved tensors, parameters excluded"
    if measured_batch != batch_size:
        note += f"; measured at batch {measured_batch} and scaled to {batch_size}"
    return total * batch_size // measured_batch, note
