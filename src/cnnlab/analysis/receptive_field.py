"""Receptive fields: the analytic rules per ATen op, and an empirical check from gradients.

The analytic side follows every tensor of a forward pass (``capture`` calls ``propagate``
once per ATen op), so branches are exact: a concatenation or an addition sees the union of
its inputs' regions, a broadcast multiply by a globally pooled gate (squeeze-and-excitation)
is global. Per spatial axis, with ``k' = d (k - 1) + 1`` the dilated kernel extent:

    size_out  = size_in + (k' - 1) * jump_in
    jump_out  = jump_in * stride
    start_out = start_in + ((k' - 1) / 2 - pad_before) * jump_in

(Araujo, Norris and Sim, "Computing receptive fields of convolutional neural networks",
Distill 2019, use the same recurrences with edge coordinates instead of centres.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..tracing import left_as_found, substituted
from .records import GLOBAL, NO_FIELD, ReceptiveField

_POOLS = {
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "max_pool1d_with_indices",
    "max_pool2d_with_indices",
    "max_pool3d_with_indices",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
}
_ADAPTIVE = {
    "adaptive_avg_pool1d",
    "_adaptive_avg_pool2d",
    "adaptive_avg_pool2d",
    "_adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
}
_REDUCTIONS = {
    "mean",
    "sum",
    "amax",
    "amin",
    "prod",
    "var",
    "std",
    "var_mean",
    "std_mean",
    "logsumexp",
    "norm",
    "linalg_vector_norm",
}
_SOFTMAX = {"_softmax", "_log_softmax", "softmax", "log_softmax"}
_PADS = {
    "constant_pad_nd",
    "reflection_pad1d",
    "reflection_pad2d",
    "reflection_pad3d",
    "replication_pad1d",
    "replication_pad2d",
    "replication_pad3d",
}
# Normalisation at inference: a per-channel scale and shift, position by position.
# Normalisation: the lecture's convention ignores the statistics (computed over positions by
# training-mode batch norm, group norm, layer norm over a map): each output follows its input.
_NORMS = {
    "_native_batch_norm_legit_no_training",
    "native_batch_norm",
    "_native_batch_norm_legit",
    "batch_norm",
    "native_layer_norm",
    "native_group_norm",
    "_native_batch_norm_legit_functional",
}
# Activations PyTorch does not tag as pointwise.
_ACTIVATIONS = {
    "_prelu_kernel",
    "prelu",
    "hardswish",
    "hardswish_",
    "rrelu_with_noise",
    "threshold",
    "threshold_",
    "log_sigmoid_forward",
    "hardsigmoid",
    "hardsigmoid_",
    "mish",
    "softplus",
    "celu",
    "gelu",
    "silu",
    "elu",
}
# Ops whose result depends on their input's shape only, never its values.
_CONSTANT = {
    "empty_like",
    "zeros_like",
    "ones_like",
    "full_like",
    "rand_like",
    "randn_like",
    "new_empty",
    "new_zeros",
    "new_ones",
    "new_full",
    "bernoulli_",
    "fill_",
    "zero_",
    "scalar_tensor",
    "empty",
    "zeros",
    "ones",
    "full",
    "arange",
}
_SAME = {"clone", "_to_copy", "detach", "alias", "lift_fresh", "contiguous", "native_dropout", "to", "type_as"}
_MATMUL = {"mm", "addmm"}


def union(fields: Sequence[ReceptiveField]) -> ReceptiveField:
    """The region seen by a value computed from all of ``fields``' positions at once."""
    fields = [f for f in fields if f.kind != "none"]
    if not fields:
        return NO_FIELD
    for kind in ("global", "unknown"):
        for f in fields:
            if f.kind == kind:
                return f
    rank = {len(f.size) for f in fields}
    if len(rank) > 1:
        return ReceptiveField("unknown", reason="inputs with different spatial ranks")
    if len(fields) == 1:
        return fields[0]
    size, jump, start, extent = [], [], [], []
    for axis in range(rank.pop()):
        lo = min(f.start[axis] - (f.size[axis] - 1) / 2 for f in fields)
        hi = max(f.start[axis] + (f.size[axis] - 1) / 2 for f in fields)
        size.append(hi - lo + 1)
        start.append((lo + hi) / 2)
        jump.append(max(f.jump[axis] for f in fields))
        extent.append((min(f.extent[axis][0] for f in fields), max(f.extent[axis][1] for f in fields)))
    return ReceptiveField("spatial", tuple(size), tuple(jump), tuple(start), extent=tuple(extent))


