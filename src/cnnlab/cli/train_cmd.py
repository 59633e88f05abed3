"""``cnnlab train``, ``cnnlab eval`` and ``cnnlab predict``: parse, call ``cnnlab.engine.run``,
render."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ConfigError

PrintFn = Callable[[str], None]

TRAIN_DESCRIPTION = """\
Train a model with a recipe: the data, optimizer, schedule, augmentation and epochs of one
experiment, with its sources (`cnnlab train --list-recipes`). With only MODEL, the packaged
recipe for that model (and --dataset) is used: `cnnlab train lenet5` trains LeNet-5 on
scikit-learn's digits.

A run directory (default runs/<recipe>-<UTC time>) holds recipe.yaml (the resolved recipe),
metrics.csv and metrics.jsonl (one row per epoch), curves.png (loss and accuracy, rewritten
every epoch), checkpoints/ (last.pt, best.pt, epoch_NNN.pt every checkpoint_every epochs)
and report.json (test accuracy, per-class report, confusion matrix). A new run refuses a
--run-dir that already holds one.

Runs validate on a held-out part of the training images (dataset.val_split, 10% of each
class by default, seeded), choose best.pt on it, and test once at the end with best.pt,
naming it. --set validate_on=test validates on the test split as many sources did; such
runs say in every report that their checkpoint was chosen on the test images. Image-folder
datasets (ImageNet, Tiny ImageNet) validate on their test split (validate_on: test).

Any recipe field can be set with --set key=value (dotted keys: optimizer.lr=0.01,
dataset.augment.hflip=true, schedule.name=cosine); unknown keys and ill-typed values fail
before training with the valid keys. --resume DIR continues a run exactly (model,
optimizer, schedule, random state, data order); --lr-on-resume changes the learning rate
from there. Several GPUs or processes: torchrun --nproc-per-node N -m cnnlab train ...
"""


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model with a recipe; runs you can follow and resume",
        description=TRAIN_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", nargs="?", help="a registered model (default: the recipe's)")
    p.add_argument("--recipe", metavar="NAME|FILE", help="a packaged recipe name or a YAML file")
    p.add_argument(
        "--dataset",
        metavar="D",
        help="dataset name (cnnlab.data.list_datasets()), "
        "or some of its classes: mnist[0-4], cifar10[0,1,8,9]; picks the model's recipe for it",
    )
    p.add_argument(
        "--data-dir", metavar="DIR", help="folder holding the dataset's official files, e.g. ../shared/data/mnist"
    )
    p.add_argument("--epochs", type=int, metavar="N", help="epochs in all (with --resume: train on until N)")
    p.add_argument("--batch-size", type=int, metavar="N")
    p.add_argument("--lr", type=float, metavar="X", help="the optimizer's (base) learning rate")
    p.add_argument("--seed", type=int, metavar="N")
    p.add_argument(
        "--val-every",
        type=int,
        metavar="N",
        help="validate after every N-th epoch and the last (default: the recipe's, 1); best.pt, early "
        "stopping and plateau schedules then see only those epochs",
    )
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override any recipe field (repeatable)"
    )
    p.add_argument(
        "--device", choices=("auto", "cpu", "cuda", "mps"), help="default: the recipe's (auto: CUDA, MPS, CPU)"
    )
    p.add_argument(
        "--amp",
        action="store_true",
        help="mixed precision (bf16 autocast; fp16 with loss scaling on CUDA without bf16)",
    )
    p.add_argument("--channels-last", action="store_true", help="channels-last memory format")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--run-dir", metavar="DIR", help="where the run is written (default: runs/<recipe>-<UTC time>)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last checkpoint")
    p.add_argument(
        "--dry-run", action="store_true", help="print the resolved recipe and what it resolves to here, then exit"
    )
    p.add_argument("--lr-on-resume", type=float, metavar="X", help="with --resume: the learning rate from here on")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (one line per epoch)")
    p.add_argument(
        "--threads",
        default="auto",
        metavar="N|auto",
        help="CPU threads (default auto: the cores the load average leaves free, or OMP_NUM_THREADS)",
    )
    p.add_argument(
        "--tensorboard",
        action="store_true",
        help="also log to TensorBoard in RUN_DIR/tensorboard (needs the tensorboard package)",
    )
    p.add_argument(
        "--wandb",
        nargs="?",
        const="cnnlab",
        metavar="PROJECT",
        help="also log to Weights & Biases (default project: cnnlab), offline unless WANDB_MODE says otherwise; "
        "needs the wandb package",
    )
    p.add_argument("--list-recipes", action="store_true", help="list the packaged recipes and exit")
    p.set_defaults(run=run_train)

    p = sub.add_parser(
        "eval",
        help="test a run or checkpoint: rank-1/rank-5, per-class report, confusion matrix",
        description="Evaluate a run directory (its best.pt, else last.pt) or a checkpoint file on a split of its "
        "dataset: rank-1 and rank-5 accuracy, per-class precision/recall/F1/support with macro and weighted "
        "averages, a confusion-matrix PNG and the results as JSON. --crops 10 or 144 averages the softmax over "
        "crops (Szegedy et al. 2014 Sec. 7); --ensemble averages several runs' probabilities.",
    )
    p.add_argument("target", metavar="RUN", help="a run directory or a checkpoint file")
    p.add_argument(
        "--dataset",
        metavar="D",
        help="evaluate on another dataset with the same classes in the same order (default: the run's); "
        "other classes are refused",
    )
    p.add_argument("--data-dir", metavar="DIR")
    p.add_argument(
        "--split", help="test, val or train (default: test; val for Tiny ImageNet, ImageNet and image folders)"
    )
    p.add_argument("--crops", type=int, choices=(1, 10, 144), default=1)
    p.add_argument(
        "--ensemble", nargs="+", default=[], metavar="RUN", help="more runs whose probabilities are averaged in"
    )
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    p.add_argument(
        "-o", "--out", metavar="DIR", help="where eval.json and confusion.png go (default: the run directory)"
    )
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=run_eval)

    p = sub.add_parser(
        "predict",
        help="top-5 classes of images with a trained run",
        description="Classify image files with a run (or checkpoint): the top classes with their probabilities.",
    )
    p.add_argument("target", metavar="RUN", help="a run directory or a checkpoint file")
    p.add_argument("images", nargs="+", help="image files (PNG, JPEG, ...) or folders of them")
    p.add_argument("--top", type=int, default=5, metavar="K")
    p.add_argument(
        "--format",
        choices=("text", "json", "csv"),
        default="text",
        help="text (default), json (a list of {image, top: [{class, probability}]}) or csv (image, rank, class, "
        "probability: one row per class) for batch inference",
    )
    p.set_defaults(run=run_predict)


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The typed settings the flags give (None: not given)."""
    return {
        "dataset.data_dir": args.data_dir,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "optimizer.lr": args.lr,
        "seed": args.seed,
        "device": args.device,
        "val_every": args.val_every,
        "amp": True if args.amp else None,
        "channels_last": True if args.channels_last else None,
    }


