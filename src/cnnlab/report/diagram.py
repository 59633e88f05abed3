"""A network drawn the way the lectures draw it: a column of blocks from the input down, each
with its output shape, and the branches of an Inception module or a residual block side by
side between the split and the join. Returns positioned boxes and lines; a template draws
them as SVG.

The drawing follows the data flow :func:`cnnlab.analysis.analyze` recorded (which row reads
which), not the module names, so it shows what the forward pass does:

- a convolution, linear or pooling row is a box, with the normalisation, activation and
  dropout rows that follow it named inside it (``conv 3x3, 64 + BN + ReLU``);
- a row that reads several rows (``cat``, ``add``) is a join: the rows between the point
  where the paths split and the join are drawn as parallel branches, an empty branch as a
  plain line (an identity shortcut);
- a module whose inside is not a set of nested branches (DenseNet's dense blocks, where
  every layer reads every earlier one) is drawn as one box, and says so;
- a run of four or more identical blocks (same type, same output shape) shows its first two
  and one box for the rest ("34 more Bottleneck blocks"), so ResNet-152 fits on a page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..analysis import Analysis, LayerRecord, ModuleRecord

# Layout, in SVG user units (CSS pixels at 100% zoom).
BOX_H = 50
GAP = 22  # between consecutive blocks: room for an arrow
BRANCH_GAP = 16  # between side-by-side branches
SPLIT = 14  # from a split bar to the branches, and from the branches to the merge bar
FRAME_PAD = 8
FRAME_LABEL = 16
MARGIN = 12
MIN_W = 120
CHAR_W = {"op": 7.0, "shape": 6.6, "name": 6.0}  # estimated advance per character of each line's font

SUFFIX_KINDS = ("norm", "act", "dropout")
MAX_SUFFIXES = 3
FOLD_RUN = 4  # a run of this many identical sibling blocks or more is folded after its first two


@dataclass
class _Node:
    id: int  # the row index (a folded or collapsed range: its last row's)
    inputs: tuple[int, ...]  # row indices, resolved through the aliases when used
    kind: str
    op: str
    shape: str
    name: str
    suffix: str = ""  # how it reads inside the box before it: "BN", "ReLU", "LRN", "dropout"
    cls: str = "box"  # "box" | "fold" | "collapsed"


@dataclass
class _BoxSpec:
    node: _Node
    op: str


@dataclass
class _Parallel:
    branches: list[list]  # each a sequence of _Node / _Parallel; [] is an identity shortcut
    join: _Node
    frame: str = ""  # the module the branches live in, "inception3a (InceptionModule)"
    join_spec: _BoxSpec | None = None  # the join's box, once displayed


class _NotSeriesParallel(Exception):
    pass


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float
    cls: str
    op: str
    shape: str
    name: str


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    arrow: bool = False


@dataclass(frozen=True)
class Frame:
    x: float
    y: float
    w: float
    h: float
    label: str


@dataclass
class Diagram:
    """What the template draws: ``boxes``, ``lines`` and ``frames`` (dashed outlines of the
    modules whose branches are drawn) in a ``width`` x ``height`` canvas, with ``notes``
    saying what was folded or drawn as one box."""

    width: float
    height: float
    boxes: list[Box] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# -- what a row says in its box ------------------------------------------------------------
def _shape(shape: Sequence[int]) -> str:
    return " × ".join(str(s) for s in shape[1:]) if len(shape) > 1 else " × ".join(map(str, shape))


def _axes(values: Sequence[int] | None) -> str:
    if not values:
        return ""
    return str(values[0]) if len(set(values)) == 1 else "x".join(map(str, values))


def _op(row: LayerRecord) -> tuple[str, str]:
    """``(box text, suffix text)`` of a row."""
    out = row.output_shape
    t = row.type
    if row.kind == "conv":
        text = (
            f"{'conv' if t.startswith('Conv') and 'Transpose' not in t else t} {'x'.join(map(str, row.kernel or ()))}"
        )
        text += f", {out[1]}" if len(out) > 1 else ""
        if row.stride and max(row.stride) > 1:
            text += f", /{_axes(row.stride)}"
        if row.groups and row.groups > 1:
            text += f", {row.groups} groups"
        if row.dilation and max(row.dilation) > 1:
            text += f", dilation {_axes(row.dilation)}"
        return text, text
    if row.kind == "linear":
        return f"fc {out[-1]}" if out else "fc", "fc"
    if row.kind == "pool":
        spatial = out[2:]
        what = "maxpool" if "Max" in t else "avgpool" if "Avg" in t else t
        if "Adaptive" in t and spatial and all(s == 1 for s in spatial):
            return f"global {what}", f"global {what}"
        text = what + (f" {'x'.join(map(str, row.kernel))}" if row.kernel else "")
        if row.stride and max(row.stride) > 1:
            text += f", /{_axes(row.stride)}"
        return text, what
    if row.kind == "norm":
        short = "BN" if "BatchNorm" in t else "LRN" if ("LRN" in t or "LocalResponse" in t) else t
        return short, short
    if row.kind == "dropout":
        return "dropout", "dropout"
    if row.kind in ("concat", "identity"):
        return row.kind, row.kind
    return t, t


def _row_node(row: LayerRecord) -> _Node:
    op, suffix = _op(row)
    return _Node(row.index, tuple(row.inputs), row.kind, op, _shape(row.output_shape), row.label, suffix)


# -- the graph, with folded and collapsed ranges ----------------------------------------------
class _Graph:
    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis
        self.nodes: dict[int, _Node] = {r.index: _row_node(r) for r in analysis.rows}
        self.alias: dict[int, int] = {i: i for i in self.nodes}
        self.notes: list[str] = []

    def resolve(self, index: int) -> int:
        return self.alias.get(index, index)

    def inputs(self, node: _Node) -> tuple[int, ...]:
        return tuple(dict.fromkeys(self.resolve(i) for i in node.inputs if self.resolve(i) != node.id))

    def covered(self, m: ModuleRecord) -> bool:
        """Whether ``m`` lies inside a range already drawn as one box."""
        return any(self.resolve(i) > m.last_row for i in range(m.first_row, m.last_row + 1))

    def live(self, first: int, last: int) -> list[int]:
        return sorted(i for i in self.nodes if first <= i <= last)

    def collapse(self, first: int, last: int, node: _Node) -> None:
        """Replace the rows ``first..last`` by ``node`` (its id: ``last``)."""
        inside = set(range(first, last + 1))
        reads = []
        for i in self.live(first, last):
            reads += [j for j in self.inputs(self.nodes[i]) if j not in inside]
        for i in self.live(first, last):
            del self.nodes[i]
        node.id, node.inputs = last, tuple(dict.fromkeys(reads))
        self.nodes[last] = node
        for i in range(first, last + 1):
            self.alias[i] = last
        for i, j in self.alias.items():  # rows folded earlier into a node now inside this one
            if first <= j <= last:
                self.alias[i] = last

    # -- series-parallel decomposition ------------------------------------------------------
    def _ancestors(self, start: int, stop: int, region: set[int]) -> set[int]:
        seen, todo = set(), [start]
        while todo:
            i = todo.pop()
            if i in seen:
                continue
            seen.add(i)
            if i == stop or i not in region:
                continue
            todo += self.inputs(self.nodes[i])
        return seen

    def sequence(self, exit_id: int, stop: int, region: set[int]) -> list:
        """The elements from just after ``stop`` down to ``exit_id``, in execution order."""
        seq: list = []
        cur = exit_id
        while cur != stop:
            if cur not in region or cur < stop:
                raise _NotSeriesParallel(f"row {cur} is read across a branch")
            node = self.nodes[cur]
            ins = self.inputs(node)
            if len(ins) == 1:
                seq.append(node)
                cur = ins[0]
                continue
            if not ins:
                raise _NotSeriesParallel(f"{node.name} reads nothing before it")
            common = set.intersection(*(self._ancestors(i, stop, region) for i in ins))
            split = max(common)
            branches = [self.sequence(i, split, region) if i != split else [] for i in ins]
            ids = [set(_ids(b)) for b in branches]
            if sum(len(s) for s in ids) != len(set().union(*ids)):
                raise _NotSeriesParallel(f"the branches into {node.name} share rows")
            seq.append(_Parallel(branches, node, self._frame(node)))
            cur = split
        seq.reverse()
        return seq

    def _frame(self, join: _Node) -> str:
        parent = join.name.rsplit(".", 1)[0] if "." in join.name else ""
        for m in self.analysis.modules:
            if m.name == parent and m.call == 0 and parent:
                return f"{m.label} ({m.type})"
        return ""

    def region_sequence(self, first: int, last: int, exit_row: int) -> list:
        region = set(self.live(first, last))
        exit_id = self.resolve(exit_row)
        sources = {j for i in region for j in self.inputs(self.nodes[i]) if j not in region}
        if len(sources) != 1 or exit_id not in region:
            raise _NotSeriesParallel("more than one way in or no way out")
        seq = self.sequence(exit_id, sources.pop(), region)
        if set(_ids(seq)) != region:
            raise _NotSeriesParallel("rows the output does not depend on")
        return seq


def _ids(seq: list) -> list[int]:
    out = []
    for e in seq:
        if isinstance(e, _Parallel):
            for b in e.branches:
                out += _ids(b)
            out.append(e.join.id)
        else:
            out.append(e.id)
    return out


def _children(modules: Sequence[ModuleRecord], parent: ModuleRecord) -> list[ModuleRecord]:
    return sorted(
        (
            m
            for m in modules
            if m.depth == parent.depth + 1 and parent.first_row <= m.first_row and m.last_row <= parent.last_row
        ),
        key=lambda m: m.first_row,
    )


def _is_block(graph: _Graph, m: ModuleRecord) -> bool:
    """A block worth folding: two or more convolution or linear rows (a residual or dense
    block; not one conv-BN-ReLU inside an Inception branch)."""
    rows = graph.analysis.rows
    return sum(1 for r in rows if m.first_row <= r.index <= m.last_row and r.kind in ("conv", "linear")) >= 2


def _fold_runs(graph: _Graph, modules: Sequence[ModuleRecord]) -> None:
    """Fold runs of identical sibling blocks after their first two."""
    for parent in sorted(modules, key=lambda m: m.depth):
        if graph.covered(parent) or len(graph.live(parent.first_row, parent.last_row)) <= 1:
            continue  # already drawn as one box
        kids = [
            k
            for k in _children(modules, parent)
            if k.last_row >= k.first_row and not graph.covered(k) and _is_block(graph, k)
        ]
        run: list[ModuleRecord] = []
        for kid in [*kids, None]:
            same = (
                kid is not None
                and run
                and kid.type == run[-1].type
                and kid.output_shapes == run[-1].output_shapes
                and kid.first_row == run[-1].last_row + 1
            )
            if same:
                run.append(kid)
                continue
            if len(run) >= FOLD_RUN:
                first, last = run[2].first_row, run[-1].last_row
                graph.collapse(
                    first,
                    last,
                    _Node(
                        last,
                        (),
                        "fold",
                        f"{len(run) - 2} more {run[0].type} like {run[1].label}",
                        _shape(run[-1].output_shapes[0]) if run[-1].output_shapes else "",
                        f"{run[2].label} … {run[-1].label}",
                        cls="fold",
                    ),
                )
                graph.notes.append(
                    f"{run[2].label} to {run[-1].label}: {len(run) - 2} {run[0].type} blocks like {run[1].label}, "
                    "drawn as one box"
                )
            run = [kid] if kid is not None else []


def _collapse_tangles(graph: _Graph, modules: Sequence[ModuleRecord]) -> None:
    """Draw as one box every module whose inside is not nested branches, innermost first."""
    tangled: list[ModuleRecord] = []
    for m in sorted(modules, key=lambda m: -m.depth):
        if m.depth == 0 or m.last_row < m.first_row or len(graph.live(m.first_row, m.last_row)) <= 1:
            continue
        exit_row = m.output_row if m.first_row <= m.output_row <= m.last_row else m.last_row
        try:
            graph.region_sequence(m.first_row, m.last_row, exit_row)
        except _NotSeriesParallel:
            graph.collapse(
                m.first_row,
                m.last_row,
                _Node(
                    m.last_row,
                    (),
                    "collapsed",
                    f"{m.label} ({m.type})",
                    _shape(m.output_shapes[0]) if m.output_shapes else "",
                    f"{m.last_row - m.first_row + 1} rows; connections inside not drawn",
                    cls="collapsed",
                ),
            )
            tangled.append(m)
    kinds: dict[str, list[str]] = {}
    for m in tangled:  # the boxes still drawn: not those inside a larger one
        if graph.nodes.get(m.last_row) is not None and graph.nodes[m.last_row].op == f"{m.label} ({m.type})":
            kinds.setdefault(m.type, []).append(m.label)
    for kind, labels in kinds.items():
        shown = ", ".join(labels[:4]) + (f" and {len(labels) - 4} more" if len(labels) > 4 else "")
        graph.notes.append(
            f"{kind} ({shown}): drawn as one box each; inside, a layer reads several earlier ones (the paths "
            "cross rather than nest as branches), so the diagram does not draw those connections"
        )


# -- layout -----------------------------------------------------------------------------------
def _display(seq: list) -> list:
    """Nodes as boxes, with normalisation, activation and dropout rows named inside the box
    before them (a join's box takes the activation after it: ``add + ReLU``)."""
    out: list = []
    for e in seq:
        if isinstance(e, _Parallel):
            out.append(_Parallel([_display(b) for b in e.branches], e.join, e.frame, _BoxSpec(e.join, e.join.op)))
            continue
        if e.kind in SUFFIX_KINDS and out:
            last = out[-1].join_spec if isinstance(out[-1], _Parallel) else out[-1]
            if last.node.cls == "box" and last.op.count(" + ") < MAX_SUFFIXES:
                last.op += f" + {e.suffix}"
                last.node = _Node(**{**last.node.__dict__, "shape": e.shape})
                continue
        out.append(_BoxSpec(e, e.op))
    return out


def _box_width(spec: _BoxSpec) -> float:
    n = spec.node
    return max(
        MIN_W,
        len(spec.op) * CHAR_W["op"] + 16,
        len(n.shape) * CHAR_W["shape"] + 16,
        len(n.name) * CHAR_W["name"] + 16,
    )


def _size(e) -> tuple[float, float]:
    if isinstance(e, _BoxSpec):
        return _box_width(e), BOX_H
    if isinstance(e, _Parallel):
        sizes = [_seq_size(b) if b else (24.0, 0.0) for b in e.branches]
        w = sum(s[0] for s in sizes) + BRANCH_GAP * (len(sizes) - 1)
        h = SPLIT + max(s[1] for s in sizes) + SPLIT + GAP + BOX_H
        w = max(w, _box_width(e.join_spec))
        if e.frame:
            w += 2 * FRAME_PAD
            h += FRAME_LABEL + 2 * FRAME_PAD
            w = max(w, len(e.frame) * CHAR_W["name"] + 2 * FRAME_PAD)
        return w, h
    raise TypeError(type(e))


def _seq_size(seq: list) -> tuple[float, float]:
    sizes = [_size(e) for e in seq]
    return max((s[0] for s in sizes), default=0.0), sum(s[1] for s in sizes) + GAP * max(len(sizes) - 1, 0)


def _place_seq(seq: list, cx: float, y: float, d: Diagram) -> tuple[float, float]:
    """Place ``seq`` centred on ``cx`` from ``y`` down; returns (top y, bottom y) of the
    column's ends, for the lines that lead in and out."""
    top = y
    for k, e in enumerate(seq):
        w, h = _size(e)
        if k:
            d.lines.append(Line(cx, y - GAP, cx, y, arrow=True))
        _place(e, cx, y, w, h, d)
        y += h + GAP
    return top, y - GAP


def _place(e, cx: float, y: float, w: float, h: float, d: Diagram) -> None:
    if isinstance(e, _BoxSpec):
        n = e.node
        d.boxes.append(Box(cx - w / 2, y, w, h, n.cls, e.op, n.shape, n.name))
        return
    inner_y = y
    if e.frame:
        d.frames.append(Frame(cx - w / 2, y, w, h, e.frame))
        inner_y = y + FRAME_LABEL + FRAME_PAD
        d.lines.append(Line(cx, y, cx, inner_y))  # the way in, through the frame's top
    sizes = [_seq_size(b) if b else (24.0, 0.0) for b in e.branches]
    total = sum(s[0] for s in sizes) + BRANCH_GAP * (len(sizes) - 1)
    tallest = max(s[1] for s in sizes)
    split_y, branch_y = inner_y, inner_y + SPLIT
    merge_y = branch_y + tallest + SPLIT
    x = cx - total / 2
    centres = []
    for b, (bw, _) in zip(e.branches, sizes):
        bx = x + bw / 2
        centres.append(bx)
        if b:
            d.lines.append(Line(bx, split_y, bx, branch_y, arrow=True))
            _, bottom = _place_seq(b, bx, branch_y, d)
            d.lines.append(Line(bx, bottom, bx, merge_y))
        else:  # identity: a straight line past the other branches
            d.lines.append(Line(bx, split_y, bx, merge_y))
        x += bw + BRANCH_GAP
    d.lines.append(Line(min(centres), split_y, max(centres), split_y))
    d.lines.append(Line(min(centres), merge_y, max(centres), merge_y))
    join_y = merge_y + GAP
    d.lines.append(Line(cx, merge_y, cx, join_y, arrow=True))
    jw = _box_width(e.join_spec)
    _place(e.join_spec, cx, join_y, jw, BOX_H, d)
    if e.frame:
        d.lines.append(Line(cx, join_y + BOX_H, cx, y + h))


def network_diagram(analysis: Analysis) -> Diagram:
    """The network of ``analysis`` as a column of blocks (see the module docstring)."""
    graph = _Graph(analysis)
    modules = [m for m in analysis.modules if m.depth > 0]
    _collapse_tangles(graph, modules)
    _fold_runs(graph, modules)
    last = max(graph.nodes) if graph.nodes else 0
    try:
        seq = graph.region_sequence(min(graph.nodes), last, last) if graph.nodes else []
    except _NotSeriesParallel:
        seq = [graph.nodes[i] for i in sorted(graph.nodes)]
        graph.notes.append("the network's data flow is not a column of blocks: its rows are drawn in execution order")
    size = "x".join(map(str, analysis.input_size))
    shown = [
        _BoxSpec(
            _Node(0, (), "input", "input", _shape((1, *analysis.input_size)), f"{size} image", cls="input"), "input"
        )
    ]
    shown += _display(seq)
    width, height = _seq_size(shown)
    d = Diagram(width + 2 * MARGIN, height + 2 * MARGIN, notes=list(dict.fromkeys(graph.notes)))
    _place_seq(shown, MARGIN + width / 2, MARGIN, d)
    return d