def _read_span(n: int, m: int, kernel: int, stride: int, pad: float, dilation: int) -> tuple[float, float] | None:
    """The first and last of ``n`` input positions that any of ``m`` windows reads (taps
    ``o * stride - pad + j * dilation``); ``None`` if every tap falls in the padding."""
    first = last = None
    for j in range(kernel):
        offset = j * dilation - pad
        lo_o = max(0, math.ceil(-offset / stride))
        hi_o = min(m - 1, math.floor((n - 1 - offset) / stride))
        if lo_o > hi_o:
            continue
        lo, hi = lo_o * stride + offset, hi_o * stride + offset
        first = lo if first is None else min(first, lo)
        last = hi if last is None else max(last, hi)
    return None if first is None else (first, last)


def window(
    field: ReceptiveField,
    kernel: Sequence[int],
    stride: Sequence[float],
    pad_before: Sequence[float],
    dilation: Sequence[int],
    in_size: Sequence[int] | None = None,
    out_size: Sequence[int] | None = None,
) -> ReceptiveField:
    """A sliding window over the last ``len(field.size)`` axes. With the map sizes, the
    extent (the input pixels the map depends on at all) shrinks to what the windows read:
    a stride that does not divide the input leaves its last rows unread."""
    if not field.is_spatial:
        return field
    size, jump, start, extent = [], [], [], []
    for axis in range(len(field.size)):
        k, s, p, d = kernel[axis], stride[axis], pad_before[axis], dilation[axis]
        span = (d * (k - 1)) + 1
        size.append(field.size[axis] + (span - 1) * field.jump[axis])
        start.append(field.start[axis] + ((span - 1) / 2 - p) * field.jump[axis])
        jump.append(field.jump[axis] * s)
        lo, hi = field.extent[axis]
        read = _read_span(in_size[axis], out_size[axis], k, s, p, d) if in_size and float(s).is_integer() else None
        if read is not None:
            half = (field.size[axis] - 1) / 2
            lo = max(lo, field.start[axis] + read[0] * field.jump[axis] - half)
            hi = min(hi, field.start[axis] + read[1] * field.jump[axis] + half)
        extent.append((lo, hi))
    return ReceptiveField("spatial", tuple(size), tuple(jump), tuple(start), extent=tuple(extent))


def _per_axis(value: object, rank: int, default: int) -> tuple[int, ...]:
    """An int or list argument as ``rank`` values for the last ``rank`` axes."""
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        return (default,) * rank
    if isinstance(value, (list, tuple)):
        values = tuple(int(v) for v in value)
        return values[-rank:] if len(values) >= rank else (values[0],) * rank
    return (int(value),) * rank


def _arg(args: Sequence, kwargs: dict, index: int, name: str, default: object = None) -> object:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _spatial_dims(ndim: int, rank: int) -> range:
    return range(ndim - rank, ndim)


def _dims(dim: object, ndim: int) -> set[int] | None:
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return None  # all of them
    dims = dim if isinstance(dim, (list, tuple)) else (dim,)
    return {int(d) % ndim for d in dims}