def _recipe(args: argparse.Namespace):
    from ..engine.plan import resolve_recipe

    return resolve_recipe(args.model, args.dataset, args.recipe, _settings(args), args.set)


def run_train(args: argparse.Namespace, print_fn: PrintFn) -> int:
    import torch

    from ..engine.recipes import list_recipes, load_recipe
    from ..engine.threads import parse_threads

    if args.list_recipes:
        for name in list_recipes():
            r = load_recipe(name)
            print_fn(
                f"{name:34s} {r.model.name:16s} {r.dataset.name:14s} {r.epochs:4d} epochs  "
                f"{r.description.splitlines()[0] if r.description else ''}"
            )
        return 0
    if args.dry_run:
        return _dry_run(args, print_fn)
    previous, threads = torch.get_num_threads(), parse_threads(args.threads)
    if threads is not None and threads != previous:
        torch.set_num_threads(threads)
    try:
        return _train(args, print_fn, callbacks_for(args, print_fn))
    finally:
        torch.set_num_threads(previous)  # a caller's process keeps its own setting


def _dry_run(args: argparse.Namespace, print_fn: PrintFn) -> int:
    """The resolved recipe and what it resolves to on this machine, without training."""
    from ..engine.plan import dry_run

    if args.resume:
        raise ConfigError("--dry-run shows a new run's recipe; a resumed run's is in its folder (recipe.yaml)")
    planned = dry_run(_recipe(args), device=args.device)
    for line in planned.recipe_yaml.rstrip().splitlines():
        print_fn(line)
    print_fn(planned.summary())
    return 0


def callbacks_for(args: argparse.Namespace, print_fn: PrintFn) -> list:
    from ..engine.callbacks import TensorBoardLogger, WandbLogger
    from ..viz import CurvePlotter

    callbacks = [CurvePlotter()]
    if args.tensorboard:
        callbacks.append(TensorBoardLogger(print_fn=print_fn))
    if args.wandb:
        callbacks.append(WandbLogger(project=args.wandb, print_fn=print_fn))
    return callbacks


