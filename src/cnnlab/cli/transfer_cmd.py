"""``cnnlab transfer probe|finetune|blocks``: parse, call ``cnnlab.transfer``, render."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from .render import format_table

PrintFn = Callable[[str], None]

DESCRIPTION = """\
Transfer learning: start from pretrained weights (a cnnlab run, or a model with --weights
torchvision or a weights file) and move to a new dataset. The weights' preprocessing (input
size, mean, std) travels with them: the new images are resized to the weights' input size,
converted to their channels (grey images replicated to RGB, declared) and normalised with
the weights' mean and std.

  probe     a linear classifier (multinomial logistic regression) on the features of one
            or more layers; features are cached, so a second probe costs no forward pass
  finetune  a new classifier, warmed up with the body frozen, then the chosen layers
            trained at their own learning rate; a run like `cnnlab train` makes
  blocks    the blocks --trainable-stages counts and the modules each holds
"""

PROBE_DESCRIPTION = """\
Fit a multinomial logistic regression (standardised features, L2 penalty --C, L-BFGS:
scikit-learn's LogisticRegression objective, fitted over the features a chunk at a time) on
the features of each layer and report test accuracy per layer. Layers: --layers NAME,...
(module names, or 'head' for the pre-logits features), --stages (one per feature_info stage,
plus head), default head alone. Feature maps are pooled (--pool avg: global average, avgK:
a K x K grid, flatten). Features are streamed to a cache under --cache-dir (default
~/.cache/cnnlab/features), keyed by the weights, layer, pooling, images and preprocessing,
so memory stays bounded whatever the dataset's size (--no-cache holds them in memory). On a
terminal, bars show the extraction (images/s) and each fit (L-BFGS iterations/s) with the
time left. Writes probe.json and probe.png to --out.
"""

FINETUNE_DESCRIPTION = """\
Replace the classifier for the new classes (reset_classifier), train it alone for
--head-epochs epochs with the body frozen, then train the chosen layers too: the top
--trainable-stages N blocks (`cnnlab transfer blocks SOURCE`; 0: the classifier only) or
everything after --freeze-until NAME (default: every layer), at --lr-body (default
--lr-head / 10). Frozen BatchNorm layers stay in eval mode (running statistics untouched).
--epochs counts all epochs, warm-up included. The run directory, curves, checkpoints,
resume and the final test are those of `cnnlab train`; --set reaches any recipe field
(transfer.*, optimizer.*, schedule.*, dataset.augment.*).
"""


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "transfer",
        help="transfer learning: linear probes and fine-tuning from pretrained weights",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tsub = p.add_subparsers(dest="transfer_command", metavar="ACTION", required=True)

    q = tsub.add_parser(
        "probe",
        help="linear probes on the features of chosen layers",
        description=PROBE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _source(q)
    which = q.add_mutually_exclusive_group()
    which.add_argument(
        "--layers", metavar="NAME,...", help="comma-separated layer names ('head': the pre-logits features)"
    )
    which.add_argument("--stages", action="store_true", help="one probe per feature_info stage, plus head")
    q.add_argument(
        "--pool", default="avg", metavar="avg|avgK|flatten", help="how feature maps become vectors (default avg)"
    )
    q.add_argument(
        "--train-size", type=int, metavar="N", help="fit on N training images drawn with --seed (default: all)"
    )
    q.add_argument("--seed", type=int, default=0, metavar="N")
    q.add_argument(
        "--C", type=float, default=1.0, metavar="X", help="inverse L2 strength of the logistic regression (default 1.0)"
    )
    q.add_argument("--max-iter", type=int, default=1000, metavar="N", help="L-BFGS iterations at most (default 1000)")
    q.add_argument("--batch-size", type=int, default=256, metavar="N", help="images per forward pass (default 256)")
    q.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    q.add_argument(
        "--cache-dir", metavar="DIR", help="feature cache (default $CNNLAB_CACHE/features or ~/.cache/cnnlab/features)"
    )
    q.add_argument("--no-cache", action="store_true", help="neither read nor write cached features")
    q.add_argument(
        "-o",
        "--out",
        metavar="DIR",
        help="where probe.json and probe.png go (default runs/probe-<model>-<dataset>-<UTC time>)",
    )
    q.add_argument("--format", choices=("text", "json"), default="text")
    _threads(q)
    q.set_defaults(run=run_probe)

    f = tsub.add_parser(
        "finetune",
        help="fine-tune pretrained weights on a new dataset; a run like `cnnlab train`",
        description=FINETUNE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _source(f, optional=True)
    which = f.add_mutually_exclusive_group()
    which.add_argument("--freeze-until", metavar="NAME", help="freeze this module and everything before it")
    which.add_argument(
        "--trainable-stages",
        type=int,
        metavar="N",
        help="train the top N blocks below the classifier (0: classifier only)",
    )
    f.add_argument(
        "--head-epochs",
        type=int,
        default=1,
        metavar="N",
        help="epochs training the new classifier alone first (default 1)",
    )
    f.add_argument(
        "--lr-head", type=float, default=0.01, metavar="X", help="learning rate of the new classifier (default 0.01)"
    )
    f.add_argument(
        "--lr-body",
        type=float,
        metavar="Y",
        help="learning rate of the unfrozen pretrained layers (default lr-head / 10)",
    )
    f.add_argument("--epochs", type=int, default=10, metavar="N", help="all epochs, warm-up included (default 10)")
    f.add_argument("--batch-size", type=int, default=64, metavar="N")
    f.add_argument(
        "--train-size", type=int, metavar="N", help="train on N training images drawn with --seed (default: all)"
    )
    f.add_argument("--seed", type=int, default=0, metavar="N")
    f.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override any recipe field (repeatable)"
    )
    f.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"))
    f.add_argument("--compile", action="store_true", help="torch.compile the model")
    f.add_argument(
        "--run-dir",
        metavar="DIR",
        help="where the run is written (default: runs/finetune-<model>-<dataset>-<UTC time>)",
    )
    f.add_argument("--resume", metavar="DIR", help="continue the fine-tune run in DIR from its last checkpoint")
    f.add_argument("--lr-on-resume", type=float, metavar="X", help="with --resume: the learning rate from here on")
    f.add_argument("--no-progress", action="store_true", help="no progress bar (one line per epoch)")
    f.add_argument("--tensorboard", action="store_true", help="also log to TensorBoard in RUN_DIR/tensorboard")
    f.add_argument("--wandb", nargs="?", const="cnnlab", metavar="PROJECT", help="also log to Weights & Biases")
    _threads(f)
    f.set_defaults(run=run_finetune)

    b = tsub.add_parser(
        "blocks",
        help="the blocks --trainable-stages counts, with their modules",
        description="The model cut into freezable blocks in forward order: its feature_info stages, "
        "'head' (hidden layers before the classifier) and 'classifier'.",
    )
    b.add_argument("source", metavar="MODEL|RUN", help="a registered model or a cnnlab run")
    b.set_defaults(run=run_blocks)


def _source(p: argparse.ArgumentParser, optional: bool = False) -> None:
    p.add_argument(
        "source",
        metavar="MODEL|RUN",
        nargs="?" if optional else None,
        help="a cnnlab run directory or checkpoint, or a registered model with --weights",
    )
    p.add_argument(
        "--weights",
        metavar="torchvision|FILE",
        help="for a model name: torchvision's ImageNet weights or a weights file",
    )
    p.add_argument(
        "--dataset", metavar="D", required=not optional, help="the new dataset (cnnlab.data.list_datasets())"
    )
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder holding the dataset's official files, e.g. ../shared/data/fashion-mnist",
    )


def _threads(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threads",
        default="auto",
        metavar="N|auto",
        help="CPU threads (default auto: the cores the load average leaves free, or OMP_NUM_THREADS)",
    )


def _with_threads(args: argparse.Namespace, call: Callable[[], int]) -> int:
    import torch

    from ..engine.threads import parse_threads

    previous, threads = torch.get_num_threads(), parse_threads(args.threads)
    if threads is not None and threads != previous:
        torch.set_num_threads(threads)
    try:
        return call()
    finally:
        torch.set_num_threads(previous)  # a caller's process keeps its own setting


# -- probe ------------------------------------------------------------------------------------
def run_probe(args: argparse.Namespace, print_fn: PrintFn) -> int:
    return _with_threads(args, partial(_probe, args, print_fn))


def _probe(args: argparse.Namespace, print_fn: PrintFn) -> int:
    from ..engine.checkpoint import atomic_write
    from ..engine.run import path_safe
    from ..transfer import linear_probe

    layers = [n.strip() for n in args.layers.split(",") if n.strip()] if args.layers else None
    result = linear_probe(
        args.source,
        args.dataset,
        layers=layers,
        stages=args.stages,
        weights=args.weights,
        data_dir=args.data_dir,
        train_size=args.train_size,
        seed=args.seed,
        pool=args.pool,
        C=args.C,
        max_iter=args.max_iter,
        batch_size=args.batch_size,
        device=args.device,
        cache_dir=args.cache_dir,
        cache=not args.no_cache,
    )
    out = Path(args.out) if args.out else Path("runs") / path_safe(f"probe-{result.model}-{args.dataset}-{_stamp()}")
    data = result.to_dict()
    atomic_write(out / "probe.json", lambda f: f.write(json.dumps(data, indent=2).encode()))
    from ..viz import plot_probe

    plot_probe(data, out / "probe.png")
    if args.format == "json":
        print_fn(json.dumps(data, indent=2))
        return 0
    print_fn(format_probe(data))
    print_fn(f"wrote {out / 'probe.json'} and {out / 'probe.png'}")
    return 0


def format_probe(result: Mapping[str, Any]) -> str:
    """The probe table: one row per layer, then what was probed."""
    rows = [
        [
            p["layer"],
            f"{p['features']:,}",
            f"{p['train_acc']:.2%}",
            f"{p['test_acc']:.2%}",
            "cached" if p["cached"] else f"{p['extract_seconds']:,.1f}",
            f"{p['fit_seconds']:,.1f}",
            "yes" if p["converged"] else f"no ({p['iterations']:,} iterations)",
        ]
        for p in result["layers"]
    ]
    table = format_table(
        ["layer", "features", "train acc", "test acc", "extract s", "fit s", "converged"], rows, "lrrrrrl"
    )
    pre = result["preprocessing"]
    head = (
        f"linear probes of {result['model']} ({result['source']}) on {result['dataset']}: "
        f"{result['train_images']:,} training, {result['test_images']:,} test images; "
        f"pool {result['pool']}, C {result['C']:g}"
    )
    detail = (
        "preprocessing of the weights: "
        f"{pre['channels']}x{pre['image_size']}x{pre['image_size']} ({pre['resize_mode']}), "
        f"mean {_values(pre['mean'])}, std {_values(pre['std'])}"
    )
    lines = [
        head,
        detail,
        *([pre["note"]] if pre.get("note") else []),
        "",
        table,
        "",
        f"{result['seconds']:,.1f} s in all",
    ]
    return "\n".join(lines)


# -- finetune ---------------------------------------------------------------------------------
def run_finetune(args: argparse.Namespace, print_fn: PrintFn) -> int:
    return _with_threads(args, partial(_finetune, args, print_fn))


def _finetune(args: argparse.Namespace, print_fn: PrintFn) -> int:
    from ..engine.run import train_recipe
    from ..errors import ConfigError
    from ..transfer import finetune_recipe, start_finetune
    from .train_cmd import callbacks_for, report_run

    if (args.resume is None) == (args.source is None) or (args.source is None) != (args.dataset is None):
        raise ConfigError(
            "give MODEL|RUN and --dataset to start a fine-tune, or --resume DIR alone to continue one "
            f"(got MODEL|RUN={args.source!r}, --dataset={args.dataset!r}, --resume={args.resume!r})"
        )
    recipe = None
    if args.resume is None:
        recipe = finetune_recipe(
            args.source,
            args.dataset,
            weights=args.weights,
            data_dir=args.data_dir,
            freeze_until=args.freeze_until,
            trainable_stages=args.trainable_stages,
            head_epochs=args.head_epochs,
            lr_head=args.lr_head,
            lr_body=args.lr_body,
            epochs=args.epochs,
            batch_size=args.batch_size,
            train_size=args.train_size,
            seed=args.seed,
        )
    result = train_recipe(
        recipe if recipe is not None else "",
        overrides=list(args.set),
        run_dir=args.run_dir,
        resume=args.resume,
        lr_on_resume=args.lr_on_resume,
        device=args.device,
        callbacks=callbacks_for(args, print_fn),
        progress=not args.no_progress,
        compile=args.compile,
        print_fn=print_fn,
        start=start_finetune,
    )
    return report_run(result, print_fn)


# -- blocks -----------------------------------------------------------------------------------
def run_blocks(args: argparse.Namespace, print_fn: PrintFn) -> int:
    from ..transfer import load_pretrained, transfer_blocks

    pretrained = load_pretrained(args.source)
    blocks = transfer_blocks(pretrained.model)
    body = len(blocks) - 1
    rows = [[str(body - i) if i < body else "always", b.name, _modules(b.modules)] for i, b in enumerate(blocks)]
    print_fn(
        f"{pretrained.name}: {body} blocks below the classifier; --trainable-stages N trains the rows numbered 1..N"
    )
    print_fn(format_table(["N", "block", "modules"], rows, "rll"))
    return 0


def _modules(names: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" ... ({len(names)} modules)" if len(names) > limit else "")


def _values(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
