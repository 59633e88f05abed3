"""Rendering of an ``Analysis``: every function returns a string and prints nothing.

- ``render_table``: a terminal table (one line per row, or per container with ``depth``)
  followed by the totals;
- ``render_totals``: the totals, each line naming its unit and convention;
- ``render_markdown``, ``render_csv``, ``render_json``: the same data for documents,
  spreadsheets and programs;
- ``render_rf`` and ``render_rf_check``: receptive fields per row, and the input region of
  one output position (analytic, and against a measured region).

Counts are exact with thousands separators (138,357,544), since the exact number is what a
student checks against a paper; totals add a short SI form (15.47 G = 15.47 x 10^9). Bytes
are binary: KiB = 2^10, MiB = 2^20, GiB = 2^30 bytes.
"""

from __future__ import annotations

import csv
import io
import json
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from ..errors import ConfigError
from .records import OP_FAMILIES, Analysis, LayerRecord, ModuleRecord, ReceptiveField

# The columns ``render_table`` and ``render_markdown`` accept, and those they show by default.
COLUMNS = ("index", "layer", "kind", "output", "params", "macs", "flops", "rf")
TABLE_COLUMNS = ("layer", "output", "params", "macs", "rf")

_OP_WORDS = {
    "bias": "bias adds",
    "norm": "normalisation",
    "act": "activation",
    "pool": "pooling (window reads)",
    "elementwise": "elementwise",
}
_AXIS_NAMES = {1: ("w",), 2: ("h", "w"), 3: ("d", "h", "w")}
WIDTH = 110  # prose lines of the text formats wrap here; tables never wrap


# -- small formatters ---------------------------------------------------------------------
def count(n: int) -> str:
    """138357544 -> '138,357,544'."""
    return f"{n:,}"