def _train(args: argparse.Namespace, print_fn: PrintFn, callbacks: list) -> int:
    from ..engine.run import train_recipe
    from ..transfer import start_finetune

    recipe = None if args.resume else _recipe(args)
    result = train_recipe(
        recipe if recipe is not None else "",
        overrides=_resume_overrides(args) if args.resume else (),
        run_dir=args.run_dir,
        resume=args.resume,
        lr_on_resume=args.lr_on_resume,
        device=args.device,
        callbacks=callbacks,
        progress=not args.no_progress,
        compile=args.compile,
        print_fn=print_fn,
        start=start_finetune,
    )
    return report_run(result, print_fn)


def _resume_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """What a resumed run may change (:func:`cnnlab.engine.plan.resume_overrides`)."""
    from ..engine.plan import RESUMABLE, resume_overrides

    if args.lr is not None:
        raise ConfigError(
            f"--lr {args.lr} with --resume: use --lr-on-resume {args.lr} (the rate from the resumed epoch on)"
        )
    refused = {
        "MODEL": args.model,
        "--recipe": args.recipe,
        "--dataset": args.dataset,
        "--batch-size": args.batch_size,
        "--seed": args.seed,
    }
    settings = {k: v for k, v in _settings(args).items() if k in RESUMABLE}
    return resume_overrides(args.resume, settings, args.set, refused)


def report_run(result: Any, print_fn: PrintFn) -> int:
    """The last lines of a training command: test accuracy and where the run is."""
    test = result.test
    if not test:  # another rank of a distributed run: rank 0 reports
        return 0
    acc5 = f", rank-5 {test['acc5']:.2%}" if test.get("acc5") is not None else ""
    chosen = f" with {test['checkpoint']}" if test.get("checkpoint") else ""
    print_fn(f"test{chosen}: rank-1 {test['acc1']:.2%}{acc5} on {test['images']:,} images; {result.seconds:.1f} s")
    if test.get("selected_on"):
        print_fn(f"checkpoint chosen on {test['selected_on']}")
    print_fn(f"run directory: {result.run_dir}")
    return 0


def run_eval(args: argparse.Namespace, print_fn: PrintFn) -> int:
    from ..engine.checkpoint import atomic_write
    from ..engine.metrics import format_classification_report
    from ..engine.run import evaluate_checkpoint
    from ..viz import plot_confusion_matrix

    result = evaluate_checkpoint(
        args.target,
        dataset=args.dataset,
        split=args.split,
        crops=args.crops,
        ensemble=args.ensemble,
        device=args.device,
        data_dir=args.data_dir,
    )
    out = (
        Path(args.out) if args.out else (Path(args.target) if Path(args.target).is_dir() else Path(args.target).parent)
    )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "eval.json", lambda f: f.write(json.dumps(result, indent=2).encode()))
    plot_confusion_matrix(
        result["confusion"], result["classes"], out / "confusion.png", title=f"{result['split']}, {args.crops} crop(s)"
    )
    if args.format == "json":
        print_fn(json.dumps(result, indent=2))
        return 0
    acc5 = f"  rank-5 {result['acc5']:.2%}" if result.get("acc5") is not None else ""
    print_fn(f"{result['split']}: {result['images']} images, {args.crops} crop(s), {len(result['runs'])} model(s)")
    print_fn(f"rank-1 {result['acc1']:.2%}{acc5}")
    print_fn(format_classification_report(result["report"]))
    print_fn(f"wrote {out / 'eval.json'} and {out / 'confusion.png'}")
    return 0


def run_predict(args: argparse.Namespace, print_fn: PrintFn) -> int:
    import csv
    import io
    import json

    from ..engine.run import predict_images

    results = predict_images(args.target, args.images, k=args.top)
    if args.format == "json":
        data = [{"image": str(p), "top": [{"class": n, "probability": pr} for n, pr in top]} for p, top in results]
        print_fn(json.dumps(data, indent=2))
    elif args.format == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["image", "rank", "class", "probability"])
        for path, top in results:
            for rank, (name, prob) in enumerate(top, 1):
                writer.writerow([path, rank, name, f"{prob:.6f}"])
        print_fn(out.getvalue().rstrip("\n"))
    else:
        for path, top in results:
            print_fn(f"{path}:")
            for name, prob in top:
                print_fn(f"  {prob:7.2%}  {name}")
    return 0
