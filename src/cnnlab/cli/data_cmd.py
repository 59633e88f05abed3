"""``cnnlab data``: which datasets cnnlab reads, where it looks for them, and downloads."""

from __future__ import annotations

import argparse
import json
import textwrap
from collections.abc import Callable
from typing import Any

from .render import format_table

PrintFn = Callable[[str], None]

DESCRIPTION = """\
The datasets cnnlab reads in their official formats, and where their files are.

  list      every dataset: classes, image size, split sizes, and whether its files were found
  info      one dataset: classes, splits, official files and md5s, citation, and the folders
            searched for it, in order (the fix when a training run says it cannot find them)
  show      a PNG of random images of each class, with the class sizes: look before training
  download  fetch the official archives (needs network; nothing is downloaded otherwise)

A dataset name may keep some classes only: mnist[0-4], cifar10[0,1,8,9].
"""


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "data",
        help="the datasets: where their files are, classes, splits, downloads",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = actions.add_parser("list", help="every dataset, and whether its files were found")
    q.add_argument(
        "--data-dir",
        metavar="DIR",
        help="look in DIR (as --data-dir of cnnlab train does) instead of the default places",
    )
    q.add_argument("--format", choices=("table", "json"), default="table")
    q.set_defaults(run=run_list)
    q = actions.add_parser("info", help="one dataset: classes, splits, files, citation, folders searched")
    q.add_argument("name", help="a dataset name (cnnlab data list), e.g. mnist or cifar10[0,1,8,9]")
    q.add_argument("--data-dir", metavar="DIR", help="the folder that holds its files, or a root above it")
    q.add_argument("--format", choices=("text", "json"), default="text")
    q.set_defaults(run=run_info)
    q = actions.add_parser("show", help="a PNG of random images of each class, with the class sizes")
    q.add_argument("name", help="a dataset name, e.g. fashion-mnist or cifar10[0,1,8,9]")
    q.add_argument("--data-dir", metavar="DIR", help="the folder that holds its files, or a root above it")
    q.add_argument("--split", default="train", help="the split to draw from (default: train)")
    q.add_argument(
        "--per-class",
        type=int,
        default=8,
        metavar="N",
        help="images per class, 1 to 50, at most the largest class's size (default 8)",
    )
    q.add_argument("--seed", type=int, default=0, metavar="N", help="which random images (default 0)")
    q.add_argument("-o", "--out", metavar="FILE", help="the PNG to write (default: <name>-<split>.png)")
    q.set_defaults(run=run_show)
    q = actions.add_parser("download", help="fetch a dataset's official archives, checked against their md5s")
    q.add_argument(
        "name", help="a dataset with public archives: mnist, fashion-mnist, cifar10, cifar100, tiny-imagenet"
    )
    q.add_argument(
        "--data-dir", metavar="DIR", help="where to put them (default: $CNNLAB_DATA or ~/.cache/cnnlab/data)"
    )
    q.add_argument(
        "--mirror",
        action="append",
        metavar="URL",
        help="a base URL to fetch from instead of the official ones (repeatable)",
    )
    q.set_defaults(run=run_download)


def _where(location: Any) -> str:
    if location.folder is not None:
        return str(location.folder)
    if location.archive is not None:
        return f"archive {location.archive} (unpacked on first use)"
    return "not found"


def _splits(info: Any) -> str:
    return ", ".join(f"{split} {n:,}" for split, n in info.num_samples) or "-"


def run_list(args: argparse.Namespace, print_fn: PrintFn) -> int:
    from ..data import dataset_info, list_datasets, locate_dataset

    rows = []
    for name in list_datasets():
        info, where = dataset_info(name), locate_dataset(name, args.data_dir)
        rows.append(
            {
                "name": name,
                "classes": info.num_classes or None,
                "image_size": list(info.image_size or ()) or None,
                "splits": dict(info.num_samples),
                "found": _where(where) if where.folder or where.archive else None,
                "note": where.note,
            }
        )
    if args.format == "json":
        print_fn(json.dumps(rows, indent=2))
        return 0
    table = [
        [
            r["name"],
            f"{r['classes']:,}" if r["classes"] else "any",
            "x".join(map(str, r["image_size"] or [])) or "any",
            _splits(dataset_info(r["name"])),
            "a tree you name with --data-dir"
            if r["note"].startswith("needs --data-dir")
            else r["found"] or "not found",
        ]
        for r in rows
    ]
    print_fn(format_table(["name", "classes", "image", "splits", "files"], table, align="lrrll"))
    print_fn("`cnnlab data info NAME` lists the folders searched and the files expected")
    return 0