def value_text(value: object) -> str:
    """A printed or computed number of a claim as a person reads it: integers with thousands
    separators, a fraction as itself unless whole, six significant digits of a float, text
    as it is."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, Fraction):
        return str(value) if value.denominator != 1 else f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:,.6g}"
    return str(value)


def si(n: float) -> str:
    """15470264320 -> '15.47 G': two decimals with an SI prefix (powers of 1000)."""
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:g}"


def binary_bytes(n: int) -> str:
    """61014016 -> '58.2 MiB' (binary units: MiB = 2^20 bytes)."""
    for unit, scale, digits in (("GiB", 2**30, 2), ("MiB", 2**20, 1), ("KiB", 2**10, 1)):
        if abs(n) >= scale:
            return f"{n / scale:.{digits}f} {unit}"
    return f"{n} B"


def _number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _axes(values: Sequence[float]) -> str:
    """One number when every axis agrees, 'HxW' otherwise."""
    return _number(values[0]) if len(set(values)) == 1 else "x".join(_number(v) for v in values)


def _shape(shape: Sequence[int]) -> str:
    return "x".join(str(s) for s in shape) if shape else "scalar"


def _sample_shape(shape: Sequence[int], batch: int) -> str:
    """Drop the batch dimension; a tensor whose first dimension is not the batch is shown
    whole, in brackets, so nothing is silently misread."""
    if shape and shape[0] == batch:
        return _shape(shape[1:]) if len(shape) > 1 else "scalar"
    return f"[{_shape(shape)}]"


def _sample_shapes(shapes: Sequence[Sequence[int]], batch: int) -> str:
    return ", ".join(_sample_shape(s, batch) for s in shapes) or "-"


def _rf_text(rf: ReceptiveField) -> str:
    if rf.kind == "unknown" and rf.reason:
        return f"unknown ({rf.reason})"
    return rf.describe()


def _header(analysis: Analysis) -> str:
    mode = "training-mode forward_aux (auxiliary heads included)" if analysis.aux else "eval-mode forward"
    text = (
        f"{analysis.model}: input {_shape(analysis.input_size)}, batch {analysis.batch_size}, "
        f"{analysis.dtype}, {mode}; output shapes are per sample (the batch of {analysis.batch_size} excluded)"
    )
    return f"{text}; {analysis.trace_note}" if analysis.trace_note else text


def _wrap(statements: Sequence[str]) -> list[str]:
    """Wrap each statement with a hanging indent, keeping its own leading indent."""
    out: list[str] = []
    for text in statements:
        lead = text[: len(text) - len(text.lstrip())]
        out.append(
            textwrap.fill(
                text.strip(),
                WIDTH,
                initial_indent=lead,
                subsequent_indent=lead + "    ",
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    return out


# -- table lines: rows, or containers folding the rows below a depth ------------------------
@dataclass(frozen=True)
class TableLine:
    """One line of a table: a row, or a container standing for the rows it folds."""

    index: str  # the row index, or "first-last" for a container
    label: str
    type: str
    depth: int
    kind: str
    output: str
    params: int
    macs: int
    rf: ReceptiveField
    shared: bool = False
    folded: int = 0  # rows folded into this container line; 0 for a row


def _row_line(row: LayerRecord, batch: int) -> TableLine:
    return TableLine(
        index=str(row.index),
        label=row.label,
        type=row.type,
        depth=row.depth,
        kind=row.kind,
        output=_sample_shapes(row.output_shapes, batch),
        params=row.params,
        macs=row.macs,
        rf=row.rf,
        shared=row.shared,
    )


def _check_depth(depth: int | None) -> None:
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise ConfigError(f"depth must be None (every row) or an integer >= 0, got {depth!r}")


def table_lines(analysis: Analysis, depth: int | None = None) -> list[TableLine]:
    """The rows, with every row nested deeper than ``depth`` folded into its container at
    ``depth`` (summed params and MACs, the container's output, its last row's field)."""
    _check_depth(depth)
    batch = analysis.batch_size
    if depth is None:
        return [_row_line(r, batch) for r in analysis.rows]
    # Containers at one depth never overlap, so each row index maps to at most one.
    owner: dict[int, ModuleRecord] = {}
    for m in analysis.modules:
        if m.depth == depth:
            for i in range(m.first_row, m.last_row + 1):
                owner[i] = m
    by_index = {r.index: r for r in analysis.rows}
    lines: list[TableLine] = []
    done: set[int] = set()
    for row in analysis.rows:
        m = owner.get(row.index)
        if m is None:
            lines.append(_row_line(row, batch))
            continue
        if id(m) in done:
            continue
        done.add(id(m))
        inside = [by_index[i] for i in range(m.first_row, m.last_row + 1) if i in by_index]
        lines.append(
            TableLine(
                index=f"{m.first_row}-{m.last_row}" if m.last_row > m.first_row else str(m.first_row),
                label=m.label or analysis.model,
                type=m.type,
                depth=m.depth,
                kind="-",
                output=_sample_shapes(m.output_shapes, batch),
                params=sum(r.params for r in inside),
                macs=sum(r.macs for r in inside),
                rf=inside[-1].rf,
                folded=len(inside),
            )
        )
    return lines


def _dash(n: int) -> str:
    return count(n) if n else "-"


def _layer_cell(line: TableLine, indent: bool) -> str:
    what = f"{line.type}, {line.folded} rows" if line.folded > 1 else line.type
    pad = "  " * max(line.depth - 1, 0) if indent else ""
    return f"{pad}{line.label} ({what})"


@dataclass(frozen=True)
class _Column:
    key: str
    header: str
    align: str  # "l" or "r"


def _columns(analysis: Analysis, columns: Sequence[str] | None) -> list[_Column]:
    names = tuple(TABLE_COLUMNS if columns is None else columns)
    unknown = [c for c in names if c not in COLUMNS]
    if unknown or not names:
        raise ConfigError(f"unknown table column(s) {unknown or list(names)}; choose from {', '.join(COLUMNS)}")
    batch = analysis.batch_size
    headers = {
        "index": ("#", "r"),
        "layer": ("Layer (type)", "l"),
        "kind": ("Kind", "l"),
        "output": ("Output shape", "l"),
        "params": ("Params", "r"),
        "macs": (f"MACs (batch {batch})", "r"),
        "flops": (f"FLOPs (batch {batch})", "r"),
        "rf": ("RF size / jump", "l"),
    }
    return [_Column(c, *headers[c]) for c in names]


def _cell(key: str, line: TableLine, indent: bool) -> str:
    if key == "layer":
        return _layer_cell(line, indent)
    if key == "params":
        return "shared" if line.shared else _dash(line.params)
    if key == "macs":
        return _dash(line.macs)
    if key == "flops":
        return _dash(2 * line.macs)
    if key == "rf":
        return _rf_text(line.rf)
    return str(getattr(line, key))  # index, kind, output


def _legend(analysis: Analysis, depth: int | None) -> list[str]:
    deepest = max((r.depth for r in analysis.rows), default=0)
    folded = depth is not None and depth < deepest
    shown = f"rows deeper than {depth} folded into their containers" if folded else "every row"
    return [
        f"{len(analysis.rows)} rows, nesting depth {deepest}; {shown}. Params are counted on a module's "
        "first call ('shared' marks later calls); '-' is zero.",
        "MACs: multiply-accumulates of conv and linear layers for the whole batch. RF: receptive field "
        "in input pixels, size / jump between neighbouring outputs (HxW when the axes differ); "
        "'global': every position sees the whole input.",
    ]


# -- totals -------------------------------------------------------------------------------
def totals_lines(analysis: Analysis, optimizer: str = "sgd", batch_size: int | None = None) -> list[str]:
    """The totals, one statement per line, each naming its unit and convention."""
    a = analysis
    batch = f"batch of {a.batch_size}"
    lines = [
        f"Params: {count(a.params_total)} total, {count(a.params_trainable)} trainable, "
        f"{count(a.params_used)} used by this forward pass"
    ]
    for name, n in a.unused:
        lines.append(f"  {name}: {count(n)} params not used by this forward pass")
    if a.unused and not a.aux:
        lines.append("  (this is the eval-mode forward(); auxiliary heads, if any, run only with aux=True / --aux)")
    lines.append(
        f"MACs: {count(a.macs)} multiply-accumulates ({si(a.macs)}; conv + linear only) = "
        f"{count(a.flops)} FLOPs ({si(a.flops)}; FLOPs = 2 x MACs), per {batch}"
    )
    ops = a.ops
    lines.append(
        "Other ops (not in MACs, one op per output element unless noted): "
        + ", ".join(f"{_OP_WORDS[f]} {count(ops[f])}" for f in OP_FAMILIES)
    )
    size = a.element_size
    lines.append(
        f"Activations (lecture rule: input + conv/linear/pool outputs): {count(a.activation_elements)} elements "
        f"x {size} bytes ({a.dtype}) = {binary_bytes(a.activation_bytes)} per {batch} "
        "(about 2x that when training: backward keeps a gradient of the same size)"
    )
    lines.append(
        f"All outputs (input + every row's output, nothing in place): {count(a.all_outputs_elements)} elements "
        f"= {binary_bytes(a.all_outputs_elements * size)} per {batch}"
    )
    if a.saved_bytes is None:
        lines.append(f"Saved for backward: {a.saved_note}")
        lines.append("Training memory: not estimated, it needs the saved activations")
    else:
        lines.append(f"Saved for backward: {binary_bytes(a.saved_bytes)} per {batch} ({a.saved_note})")
        try:
            mem = a.training_memory(optimizer, batch_size)
        except ValueError as err:
            raise ConfigError(str(err)) from err
        lines.append(
            f"Training memory ({mem.optimizer}, batch {mem.batch_size}): params {binary_bytes(mem.parameters)} "
            f"+ grads {binary_bytes(mem.gradients)} + optimizer state {binary_bytes(mem.optimizer_state)} "
            f"+ saved activations {binary_bytes(mem.activations)} = {binary_bytes(mem.total)} "
            "(estimate: no workspace, allocator or framework overhead)"
        )
    lines.append("Units: exact counts with thousands separators; G = 10^9; KiB/MiB/GiB = 2^10/2^20/2^30 bytes.")
    return lines


def render_totals(analysis: Analysis, optimizer: str = "sgd", batch_size: int | None = None) -> str:
    """The totals block: params, MACs and FLOPs, other ops, activations, saved tensors and a
    training-memory estimate for ``optimizer`` at ``batch_size`` (default: the analysed one)."""
    return "\n".join(_wrap(totals_lines(analysis, optimizer, batch_size)))


# -- the formats ----------------------------------------------------------------------------
def render_table(
    analysis: Analysis,
    depth: int | None = None,
    columns: Sequence[str] | None = None,
    *,
    optimizer: str = "sgd",
    batch_size: int | None = None,
) -> str:
    """A Keras/torchinfo-style table, then the totals. ``depth=d`` folds rows nested deeper
    than ``d`` into their containers (``0``: the whole model in one line); ``columns``
    picks from ``COLUMNS`` (default ``TABLE_COLUMNS``)."""
    lines = table_lines(analysis, depth)
    cols = _columns(analysis, columns)
    cells = [[_cell(c.key, ln, indent=True) for c in cols] for ln in lines]
    table = _format_table([c.header for c in cols], cells, "".join(c.align for c in cols))
    return "\n".join(
        [
            *_wrap([_header(analysis)]),
            "",
            table,
            "",
            *_wrap(_legend(analysis, depth)),
            "",
            render_totals(analysis, optimizer, batch_size),
        ]
    )


def _format_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> str:
    """Columns padded to their widest cell, a rule under the header and at the end."""
    widths = [max(len(c) for c in col) for col in zip(header, *rows)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(cells, widths, align)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows), rule])


def render_markdown(
    analysis: Analysis,
    depth: int | None = None,
    columns: Sequence[str] | None = None,
    *,
    optimizer: str = "sgd",
    batch_size: int | None = None,
) -> str:
    """The table as a Markdown (GitHub) table, then the totals as a list."""
    lines = table_lines(analysis, depth)
    cols = _columns(analysis, columns)

    def cell(col: _Column, line: TableLine) -> str:
        text = _cell(col.key, line, indent=False)
        if col.key == "layer":  # names in code font: they are what --layer and row() take
            text = f"`{line.label}` {text[len(line.label) + 1 :]}"
        return text.replace("|", "\\|")

    out = [f"**{_header(analysis)}**", ""]
    out.append("| " + " | ".join(c.header for c in cols) + " |")
    out.append("|" + "|".join("---:" if c.align == "r" else "---" for c in cols) + "|")
    out.extend("| " + " | ".join(cell(c, ln) for c in cols) + " |" for ln in lines)
    out.append("")
    out.extend(_legend(analysis, depth))
    out.append("")
    # Indented totals lines (unused modules) become a nested list.
    totals = totals_lines(analysis, optimizer, batch_size)
    out.extend(f"  - {t.strip()}" if t.startswith(" ") else f"- {t}" for t in totals)
    return "\n".join(out)


def _axis_names(rank: int) -> tuple[str, ...]:
    return _AXIS_NAMES.get(rank, tuple(str(i) for i in range(rank)))


def _joined(values: Sequence[object] | None, sep: str = "x") -> str:
    return "" if values is None else sep.join(str(v) for v in values)


def render_csv(analysis: Analysis) -> str:
    """One line per row with every field flattened: shapes as '1x64x112x112' (batch
    included; several tensors space-separated), op families as ``op_<family>``, the
    receptive field as ``rf_kind``, ``rf_size_h``, ``rf_jump_h``, ``rf_start_h``,
    ``rf_extent_first_h``, ``rf_extent_last_h`` ... per spatial axis (the extent: the first
    and last input pixel the map reads), ``inputs`` as space-separated row indexes (0 = the
    model input)."""
    axes = _axis_names(len(analysis.input_size) - 1)
    header = [
        "index",
        "name",
        "label",
        "call",
        "type",
        "kind",
        "depth",
        "functional",
        "input_shapes",
        "output_shapes",
        "kernel",
        "stride",
        "padding",
        "dilation",
        "groups",
        "weights",
        "biases",
        "params",
        "trainable",
        "frozen",
        "shared",
        "macs",
        "flops",
        *(f"op_{f}" for f in OP_FAMILIES),
        "out_elements",
        "out_bytes",
        "rf_kind",
        *(f"rf_{what}_{axis}" for what in ("size", "jump", "start") for axis in axes),
        *(f"rf_extent_{end}_{axis}" for axis in axes for end in ("first", "last")),
        "rf_reason",
        "inputs",
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for r in analysis.rows:
        rf = r.rf
        per_axis = [
            _number(values[i]) if rf.is_spatial and i < len(values) else ""
            for values in (rf.size, rf.jump, rf.start)
            for i in range(len(axes))
        ]
        extent = [
            _number(rf.extent[i][end]) if rf.is_spatial and i < len(rf.extent) else ""
            for i in range(len(axes))
            for end in (0, 1)
        ]
        writer.writerow(
            [
                r.index,
                r.name,
                r.label,
                r.call,
                r.type,
                r.kind,
                r.depth,
                r.functional,
                " ".join(_shape(s) for s in r.input_shapes),
                " ".join(_shape(s) for s in r.output_shapes),
                _joined(r.kernel),
                _joined(r.stride),
                _joined(r.padding),
                _joined(r.dilation),
                "" if r.groups is None else r.groups,
                r.weights,
                r.biases,
                r.params,
                r.trainable,
                r.frozen,
                r.shared,
                r.macs,
                r.flops,
                *(r.ops.get(f, 0) for f in OP_FAMILIES),
                r.out_elements,
                r.out_bytes,
                rf.kind,
                *per_axis,
                *extent,
                rf.reason,
                _joined(r.inputs, " "),
            ]
        )
    return buffer.getvalue()


def render_json(analysis: Analysis) -> str:
    """``analysis.to_dict()`` (schema ``cnnlab.analysis/1``) as indented JSON."""
    return json.dumps(analysis.to_dict(), indent=2)


# -- receptive fields -----------------------------------------------------------------------
def _spatial_out(analysis: Analysis, row: LayerRecord) -> tuple[int, ...]:
    """The spatial sizes of ``row``'s output map. A spatial field on an output with no map
    left comes from flattening a 1x1 map (GoogLeNet's classifier): one position."""
    rank = len(analysis.input_size) - 1
    shape = row.output_shape
    return tuple(shape[-rank:]) if len(shape) == rank + 2 else (1,) * rank


def _has_map(analysis: Analysis, row: LayerRecord) -> bool:
    return row.rf.is_spatial and len(row.output_shape) == len(analysis.input_size) + 1


def rf_target(
    analysis: Analysis,
    layer: str | None = None,
    position: Sequence[int] | None = None,
    modules_only: bool = False,
) -> tuple[LayerRecord, tuple[int, ...]]:
    """The row and output position a region question is about: ``layer`` (default: the last
    row with a spatial map and field; with ``modules_only``, the last such module call, which a
    hook can reach) and ``position`` (default: the centre of its map), both checked."""
    if layer is None:
        candidates = [
            r for r in analysis.rows if _has_map(analysis, r) and not (modules_only and (r.functional or r.call))
        ]
        if not candidates:
            raise ConfigError(f"no row of {analysis.model} has a spatial receptive field to show a region for")
        row = candidates[-1]
    else:
        try:
            row = analysis.row(layer)  # a container's name gives the row producing its output
        except KeyError:
            row = None
        if row is None:
            close = [r.label for r in analysis.rows if layer in r.label][:8]
            hint = f"rows containing it: {', '.join(close)}; " if close else ""
            raise ConfigError(
                f"no row named {layer!r} in {analysis.model}; {hint}the receptive-field table "
                f"(`cnnlab rf {analysis.model}`) lists every row"
            )
        if not row.rf.is_spatial:
            spatial = [r.label for r in analysis.rows if _has_map(analysis, r)]
            hint = f"; the last row with one is {spatial[-1]}" if spatial else ""
            raise ConfigError(
                f"{row.label} has a {_rf_text(row.rf)} receptive field, so its positions have no input "
                f"region of their own; pick a layer before flattening or global pooling{hint}"
            )
        if modules_only and (row.functional or row.call):
            later = [
                r.label
                for r in analysis.rows
                if r.index > row.index and _has_map(analysis, r) and not (r.functional or r.call)
            ]
            hint = f", such as {later[0]}, the next one" if later else ""
            raise ConfigError(
                f"{row.label} is a {'functional op' if row.functional else 'later call of a shared module'}, "
                f"which the empirical check cannot hook; pick a module's first call{hint}"
            )
    out = _spatial_out(analysis, row)
    pos = tuple(s // 2 for s in out) if position is None else tuple(int(p) for p in position)
    if len(pos) != len(out):
        raise ConfigError(
            f"position {pos} gives {len(pos)} coordinate(s); {row.label}'s {_shape(out)} map needs {len(out)} "
            f"({','.join(_axis_names(len(out)))})"
        )
    for axis, (index, extent) in enumerate(zip(pos, out)):
        if not 0 <= index < extent:
            raise ConfigError(
                f"position {pos} is outside {row.label}'s {_shape(out)} map "
                f"(axis {_axis_names(len(out))[axis]}: 0..{extent - 1})"
            )
    return row, pos


def _bounds(region: Sequence[tuple[int, int]]) -> str:
    """((80, 291), (80, 291)) -> 'y 80..291, x 80..291 (212x212 pixels)'."""
    rank = len(region)
    names = {1: ("x",), 2: ("y", "x"), 3: ("z", "y", "x")}.get(rank, tuple(f"axis{i}" for i in range(rank)))
    spans = ", ".join(f"{n} {lo}..{hi}" for n, (lo, hi) in zip(names, region))
    return f"{spans} ({'x'.join(str(hi - lo + 1) for lo, hi in region)} pixels)"


def region_lines(analysis: Analysis, row: LayerRecord, position: Sequence[int]) -> list[str]:
    """The input region of ``row``'s output ``position``, clipped and unclipped, as lines."""
    clipped = analysis.input_region(row.label, position)
    unclipped = analysis.input_region(row.label, position, clip=False)
    size = _shape(_spatial_out(analysis, row))
    where = f"{row.label} ({row.type}) output position {tuple(position)} of its {size} map"
    spatial = analysis.input_size[1:]
    inside = f"within the {_shape(spatial)} input:"
    lines = [
        f"Input region of {where}, inclusive input pixel indexes:",
        f"  {inside} {_bounds(clipped)}",
        f"  {'unclipped:'.ljust(len(inside))} {_bounds(unclipped)}",
    ]
    extent = tuple((int(lo), int(hi)) for lo, hi in row.rf.extent)
    if extent and extent != tuple((0, n - 1) for n in spatial):
        lines.append(f"  (this map reads only {_bounds(extent)} of the input: a stride leaves the rest unread)")
    if clipped != unclipped:
        lines.append(
            "  (the unclipped field reaches past the pixels the map reads: padding beyond the image edge, "
            "or pixels a stride leaves unread)"
        )
    return lines


def render_rf(analysis: Analysis, layer: str | None = None, position: Sequence[int] | None = None) -> str:
    """Every row's receptive field (size, jump and start per axis, or why there is none);
    with ``layer`` or ``position``, also the input region of that output position
    (``layer`` default: the last row with a spatial map; ``position`` default: its map's
    centre), within the input (the pixels the map reads) and unclipped."""
    header = ["#", "Layer (type)", "Kind", "Output shape", "RF size", "Jump", "Start"]
    cells = []
    for r in analysis.rows:
        rf = r.rf
        if rf.is_spatial:
            field = [_axes(rf.size), _axes(rf.jump), _axes(rf.start)]
        else:
            field = [_rf_text(rf), "", ""]
        line = _row_line(r, analysis.batch_size)
        cells.append([line.index, _layer_cell(line, indent=True), r.kind, line.output, *field])
    legend = (
        "Receptive field in input pixels per spatial axis (one number when H and W agree): size = the extent "
        "one output position sees; jump = the input distance between neighbouring output positions; start = "
        "the input coordinate of the centre of output position 0 (pixel centres are integers, so padding "
        "makes it negative). 'global': every position sees the whole input."
    )
    out = [*_wrap([_header(analysis)]), "", _format_table(header, cells, "rlllrrr"), "", *_wrap([legend])]
    if layer is not None or position is not None:
        row, pos = rf_target(analysis, layer, position)
        out += ["", *_wrap(region_lines(analysis, row, pos))]
    return "\n".join(out)


def render_rf_check(
    analysis: Analysis, layer: str, position: Sequence[int], measured: Sequence[tuple[int, int]]
) -> tuple[str, bool]:
    """Compare the analytic region of ``layer``'s ``position`` (within the pixels the map
    reads) with a ``measured`` one (``empirical_region``); returns the text and whether
    they agree."""
    analytic = analysis.input_region(layer, position)
    agree = tuple(tuple(b) for b in measured) == tuple(analytic)
    lines = [
        f"Check of {layer} output position {tuple(position)} at input {_shape(analysis.input_size)}:",
        f"  analytic (clipped): {_bounds(analytic)}",
        f"  measured:           {_bounds(measured)}",
        *_wrap(
            [
                "  (measured: the non-zero input gradient of that position in a network with positive weights, "
                "max pooling as average pooling, float64 on the CPU)"
            ]
        ),
        "  agree" if agree else "  DISAGREE: please report this model and layer",
    ]
    return "\n".join(lines), agree