def propagate(
    op: str,
    args: Sequence,
    kwargs: dict,
    fields: Sequence[ReceptiveField],
    first: torch.Tensor | None,
    out: torch.Tensor,
    pointwise: bool,
    is_view: bool,
) -> ReceptiveField:
    """The receptive field of ``out``, produced by ATen op ``op`` from tensor arguments whose
    fields are ``fields`` (``first`` is the first tensor argument)."""
    known = [f for f in fields if f.kind != "none"]
    if not known or op in _CONSTANT:
        return NO_FIELD
    spatial = [f for f in known if f.is_spatial]
    rank = len(spatial[0].size) if spatial else 2
    if first is not None and (is_view or op in ("reshape", "_unsafe_view")) and out.dim() <= 2 < first.dim() - rank + 1:
        if math.prod(first.shape[-rank:]) > 1 and not any(f.kind == "global" for f in known):
            return GLOBAL  # positions merged into features (flatten), whatever the map saw
    if not spatial:
        return union(known)
    src = union(fields)
    if first is None:
        return src
    if not src.is_spatial:
        return src
    ndim = first.dim()
    if ndim < rank + 2:
        return src  # a flattened one-position map: no positions left to mix or move
    sdims = _spatial_dims(ndim, rank)

    if op in ("convolution", "_convolution"):
        if _arg(args, kwargs, 6, "transposed", False):
            return ReceptiveField("unknown", reason="transposed convolution")
        kernel = tuple(args[1].shape[2:])[-rank:]
        stride = _per_axis(args[3], rank, 1)
        padding = _per_axis(args[4], rank, 0)
        dilation = _per_axis(args[5], rank, 1)
        return window(src, kernel, stride, padding, dilation, first.shape[-rank:], out.shape[-rank:])
    if op in _POOLS:
        kernel = _per_axis(args[1], rank, 1)
        stride = _per_axis(_arg(args, kwargs, 2, "stride"), rank, 0)
        stride = tuple(s or k for s, k in zip(stride, kernel))
        padding = _per_axis(_arg(args, kwargs, 3, "padding", 0), rank, 0)
        dilation = _per_axis(_arg(args, kwargs, 4, "dilation", 1), rank, 1) if op.startswith("max") else (1,) * rank
        return window(src, kernel, stride, padding, dilation, first.shape[-rank:], out.shape[-rank:])
    if op in _ADAPTIVE:
        out_size = tuple(out.shape[-rank:])
        in_size = tuple(first.shape[-rank:])
        if all(o == 1 for o in out_size) and math.prod(in_size) > 1:
            return GLOBAL
        # PyTorch's windows are [floor(i * n / m), ceil((i + 1) * n / m)): when m divides n,
        # a k = s = n / m pool; otherwise their widths and steps vary by position, which no
        # size / jump / start can express.
        uneven = [f"{n} -> {m}" for n, m in zip(in_size, out_size) if n % m]
        if uneven:
            return ReceptiveField("unknown", reason=f"adaptive pooling with uneven windows ({', '.join(uneven)})")
        kernel = tuple(n // m for n, m in zip(in_size, out_size))
        return window(src, kernel, kernel, (0,) * rank, (1,) * rank, in_size, out_size)
    if op in _REDUCTIONS:
        # norm(x, p, dim) and linalg_vector_norm(x, ord, dim) take the dims third.
        dims = _dims(
            _arg(args, kwargs, 2, "dim") if op in ("norm", "linalg_vector_norm") else _arg(args, kwargs, 1, "dim"), ndim
        )
        reduced = set(range(ndim)) if dims is None else dims
        if reduced & set(sdims):
            positions = math.prod(first.shape[d] for d in sdims)
            return GLOBAL if positions > 1 else src
        return src
    if op in _SOFTMAX:
        dim = int(_arg(args, kwargs, 1, "dim", -1)) % ndim
        return GLOBAL if dim in sdims and first.shape[dim] > 1 else src
    if op in _PADS:
        pad = list(args[1])
        before = [0] * rank
        for i in range(min(len(pad) // 2, rank)):  # pairs start at the last axis
            before[rank - 1 - i] = pad[2 * i]
        return window(src, (1,) * rank, (1,) * rank, before, (1,) * rank, first.shape[-rank:], out.shape[-rank:])
    if op in ("cat", "stack"):
        dim = int(_arg(args, kwargs, 1, "dim", 0)) % (ndim + (op == "stack"))
        if op == "cat" and dim in sdims:
            return ReceptiveField("unknown", reason="concatenation along a spatial axis")
        return src
    if op == "slice":
        dim = int(_arg(args, kwargs, 1, "dim", 0)) % ndim
        if dim not in sdims:
            return src
        axis = dim - sdims.start
        begin = _arg(args, kwargs, 2, "start", 0) or 0
        begin = max(0, begin + first.shape[dim]) if begin < 0 else min(begin, first.shape[dim])
        step = _arg(args, kwargs, 4, "step", 1) or 1
        # A slice is a window of one tap: stride ``step``, starting ``begin`` positions in.
        ones = (1,) * rank
        stride = tuple(step if a == axis else 1 for a in range(rank))
        pad = tuple(-begin if a == axis else 0 for a in range(rank))
        return window(src, ones, stride, pad, ones, first.shape[-rank:], out.shape[-rank:])
    if op in ("split", "split_with_sizes", "chunk", "unbind", "select", "index_select", "narrow"):
        position = 2 if op in ("split", "split_with_sizes", "chunk") else 1
        dim = int(_arg(args, kwargs, position, "dim", 0)) % ndim
        return src if dim not in sdims else ReceptiveField("unknown", reason=f"{op} along a spatial axis")
    if op in _NORMS or op in _ACTIVATIONS:
        return src
    if op in _MATMUL:
        return src  # a 2-d matrix product mixes features within a row (sample)
    if op in _SAME or pointwise:
        return src
    if is_view or op in (
        "reshape",
        "_unsafe_view",
        "expand",
        "permute",
        "transpose",
        "t",
        "squeeze",
        "unsqueeze",
        "flatten",
    ):
        in_spatial = tuple(first.shape[d] for d in sdims)
        if op in ("transpose", "t") and len(args) > 2 and {int(args[1]) % ndim, int(args[2]) % ndim} & set(sdims):
            if math.prod(in_spatial) > 1:
                return ReceptiveField("unknown", reason="transpose of a spatial axis")
        # Still a map (batch, channels..., then the same spatial axes): positions untouched.
        if (
            out.dim() >= rank + 2
            and tuple(out.shape[-rank:]) == in_spatial
            and (op != "permute" or _keeps_last(args, rank))
        ):
            return src
        if math.prod(in_spatial) == 1:
            return src  # one position: reshaping moves no pixels
        if out.dim() <= 2:
            return GLOBAL  # positions merged into features (flatten): N x features
        return ReceptiveField("unknown", reason=f"{op} moves the spatial axes")
    return ReceptiveField("unknown", reason=f"aten.{op}")


def _keeps_last(args: Sequence, rank: int) -> bool:
    dims = [int(d) for d in args[1]]
    n = len(dims)
    return [d % n for d in dims[-rank:]] == list(range(n - rank, n))


# -- the empirical check ---------------------------------------------------------------------


class _AveragePools(TorchFunctionMode):
    """Max pooling sends gradient to the arg-max only, so a gradient map through it shows a
    sparse subset of the receptive field. The check pools by average over the same windows."""

    _MAX = {
        "max_pool1d": 1,
        "max_pool2d": 2,
        "max_pool3d": 3,
        "_max_pool1d": 1,
        "_max_pool2d": 2,
        "_max_pool3d": 3,
        "max_pool1d_with_indices": 1,
        "max_pool2d_with_indices": 2,
        "max_pool3d_with_indices": 3,
    }
    _ADAPTIVE_MAX = {
        "adaptive_max_pool1d": 1,
        "adaptive_max_pool2d": 2,
        "adaptive_max_pool3d": 3,
        "_adaptive_max_pool1d": 1,
        "_adaptive_max_pool2d": 2,
        "_adaptive_max_pool3d": 3,
        "adaptive_max_pool1d_with_indices": 1,
        "adaptive_max_pool2d_with_indices": 2,
        "adaptive_max_pool3d_with_indices": 3,
    }

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in self._MAX:
            import torch.nn.functional as F

            names = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
            bound = dict(zip(names, args)) | kwargs
            if _per_axis(bound.get("dilation", 1), 1, 1) != (1,) and bound.get("dilation", 1) not in (
                1,
                (1, 1),
                [1, 1],
            ):
                raise ValueError("the empirical receptive-field check cannot average a dilated max pool")
            avg = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[self._MAX[name] - 1]
            out = avg(
                bound["input"],
                bound["kernel_size"],
                bound.get("stride") or bound["kernel_size"],
                bound.get("padding", 0),
                bound.get("ceil_mode", False),
                True,
            )
            return (out, None) if bound.get("return_indices") else out
        if name in self._ADAPTIVE_MAX:
            import torch.nn.functional as F

            names = ("input", "output_size", "return_indices")
            bound = dict(zip(names, args)) | kwargs
            avg = (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d)[self._ADAPTIVE_MAX[name] - 1]
            out = avg(bound["input"], bound["output_size"])
            return (out, None) if bound.get("return_indices") else out
        return func(*args, **kwargs)


def positive_weight(dtype: torch.dtype = torch.float64) -> Callable[[str, torch.Tensor], torch.Tensor]:
    """Stand-ins (for :func:`cnnlab.tracing.substituted`) that make every unit of a ReLU
    network positive on a positive input: each weight 1 / fan-in (an average), biases 0,
    normalisation an identity. No gradient inside the receptive field can then vanish
    through a ReLU."""

    def make(name: str, t: torch.Tensor) -> torch.Tensor:
        if not t.is_floating_point():
            return torch.zeros(t.shape, dtype=t.dtype)
        if name.endswith("bias") or (not isinstance(t, nn.Parameter) and not name.endswith("running_var")):
            return torch.zeros(t.shape, dtype=dtype)  # biases, running means
        if t.dim() <= 1:  # norm scales (gamma), running variances
            return torch.ones(t.shape, dtype=dtype)
        return torch.full(t.shape, 1.0 / max(1, math.prod(t.shape[1:])), dtype=dtype)

    return make


def empirical_region(
    model: nn.Module,
    input_size: Sequence[int],
    layer: str,
    position: Sequence[int] | None = None,
    dtype: torch.dtype = torch.float64,
) -> tuple[tuple[int, int], ...]:
    """Measure which input pixels ``position`` (default: the centre) of ``layer``'s output
    depends on: backpropagate from that position (all channels) of a positive network
    (``positive_state``, max pooling replaced by average pooling) to a positive input and
    return the inclusive bounds of the non-zero gradient per spatial axis.

    Runs real arithmetic on the CPU at ``input_size``: choose the smallest input that holds
    the field."""
    modules = dict(model.named_modules())
    if layer not in modules:
        raise KeyError(f"no module named {layer!r} in {type(model).__name__}; pass a dotted module name")
    captured: list[torch.Tensor] = []
    x = torch.ones((1, *input_size), dtype=dtype, requires_grad=True)
    with left_as_found(model), substituted(model, positive_weight(dtype)):
        model.eval()
        modules[layer].register_forward_hook(lambda m, a, out: captured.append(out))
        with _AveragePools(), torch.enable_grad():
            model(x)
    if not captured:
        raise ValueError(f"{layer!r} did not run in {type(model).__name__}'s forward")
    out = captured[0]
    rank = len(input_size) - 1
    spatial = tuple(out.shape[-rank:])
    pos = tuple(s // 2 for s in spatial) if position is None else tuple(position)
    index = (0, slice(None), *pos)
    (grad,) = torch.autograd.grad(out[index].sum(), x)
    mask = grad[0].abs().sum(dim=0) > 0
    bounds = []
    for axis in range(rank):
        other = tuple(a for a in range(rank) if a != axis)
        hits = mask.any(dim=other) if other else mask
        idx = torch.nonzero(hits).flatten()
        if idx.numel() == 0:
            raise ValueError(f"no gradient reached the input from {layer} at {pos}")
        bounds.append((int(idx.min()), int(idx.max())))
    return tuple(bounds)
