"""``cnnlab explain``: parse, call ``cnnlab.explain``, draw with ``cnnlab.viz.explain``, write
METHOD.png and its JSON manifest METHOD.json."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..atomic import atomic_write
from ..data import sha256sum
from ..explain.compare import ATTRIBUTION_METHODS, compare_methods
from ..explain.methods import METHODS, accepts, explain, method_options

PrintFn = Callable[[str], None]

# Methods over a dataset's images (--dataset, --count) rather than --image files alone.
DATASET_METHODS = tuple(name for name, m in METHODS.items() if m.over_dataset)

DESCRIPTION = (
    (
        "Explain what a network computes: writes METHOD.png and METHOD.json into --out (default ./explain;"
        "\ngradcam++ as gradcampp.*), the JSON a manifest of the method, parameters, seed, model, files and versions."
        "\n\nmethods:\n"
    )
    + "\n".join(f"  {name:16s} {m.help}" for name, m in METHODS.items())
    + (
        "\n\nMODEL is a run directory or checkpoint (cnnlab train), "
        "or a registered model name (--weights for its weights)."
        "\nembed and neighbours read --count images of --dataset (default: the run's dataset), resized as the weights"
        "\nwere trained; neighbours' queries are --image files, or the next 6 dataset images."
        "\n\ncnnlab explain compare METHOD [METHOD ...] MODEL --image FILE ...: the attribution methods' maps side by"
        "\nside (compare.png) with each one's deletion and insertion areas, ROAD score, and model-randomisation and"
        "\nclass-sensitivity scores (compare.json). Attribution methods: " + ", ".join(ATTRIBUTION_METHODS) + "."
    )
)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "explain",
        help="saliency, CAMs, occlusion, guided backprop, synthesis, attacks: METHOD.png + METHOD.json",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "method", choices=(*METHODS, "compare"), metavar="METHOD", help="one of the methods listed above, or compare"
    )
    p.add_argument("model", metavar="MODEL", help="a run directory, a checkpoint file, or a registered model name")
    p.add_argument("more", nargs="*", metavar="...", help="compare: METHOD [METHOD ...] MODEL")
    p.add_argument("--weights", metavar="FILE|torchvision", help="weights for a registered model")
    p.add_argument(
        "--image",
        nargs="+",
        default=[],
        metavar="FILE",
        help="image files, or folders of them (resized to the model's input)",
    )
    p.add_argument("--target", metavar="CLASS", help="class index or name (default: the top class)")
    p.add_argument(
        "--layer",
        metavar="NAME",
        help="layer name (see --list-layers); NAME#2 picks the second call of a "
        "module called more than once per forward pass (default: the first, with a warning)",
    )
    p.add_argument(
        "--channel", type=int, metavar="N", help="a channel of --layer (maximize, deconvnet, guided-backprop)"
    )
    p.add_argument(
        "--seed",
        type=int,
        help="seed of a stochastic method, and of the random weights when a registered "
        "model is given without --weights (recorded in METHOD.json either way)",
    )
    p.add_argument("--batch-size", type=int, metavar="N", help="batch size of perturbation methods")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any other argument of the method")
    p.add_argument(
        "--norm", choices=("minmax", "symmetric", "none"), default="minmax", help="colour scale of heat maps"
    )
    p.add_argument("-o", "--out", metavar="DIR", default="explain", help="output folder (default: ./explain)")
    p.add_argument(
        "--dataset", metavar="NAME", help="embed, neighbours: the images to map or search (default: the run's dataset)"
    )
    p.add_argument("--data-dir", metavar="DIR", help="where --dataset's files are")
    p.add_argument("--split", default="test", help="embed, neighbours: the split to read (default: test)")
    p.add_argument(
        "--count", type=int, default=500, metavar="N", help="embed, neighbours: how many images (default 500)"
    )
    p.add_argument(
        "--list-layers", action="store_true", help="list the layers with output shapes and receptive fields, then exit"
    )
    p.set_defaults(run=run_explain)


def _load_model(
    spec: str, weights: str | None, seed: int | None, warn: PrintFn
) -> tuple[Any, str, str | None, dict[str, Any]]:
    """The model, where it came from, (for a run) where its dataset's files were, and what
    its weights are, for the manifest: a file and its SHA-256, ``torchvision``, or ``random``
    with the seed that initialised them (said on stderr: a random network's maps explain
    nothing learned)."""
    import torch

    from ..errors import ConfigError

    path = Path(spec)
    if path.is_dir() or path.suffix == ".pt":
        if weights:
            raise ConfigError(f"--weights applies to a registered model name; {spec} is a run, whose weights it holds")
        from ..engine.run import load_run_model

        model, recipe, _ = load_run_model(path)
        checkpoint = Path(model.pretrained_cfg.get("source") or path)
        return (
            model,
            str(path),
            recipe.dataset.data_dir,
            {"source": "run", "file": str(checkpoint), "sha256": sha256sum(checkpoint)},
        )
    from ..models import create_model

    if weights is None:
        init_seed = seed if seed is not None else int(torch.seed() % 2**31)
        torch.manual_seed(init_seed)
        model = create_model(spec)
        warn(
            f"warning: explaining {spec} with randomly initialised weights (seed {init_seed}): no --weights was "
            "given, so the maps show an untrained network. Pass --weights FILE|torchvision, or a run directory"
        )
        return model, spec, None, {"source": "random", "init_seed": init_seed}
    model = create_model(spec, weights=weights)
    if weights == "torchvision":
        return model, spec, None, {"source": "torchvision"}
    return model, spec, None, {"source": "file", "file": str(weights), "sha256": sha256sum(Path(weights))}


def _atomic_json(path: Path, data: Any) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(data, indent=2).encode()))


def _dataset_method(
    args: argparse.Namespace, model: Any, fn: Callable[..., Any], opts: dict[str, Any], queries: Any, png: Path
) -> tuple[Any, list[Path], dict[str, Any]]:
    """embed and neighbours: ``--count`` images of ``--dataset`` with the weights'
    preprocessing; returns the explanation, the files written and manifest entries."""
    from ..errors import ConfigError
    from ..transfer import data_preprocessing
    from ..transfer.probe import load_split
    from ..viz._save import save_figure
    from ..viz.explain import plot_embedding, plot_neighbours

    dataset = args.dataset or (getattr(model, "pretrained_cfg", None) or {}).get("dataset")
    if not dataset:
        raise ConfigError(f"{args.method} needs --dataset NAME (cnnlab data list): the images to map or search")
    if args.count < 2:
        raise ConfigError(f"--count {args.count}: {args.method} needs at least 2 images")
    data = load_split(dataset, args.split, data_preprocessing(model, dataset), args.data_dir)
    if not hasattr(data, "images"):
        raise ConfigError(
            f"{args.method} reads in-memory datasets (digits, mnist, fashion-mnist, cifar10, cifar100); "
            f"{dataset} is read from disk: pass its images with --image instead"
        )
    extra_queries = 6 if args.method == "neighbours" and queries is None else 0
    if len(data.labels) < args.count + extra_queries:
        raise ConfigError(f"--count {args.count}: the {args.split} split of {dataset} has {len(data.labels)} images")
    images, labels = data.images[: args.count].float() / 255, data.labels[: args.count]
    if args.method == "embed":
        exp = fn(model, images, **opts)
        fig = plot_embedding(exp, images if args.count <= 300 else None, labels)
        extra = {"dataset": dataset, "split": args.split, "count": args.count, "labels": labels.tolist()}
    else:
        if queries is None:  # the next images of the split, which the gallery does not hold
            queries = data.images[args.count : args.count + extra_queries].float() / 255
            opts = {**opts, "query_labels": data.labels[args.count : args.count + extra_queries]}
        exp = fn(model, queries, images, gallery_labels=labels, **opts)
        fig = plot_neighbours(exp, queries, images)
        extra = {"dataset": dataset, "split": args.split, "count": args.count, "agreement": exp.extras.get("agreement")}
    written = [save_figure(fig, png, close=True)]
    return exp, written, extra


def run_explain(args: argparse.Namespace, print_fn: PrintFn) -> int:
    import torch
    import torchvision

    from .. import __version__
    from ..data import image_files
    from ..errors import ConfigError
    from ..explain.access import Preprocess, list_layers, load_image
    from ..viz.explain import save_explanation

    if args.method == "compare":
        if not args.more:
            raise ConfigError("explain compare METHOD [METHOD ...] MODEL: give the methods, then the model")
        args.compared, args.model = [args.model, *args.more[:-1]], args.more[-1]
    elif args.more:
        raise ConfigError(f"unexpected arguments {' '.join(args.more)}: explain {args.method} takes one MODEL")
    model, source, run_data_dir, weights = _load_model(
        args.model, args.weights, args.seed, lambda text: print(text, file=sys.stderr)
    )
    if args.data_dir is None and args.dataset is None:
        args.data_dir = run_data_dir  # the run's own dataset, where it was read from
    model.eval()
    pre = Preprocess.of(model)
    if args.list_layers:
        for layer in list_layers(model):
            rf = "x".join(map(str, layer.receptive_field)) if layer.receptive_field else "-"
            print_fn(f"{layer.name:32s} {layer.type:20s} {'x'.join(map(str, layer.output_shape)):>14s}  rf {rf}")
        return 0
    if args.method == "compare":
        return _compare(args, model, pre, source, weights, print_fn)
    spec = METHODS[args.method]
    if spec.needs_images and not args.image:
        raise ConfigError(f"{args.method} needs --image FILE ...")
    files = image_files(args.image)
    images = torch.stack([load_image(p, pre) for p in files]) if files else None
    given = {"layer": args.layer, "channel": args.channel, "seed": args.seed, "batch_size": args.batch_size}
    opts = method_options(args.method, {**given, "target": args.target}, args.set, model=args.model)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = args.method.replace("+", "p")
    extra: dict[str, Any] = {}
    if args.method in DATASET_METHODS:
        exp, written, extra = _dataset_method(args, model, spec.function, opts, images, out / f"{stem}.png")
    else:
        exp = explain(args.method, model, images, **opts)
        written = save_explanation(exp, images, out, stem, classes=pre.classes, norm=args.norm)
    manifest = {
        **exp.manifest(),
        **extra,
        "model": source,
        "weights": weights,
        "images": [str(f) for f in files],
        "norm": args.norm,
        "files": [str(p) for p in written],
        "versions": {
            "cnnlab": __version__,
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "python": sys.version.split()[0],
        },
        "command": ["cnnlab", "explain", *sys.argv[2:]] if sys.argv[1:2] == ["explain"] else None,
    }
    _atomic_json(out / f"{stem}.json", manifest)
    for p in [*written, out / f"{stem}.json"]:
        print_fn(str(p))
    return 0


def _compare(args: argparse.Namespace, model: Any, pre: Any, source: str, weights: Any, print_fn: PrintFn) -> int:
    """explain compare: every method's map and numbers on the same images; compare.png and compare.json."""
    import torch

    from ..data import image_files
    from ..errors import ConfigError
    from ..explain.access import load_image
    from ..viz._save import save_figure
    from ..viz.explain import plot_comparison

    for name in args.compared:
        if name not in METHODS:
            raise ConfigError(f"unknown method {name!r} to compare; choose from {', '.join(ATTRIBUTION_METHODS)}")
    files = image_files(args.image)
    if not files:
        raise ConfigError("explain compare needs --image FILE ..., the images to explain")
    images = torch.stack([load_image(p, pre) for p in files])
    given = {"layer": args.layer, "seed": args.seed, "batch_size": args.batch_size}
    # --layer, --seed, --batch-size go to the methods that take them.
    options = {
        name: method_options(name, {k: v for k, v in given.items() if accepts(name, k)}, model=args.model)
        for name in args.compared
    }
    result = compare_methods(model, images, args.compared, args.target, options=options, seed=args.seed or 0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    png = save_figure(plot_comparison(result, images, classes=pre.classes), out / "compare.png", close=True)
    manifest = {**result.to_dict(), "model": source, "weights": weights, "images": [str(f) for f in files]}
    _atomic_json(out / "compare.json", manifest)
    for scores in result.methods:
        c, r = scores.curves, scores.randomisation
        print_fn(
            f"{scores.method:22s} deletion {c.deletion_auc:.3f}  insertion {c.insertion_auc:.3f}"
            f"  ROAD {scores.road.score:+.3f}  randomised-model rank corr. {r.score:.3f}  {scores.seconds:.2f} s"
        )
    print_fn(str(png))
    print_fn(str(out / "compare.json"))
    return 0