def run_info(args: argparse.Namespace, print_fn: PrintFn) -> int:
    from ..data import dataset_info, locate_dataset

    info, where = dataset_info(args.name), locate_dataset(args.name, args.data_dir)
    if args.format == "json":
        data = {
            "name": info.name,
            "title": info.title,
            "classes": list(info.classes),
            "num_classes": info.num_classes,
            "image_size": list(info.image_size or ()),
            "splits": dict(info.num_samples),
            "mean": list(info.mean),
            "std": list(info.std),
            "stats_source": info.stats_source,
            "files": [f.name for f in info.files],
            "md5": {f.name: f.md5 for f in info.files},
            "archives": [a.filename for a in info.archives],
            "layout": info.layout,
            "citation": info.citation,
            "homepage": info.homepage,
            "license": info.license,
            "notes": list(info.notes),
            "class_subset": list(info.class_subset) if info.class_subset else None,
            "found": str(where.folder) if where.folder else None,
            "archive": str(where.archive) if where.archive else None,
            "searched": [str(p) for p in where.searched],
        }
        print_fn(json.dumps(data, indent=2))
        return 0
    wrap = textwrap.TextWrapper(width=100, initial_indent="", subsequent_indent=" " * 14)
    classes = ", ".join(info.classes[:12]) + (f" ... ({len(info.classes)})" if len(info.classes) > 12 else "")
    lines = [
        f"{info.name}  {info.title}",
        wrap.fill(f"  classes     {info.num_classes or 'the sub-folders'}: {classes or 'named by the folders'}"),
        f"  image       {'x'.join(map(str, info.image_size)) if info.image_size else 'any (read from disk)'}",
        f"  splits      {_splits(info)}",
        (
            f"  mean, std   {tuple(round(v, 4) for v in info.mean)}, "
            f"{tuple(round(v, 4) for v in info.std)} ({info.stats_source})"
        ),
        wrap.fill(f"  layout      {info.layout}"),
    ]
    for f in info.files:
        lines.append(f"  file        {f.name}  md5 {f.md5}")
    for a in info.archives:
        lines.append(f"  download    {a.filename} from {a.urls[0] if a.urls else '-'}")
    lines += [wrap.fill(f"  citation    {info.citation}"), f"  homepage    {info.homepage}"]
    if info.license:
        lines.append(wrap.fill(f"  license     {info.license}"))
    for note in info.notes:
        lines.append(wrap.fill(f"  note        {note}"))
    lines.append(f"  files       {_where(where)}")
    if where.folder is None and where.searched:
        lines.append("  searched    " + "\n              ".join(str(p) for p in where.searched))
    if where.folder is None and where.note:
        lines.append(
            wrap.fill(
                f"  fix         {where.note}; or pass --data-dir DIR"
                + (", or `cnnlab data download NAME` when online" if info.archives else "")
            )
        )
    for line in lines:
        print_fn(line)
    return 0


def run_download(args: argparse.Namespace, print_fn: PrintFn) -> int:
    from ..data import dataset_info, download_dataset

    info = dataset_info(args.name)
    if info.in_memory and not info.files and not info.archives:  # digits: it comes with scikit-learn
        print_fn(
            f"{info.name} is bundled with scikit-learn and needs no download: use it as it is "
            f"(cnnlab data show {info.name}, cnnlab train lenet5 --dataset {info.name})"
        )
        return 0
    folder = download_dataset(args.name, args.data_dir, mirrors=args.mirror, progress=True)
    print_fn(f"{args.name}: downloaded and checked into {folder}")
    return 0


def run_show(args: argparse.Namespace, print_fn: PrintFn) -> int:
    from ..data import load_dataset
    from ..engine.run import path_safe
    from ..errors import ConfigError
    from ..viz._save import save_figure
    from ..viz.data import MAX_PER_CLASS, per_class_shown, plot_samples

    if not 1 <= args.per_class <= MAX_PER_CLASS:
        raise ConfigError(
            f"--per-class {args.per_class} must be 1 to {MAX_PER_CLASS}; "
            "a grid with more images per class is unreadable and takes minutes to draw"
        )
    data = load_dataset(args.name, args.split, args.data_dir)
    per_class = per_class_shown(data, args.per_class)
    fig = plot_samples(data, per_class=per_class, seed=args.seed)
    path = save_figure(fig, args.out or f"{path_safe(data.info.name)}-{args.split}.png", dpi=110, close=True)
    capped = f" (--per-class {args.per_class} capped at the largest class)" if per_class < args.per_class else ""
    print_fn(
        f"wrote {path}: {per_class} random {args.split} images of each class of {data.info.name} "
        f"({len(data):,} images){capped}"
    )
    return 0
