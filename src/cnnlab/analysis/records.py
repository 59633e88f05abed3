"""What ``analyze()`` returns: plain records, no rendering.

Units and conventions (printed with every total by ``report``):

- ``macs``: multiply-accumulates of convolutions and matrix products (what the papers call
  "ops", "multiply-adds" or "FLOPs (multiply-adds)"); ``flops = 2 * macs``. Nothing else is
  folded into them.
- ``ops``: every other operation, counted by family and kept apart: ``bias`` (one add per
  output element of a conv or linear with a bias), ``norm`` and ``act`` (one per output
  element), ``pool`` (one per window element read: output elements x window area; global
  pooling reads every input element once), ``elementwise`` (one per output element per
  extra operand, so ``x + y`` is one add per element).
- Shapes include the batch dimension; elements and bytes are for the whole batch.
- Receptive fields are in input pixels per spatial axis (H, W): ``size`` is the extent one
  output position sees, ``jump`` the input distance between neighbouring output positions,
  ``start`` the input coordinate of the centre of output position 0 (pixel centres are
  integers, so padding makes it negative).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..display import RichDisplay

SCHEMA = "cnnlab.analysis/1"

KINDS = ("conv", "linear", "norm", "act", "pool", "elementwise", "concat", "reshape", "dropout", "identity", "other")
OP_FAMILIES = ("bias", "norm", "act", "pool", "elementwise")

# Tensors an optimizer keeps per parameter element (PyTorch's implementations, default options).
OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "nesterov": 1, "rmsprop": 1, "adagrad": 1, "adam": 2, "adamw": 2}

Axes = tuple[float, ...]


@dataclass(frozen=True)
class ReceptiveField:
    """The input region one position of a tensor depends on.

    ``kind`` is ``"spatial"`` (``size``, ``jump`` and ``start`` hold one value per spatial
    axis), ``"global"`` (the tensor has no image positions left: every value may depend on
    every input position, after global pooling, flattening or a position-mixing op),
    ``"unknown"`` (an op cnnlab cannot follow; ``reason`` names it) or ``"none"`` (does not
    depend on the input at all: a constant).
    """

    kind: str
    size: Axes = ()
    jump: Axes = ()
    start: Axes = ()
    reason: str = ""
    # Per axis, the first and last input pixel the map depends on at all: a stride that
    # does not divide the input leaves border pixels no window reads.
    extent: tuple[tuple[float, float], ...] = ()

    @property
    def is_spatial(self) -> bool:
        return self.kind == "spatial"

    def region(self, position: Sequence[int], clip: bool = True) -> tuple[tuple[int, int], ...]:
        """Inclusive input bounds ``((y0, y1), (x0, x1))`` seen by output ``position``;
        with ``clip``, only the input pixels that exist and that the map reads (``extent``),
        which is what the gradient of that position shows."""
        if not self.is_spatial:
            raise ValueError(f"a {self.kind} receptive field has no region per position ({self.reason or self.kind})")
        if len(position) != len(self.size):
            raise ValueError(
                f"position {tuple(position)} has {len(position)} coordinates; this map has "
                f"{len(self.size)} spatial axes, pass one index per axis"
            )
        bounds = []
        for axis, index in enumerate(position):
            centre = self.start[axis] + index * self.jump[axis]
            half = (self.size[axis] - 1) / 2
            lo, hi = math.ceil(centre - half - 1e-9), math.floor(centre + half + 1e-9)
            if clip and self.extent:
                lo, hi = max(lo, math.ceil(self.extent[axis][0])), min(hi, math.floor(self.extent[axis][1]))
            bounds.append((lo, hi))
        return tuple(bounds)

    def describe(self) -> str:
        """'212 / 32' style: size and jump, one number when the axes agree."""
        if not self.is_spatial:
            return self.kind
        return f"{_axes(self.size)} / {_axes(self.jump)}"


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _axes(values: Axes) -> str:
    return _num(values[0]) if len(set(values)) == 1 else "x".join(_num(v) for v in values)


NO_FIELD = ReceptiveField("none")
GLOBAL = ReceptiveField("global")


def input_field(spatial: Sequence[int]) -> ReceptiveField:
    """The input itself (spatial sizes ``spatial``): each position sees one pixel."""
    rank = len(spatial)
    extent = tuple((0.0, float(n - 1)) for n in spatial)
    return ReceptiveField("spatial", (1.0,) * rank, (1.0,) * rank, (0.0,) * rank, extent=extent)


@dataclass
class LayerRecord:
    """One row: a leaf module call, or a functional op (``torch.cat``, ``x + y``,
    ``F.relu``) called directly in a container's ``forward``."""

    index: int  # 1-based in execution order; 0 stands for the model's input
    name: str  # dotted module name; functional ops are "<parent>.<op>" ("layer1.0.add")
    call: int  # 0 for a module's first call, 1 for its second (shared modules) ...
    type: str  # module class ("Conv2d") or function ("add", "cat", "relu")
    kind: str  # one of KINDS
    depth: int  # 1 for the model's children
    functional: bool
    input_shapes: tuple[tuple[int, ...], ...]
    output_shapes: tuple[tuple[int, ...], ...]
    kernel: tuple[int, ...] | None = None
    stride: tuple[int, ...] | None = None
    padding: tuple[int, ...] | None = None
    dilation: tuple[int, ...] | None = None
    groups: int | None = None
    weights: int = 0  # parameter elements named *weight (BN's gamma included) ...
    biases: int = 0  # ... and *bias (BN's beta); counted on a module's first call only
    trainable: int = 0
    frozen: int = 0
    shared: bool = False  # a later call of a module whose parameters an earlier row counted
    macs: int = 0
    ops: dict[str, int] = field(default_factory=dict)
    out_elements: int = 0
    out_bytes: int = 0
    rf: ReceptiveField = NO_FIELD
    inputs: tuple[int, ...] = ()  # rows whose outputs this row reads (0 = the model input)

    @property
    def label(self) -> str:
        """The name, with '#2', '#3' ... on a shared module's later calls."""
        return self.name if self.call == 0 else f"{self.name}#{self.call + 1}"

    @property
    def params(self) -> int:
        return self.weights + self.biases

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.output_shapes[0] if self.output_shapes else ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(label=self.label, params=self.params, flops=self.flops)
        d["rf"] = asdict(self.rf)
        return d


