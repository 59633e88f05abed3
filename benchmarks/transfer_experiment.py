"""Transfer learning measured: LeNet-5 pretrained on MNIST, moved to scikit-learn's digits
(a similar task with very little data) and to Fashion-MNIST with 1,000 and with all 60,000
training images (a different task, little and much data). Every move of the lectures side
by side: linear probes on the top layer and on each stage, fine-tuning the new classifier
only, the top layers, or everything, and training from scratch on the same budget.

    OMP_NUM_THREADS=1 python benchmarks/transfer_experiment.py \\
        --mnist ../shared/data/mnist --fashion ../shared/data/fashion-mnist
    OMP_NUM_THREADS=1 python benchmarks/transfer_experiment.py --experiment split --mnist ../shared/data/mnist

The second, ``--experiment split``, pretrains on MNIST's digits 0-4 and moves to the digits
5-9 with 100, 1,000 and all their 29,404 training images: a similar dataset with little and
with much data, the lecture's other two quadrants.

Writes one JSON line per measurement to OUT/results.jsonl (default
benchmarks/results/transfer), run directories under OUT/runs, and prints the Markdown table
of docs/transfer.md. The little-data targets are repeated over --seeds seeds (a different
1,000-image subset of Fashion-MNIST each); the 60,000-image target runs once.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from cnnlab.data import ImageTensors, split_subset
from cnnlab.engine.recipes import load_recipe
from cnnlab.engine.run import path_safe, test_split, train_recipe, train_subset
from cnnlab.transfer import (
    LayerFeatures,
    data_preprocessing,
    finetune_recipe,
    fit_probe,
    linear_probe,
    load_pretrained,
    start_finetune,
)
from cnnlab.transfer.probe import load_split


@dataclass(frozen=True)
class Target:
    label: str
    dataset: str
    train_size: int | None
    epochs: int
    head_epochs: int
    repeats: bool  # run every seed (little data) or the first only


TARGETS = (
    Target("digits", "digits", None, 30, 2, True),
    Target("digits-100", "digits", 100, 100, 5, True),
    Target("fashion-1k", "fashion-mnist", 1000, 30, 2, True),
    Target("fashion-60k", "fashion-mnist", None, 5, 1, False),
)
# --experiment split: LeNet-5 pretrained on MNIST's digits 0-4, moved to the digits 5-9 (the
# same images' distribution, new classes: a similar dataset) with little and much data.
SPLIT_SOURCE = "mnist[0-4]"
SPLIT_TARGETS = (
    Target("5-9, 100", "mnist[5-9]", 100, 100, 5, True),
    Target("5-9, 1k", "mnist[5-9]", 1000, 30, 2, True),
    Target("5-9, all 29k", "mnist[5-9]", None, 5, 1, False),
)
# (label, layer, pool): LeNet-5's stages C1 (act1), S4, then C5 and F6 (head, the top layer).
PROBES = (
    ("probe C1, averaged (6)", "act1", "avg"),
    ("probe S4, averaged (16)", "s4", "avg"),
    ("probe C1, flattened (4,704)", "act1", "flatten"),
    ("probe S4, flattened (400)", "s4", "flatten"),
    ("probe C5 (120)", "act5", "flatten"),
    ("probe F6 = top layer (84)", "head", "flatten"),
)
# (label, trainable_stages, lr_body as a multiple of lr_head): LeNet-5's blocks below the
# classifier are act1 (C1), s4 (C3) and head (C5, F6). The pretrained layers learn at a tenth
# of the new classifier's rate (the lectures' advice); the last row trains them at the same
# rate as the scratch run, so that only the starting weights differ.
FINETUNES = (
    ("fine-tune classifier only", 0, 0.1),
    ("fine-tune top block (C5, F6)", 1, 0.1),
    ("fine-tune all", 3, 0.1),
    ("fine-tune all, body at full lr", 3, 1.0),
)
LR = 0.01  # the classifier's learning rate, and the scratch run's
SCRATCH = "train from scratch"
PIXELS = "linear classifier on pixels (1,024)"
# 4,704 features x 60,000 images: an L-BFGS fit of many minutes on the 2-core CPU, skipped.
SKIP = {("fashion-60k", "act1", "flatten"), ("5-9, all 29k", "act1", "flatten")}


def quiet(_: str) -> None:
    pass


def train_once(recipe: Any, run_dir: Path, overrides: Sequence[str]) -> dict[str, Any]:
    """The report of ``recipe`` trained in ``run_dir``: read when an earlier invocation
    finished it, resumed when one was interrupted, trained otherwise."""
    if not (run_dir / "report.json").is_file():
        if (run_dir / "checkpoints" / "last.pt").is_file():
            train_recipe("", resume=run_dir, progress=False, print_fn=quiet, start=start_finetune)
        else:
            shutil.rmtree(run_dir, ignore_errors=True)  # stopped before its first epoch ended
            train_recipe(
                recipe, overrides=overrides, run_dir=run_dir, progress=False, print_fn=quiet, start=start_finetune
            )
    return json.loads((run_dir / "report.json").read_text())


def pretrain(out: Path, mnist: str, epochs: int, dataset: str = "mnist") -> tuple[Path, dict[str, Any]]:
    """LeNet-5 on MNIST (or some of its classes) with the lenet5-mnist recipe cut to
    ``epochs``; reused when present."""
    run_dir = out / "runs" / path_safe(f"pretrain-lenet5-{dataset}")
    report = train_once(
        "lenet5-mnist", run_dir, [f"epochs={epochs}", f"dataset.data_dir={mnist}", f"dataset.name={dataset}"]
    )
    return run_dir, {
        "method": "pretrain",
        "target": dataset,
        "seed": 0,
        "test_acc": report["test"]["acc1"],
        "seconds": report["seconds"],
        "epochs": report["epochs"],
    }


def pixel_row(source: Path, target: Target, seed: int, data_dir: str | None) -> dict[str, Any]:
    """The same logistic regression on the pixels themselves (as the weights' preprocessing
    resizes them): what a linear classifier reaches with no pretrained features at all."""
    start = time.perf_counter()
    pre = data_preprocessing(load_pretrained(source).model, target.dataset)
    train = load_split(target.dataset, "train", pre, data_dir)
    if target.train_size is not None:
        index = train_subset(len(train), target.train_size, seed)
        train = ImageTensors(train.images[index], train.labels[index], train.info)
    test = load_split(target.dataset, test_split(target.dataset), pre, data_dir)
    a, b = (LayerFeatures("pixels", d.images.flatten(1).float() / 255, d.labels, False, 0.0) for d in (train, test))
    fit = fit_probe(a, b, seed=seed)
    return {
        "method": PIXELS,
        "target": target.label,
        "seed": seed,
        "test_acc": fit["test_acc"],
        "train_acc": fit["train_acc"],
        "features": fit["features"],
        "converged": fit["converged"],
        "seconds": time.perf_counter() - start,
        "train_images": len(train),
    }


def probe_rows(source: Path, target: Target, seed: int, data_dir: str | None, cache_dir: Path) -> list[dict[str, Any]]:
    rows = [pixel_row(source, target, seed, data_dir)]
    for pool in ("avg", "flatten"):
        layers = [layer for _, layer, p in PROBES if p == pool and (target.label, layer, pool) not in SKIP]
        result = linear_probe(
            source,
            target.dataset,
            layers=layers,
            pool=pool,
            data_dir=data_dir,
            train_size=target.train_size,
            seed=seed,
            cache_dir=cache_dir,
        )
        for probe in result.layers:
            label = next(name for name, layer, p in PROBES if layer == probe.layer and p == pool)
            rows.append(
                {
                    "method": label,
                    "target": target.label,
                    "seed": seed,
                    "test_acc": probe.test_acc,
                    "train_acc": probe.train_acc,
                    "features": probe.features,
                    "converged": probe.converged,
                    "seconds": probe.extract_seconds + probe.fit_seconds,
                    "train_images": result.train_images,
                }
            )
    return rows


def finetune_rows(source: Path, target: Target, seed: int, data_dir: str | None, out: Path) -> list[dict[str, Any]]:
    rows = []
    for label, stages, body in FINETUNES:
        recipe = finetune_recipe(
            source,
            target.dataset,
            data_dir=data_dir,
            trainable_stages=stages,
            head_epochs=target.head_epochs if stages else 0,
            lr_head=LR,
            lr_body=LR * body,
            epochs=target.epochs,
            train_size=target.train_size,
            seed=seed,
        )
        run_dir = out / "runs" / path_safe(f"{target.label}-{stages}-{body:g}-s{seed}")
        report = train_once(recipe, run_dir, ["checkpoint_every=0"])
        rows.append(
            {
                "method": label,
                "target": target.label,
                "seed": seed,
                "test_acc": report["test"]["acc1"],
                "seconds": report["seconds"],
                "epochs": target.epochs,
                "run_dir": str(run_dir),
            }
        )
    # From scratch: the fine-tune's own resolved recipe (same images, size, normalisation,
    # optimizer, schedule and epochs) without the pretrained start.
    tuned = load_recipe(Path(rows[-1]["run_dir"]) / "recipe.yaml")
    scratch = replace(tuned, name=f"scratch-lenet5-{target.label}", transfer=None)
    run_dir = out / "runs" / path_safe(f"{target.label}-scratch-s{seed}")
    report = train_once(scratch, run_dir, ["checkpoint_every=0"])
    rows.append(
        {
            "method": SCRATCH,
            "target": target.label,
            "seed": seed,
            "test_acc": report["test"]["acc1"],
            "seconds": report["seconds"],
            "epochs": target.epochs,
            "run_dir": str(run_dir),
        }
    )
    return rows


def table(rows: Sequence[dict[str, Any]], targets: Sequence[Target] = TARGETS) -> str:
    """Methods down, targets across: mean test accuracy (± the spread over seeds) and the
    mean seconds per run."""
    methods = [PIXELS] + [label for label, _, _ in PROBES] + [label for label, _, _ in FINETUNES] + [SCRATCH]
    header = ["method"] + [f"{t.label} ({'mean of seeds' if t.repeats else 'one run'})" for t in targets]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method in methods:
        cells = [method]
        for target in targets:
            found = [r for r in rows if r["method"] == method and r["target"] == target.label]
            if not found:
                cells.append("skipped")
                continue
            accs = [r["test_acc"] for r in found]
            spread = f" ± {statistics.pstdev(accs):.1%}" if len(accs) > 1 else ""
            seconds = statistics.mean(r["seconds"] for r in found)
            cells.append(f"{statistics.mean(accs):.1%}{spread} ({seconds:.0f} s)")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mnist", default="../shared/data/mnist", help="folder of MNIST's four .gz files")
    p.add_argument("--fashion", default="../shared/data/fashion-mnist", help="folder of Fashion-MNIST's four .gz files")
    p.add_argument("--pretrain-epochs", type=int, default=5)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument(
        "--experiment",
        choices=("lecture", "split"),
        default="lecture",
        help="lecture: MNIST to digits and Fashion-MNIST (the default); split: MNIST 0-4 to 5-9",
    )
    p.add_argument("--out", default=None, help="default benchmarks/results/transfer (lecture) or transfer-split")
    args = p.parse_args(argv)
    split = args.experiment == "split"
    targets = SPLIT_TARGETS if split else TARGETS
    args.out = args.out or ("benchmarks/results/transfer-split" if split else "benchmarks/results/transfer")
    torch.set_num_threads(1)  # the measurements assume one thread, as OMP_NUM_THREADS=1 sets
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / "feature-cache", ignore_errors=True)  # this script's own cache: timings include extraction
    log = out / "results.jsonl"
    log.write_text("")
    started = time.perf_counter()

    def record(new: list[dict[str, Any]], say: Callable[[str], None] = print) -> list[dict[str, Any]]:
        with log.open("a") as f:
            for row in new:
                f.write(json.dumps(row) + "\n")
                say(
                    f"[{time.perf_counter() - started:6.0f} s] {row['target']:12s} seed {row['seed']}  "
                    f"{row['method']:30s} {row['test_acc']:.2%}  ({row['seconds']:.1f} s)"
                )
        return new

    source, row = pretrain(out, args.mnist, args.pretrain_epochs, SPLIT_SOURCE if split else "mnist")
    rows = record([row])
    for target in targets:
        data_dir = {"fashion-mnist": args.fashion, "mnist": args.mnist}.get(split_subset(target.dataset)[0])
        for seed in args.seeds if target.repeats else args.seeds[:1]:
            # A fresh feature cache per target and seed: each probe's time includes its forward passes.
            rows += record(
                probe_rows(source, target, seed, data_dir, out / "feature-cache" / path_safe(f"{target.label}-s{seed}"))
            )
            rows += record(finetune_rows(source, target, seed, data_dir, out))
    print()
    print(
        f"LeNet-5 pretrained on {row['target']}: {row['test_acc']:.2%} test accuracy "
        f"after {row['epochs']} epochs ({row['seconds']:.0f} s)"
    )
    print(table(rows, targets))
    print(f"\n{time.perf_counter() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