@dataclass
class ModuleRecord:
    """One call of a container module: the rows ``first_row .. last_row`` ran inside it."""

    name: str
    type: str
    depth: int
    call: int
    first_row: int
    last_row: int
    output_shapes: tuple[tuple[int, ...], ...] = ()
    output_row: int = 0  # the row whose output the container returns (0: the input itself)

    @property
    def label(self) -> str:
        return self.name if self.call == 0 else f"{self.name}#{self.call + 1}"


@dataclass(frozen=True)
class TrainingMemory:
    """A training step's memory, in bytes: parameters + gradients + optimizer state +
    activations saved for backward (measured by autograd's saved-tensor hooks)."""

    batch_size: int
    optimizer: str
    parameters: int
    gradients: int
    optimizer_state: int
    activations: int

    @property
    def total(self) -> int:
        return self.parameters + self.gradients + self.optimizer_state + self.activations


@dataclass(repr=False)
class Analysis(RichDisplay):
    """Everything one forward pass of a model shows: rows, containers and totals.

    In Jupyter it displays as ``cnnlab report MODEL`` shows it (totals up front, the
    per-layer table collapsed); ``repr()`` is one line."""

    display_kind = "analysis"

    model: str
    input_size: tuple[int, ...]  # one sample, without the batch: (C, H, W)
    batch_size: int
    dtype: str
    element_size: int
    rows: list[LayerRecord]
    modules: list[ModuleRecord]
    params_total: int
    params_trainable: int
    params_used: int
    unused: tuple[tuple[str, int], ...]  # (module, parameters) this forward never touched
    saved_bytes: int | None  # autograd's saved activations, one training forward, measured
    saved_note: str = ""
    aux: bool = False
    trace_note: str = ""  # how the trace ran when not on the meta device (see analyze)

    def __iter__(self) -> Iterator[LayerRecord]:
        return iter(self.rows)

    def __repr__(self) -> str:
        size = "x".join(map(str, self.input_size))
        return (
            f"<Analysis of {self.model} at {size}, batch {self.batch_size}: {self.params_total:,} parameters, "
            f"{self.macs:,} multiply-accumulates, {len(self.rows)} rows>"
        )

    def __len__(self) -> int:
        return len(self.rows)

    def row(self, name: str) -> LayerRecord:
        """The first row called ``name`` (a label like 'relu#2' picks a later call); a
        container's name (``layer4``, ``Mixed_7c``) gives the row that produced its output,
        so its receptive field is the container's."""
        for r in self.rows:
            if name in (r.name, r.label):
                return r
        for m in self.modules:
            if m.name and name in (m.name, m.label) and m.output_row:
                return next(r for r in self.rows if r.index == m.output_row)
        close = [r.label for r in self.rows if name in r.label][:8]
        hint = f"; rows containing it: {', '.join(close)}" if close else "; list them with [r.label for r in analysis]"
        raise KeyError(f"no row named {name!r} in the analysis of {self.model}{hint}")

    # -- totals -------------------------------------------------------------------------
    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.rows)

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def ops(self) -> dict[str, int]:
        return {f: sum(r.ops.get(f, 0) for r in self.rows) for f in OP_FAMILIES}

    @property
    def input_elements(self) -> int:
        return self.batch_size * math.prod(self.input_size)

    @property
    def activation_elements(self) -> int:
        """The lecture's rule: the input plus the output of every conv, linear and pooling
        row (activations applied in place add nothing), for the whole batch."""
        return self.input_elements + sum(r.out_elements for r in self.rows if r.kind in ("conv", "linear", "pool"))

    @property
    def activation_bytes(self) -> int:
        return self.activation_elements * self.element_size

    @property
    def all_outputs_elements(self) -> int:
        """The input plus every row's output: the forward's footprint with nothing in place."""
        return self.input_elements + sum(r.out_elements for r in self.rows)

    @property
    def is_chain(self) -> bool:
        """True when every row reads at most one earlier row: no branches, no joins."""
        return all(len(r.inputs) <= 1 for r in self.rows)

    def training_memory(self, optimizer: str = "sgd", batch_size: int | None = None) -> TrainingMemory:
        """Estimate a training step's memory for ``batch_size`` (default: the analysed one);
        saved activations scale linearly from the measured batch."""
        key = optimizer.lower()
        if key not in OPTIMIZER_STATES:
            raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZER_STATES)}")
        batch = self.batch_size if batch_size is None else batch_size
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if self.saved_bytes is None:
            raise ValueError(f"saved activations were not measured for {self.model}: {self.saved_note}")
        size = self.element_size
        return TrainingMemory(
            batch_size=batch,
            optimizer=key,
            parameters=self.params_total * size,
            gradients=self.params_trainable * size,
            optimizer_state=OPTIMIZER_STATES[key] * self.params_trainable * size,
            activations=self.saved_bytes * batch // self.batch_size,
        )

    def input_region(self, layer: str, position: Sequence[int], clip: bool = True) -> tuple[tuple[int, int], ...]:
        """The input pixels ``((y0, y1), (x0, x1))``, inclusive, that ``position`` of
        ``layer``'s output sees; clipped to the input unless ``clip=False``."""
        row = self.row(layer)
        if not row.rf.is_spatial:
            spatial = [r.label for r in self.rows if r.rf.is_spatial]
            hint = f"; the last row with a spatial map is {spatial[-1]!r}" if spatial else ""
            why = f" ({row.rf.reason})" if row.rf.reason else ""
            raise ValueError(f"{layer}'s receptive field is {row.rf.kind}{why}: no region per position{hint}")
        rank = len(self.input_size) - 1
        shape = row.output_shape
        # A flattened 1x1 map keeps its field: one position.
        out = (shape[-rank:] if len(shape) == rank + 2 else (1,) * rank) if row.rf.is_spatial else ()
        for axis, (index, extent) in enumerate(zip(position, out)):
            if not 0 <= index < extent:
                raise ValueError(
                    f"position {tuple(position)} is outside {layer}'s {'x'.join(map(str, out))} map "
                    f"(axis {axis}: 0..{extent - 1})"
                )
        return row.rf.region(position, clip)

    def to_dict(self) -> dict[str, Any]:
        """Versioned plain data (``schema``), for JSON."""
        return {
            "schema": SCHEMA,
            "model": self.model,
            "input_size": list(self.input_size),
            "batch_size": self.batch_size,
            "dtype": self.dtype,
            "aux": self.aux,
            "trace_note": self.trace_note,
            "totals": {
                "params": self.params_total,
                "params_trainable": self.params_trainable,
                "params_used": self.params_used,
                "unused": [list(u) for u in self.unused],
                "macs": self.macs,
                "flops": self.flops,
                "ops": self.ops,
                "activation_elements": self.activation_elements,
                "activation_bytes": self.activation_bytes,
                "all_outputs_elements": self.all_outputs_elements,
                "saved_bytes": self.saved_bytes,
                "saved_note": self.saved_note,
            },
            "rows": [r.to_dict() for r in self.rows],
            "modules": [asdict(m) for m in self.modules],
        }
