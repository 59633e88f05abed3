"""The page of one training run: what was trained, on what, how it went, what it scored,
where it fails, and the model it trained (``cnnlab report RUN``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import yaml

from .. import __version__
from ..analysis import analyze
from ..data import dataset_info
from ..engine.callbacks import read_jsonl
from ..engine.checkpoint import load_checkpoint
from ..engine.examples import TestExamples, test_examples
from ..errors import CnnlabError, ConfigError
from ..explain import grad_cam
from ..registry import model_card
from ..viz import confusion_figure, curves_figure, lr_figure
from ..viz.explain import plot_heatmaps
from .model import card_facts, layer_rows, totals
from .render import pixels_uri, png_uri, render, svg_uri

LARGE_CONFUSION = 20  # classes beyond which the confusion matrix is a PNG (an SVG of 100 x 100 counts is large)


def read_run(run_dir: str | Path) -> dict[str, Any]:
    """A run folder's files as plain data: ``recipe`` (recipe.yaml, parsed, and its text),
    ``history`` (metrics.jsonl rows) and ``report`` (report.json, or ``None`` while the run
    has not finished). Missing or unreadable files give empty values, never an error: a
    page shows what there is."""
    folder = Path(run_dir)
    if not (folder / "recipe.yaml").is_file():
        raise ConfigError(
            f"{folder} holds no recipe.yaml, so it is not a run folder; give a folder `cnnlab train` wrote "
            "(`cnnlab runs` lists them)"
        )
    text = (folder / "recipe.yaml").read_text(encoding="utf-8")
    try:
        recipe = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        recipe = {}
    history = read_jsonl(folder / "metrics.jsonl") if (folder / "metrics.jsonl").is_file() else []
    try:
        report = json.loads((folder / "report.json").read_text()) if (folder / "report.json").is_file() else None
    except (OSError, ValueError):
        report = None
    return {"folder": folder, "recipe": recipe, "recipe_text": text, "history": history, "report": report}


def _split_sizes(run: dict[str, Any], info: Any) -> list[tuple[str, str]]:
    """(split, images) rows: the run's own counts when report.json has them, else the
    dataset's official counts, said as such."""
    splits = ((run["report"] or {}).get("splits")) or {}
    if splits:
        rows = [("training", f"{splits['train']:,}" if splits.get("train") is not None else "-")]
        if splits.get("validation") is not None:
            rows.append(("validation (held out of training)", f"{splits['validation']:,}"))
        else:
            rows.append(("validation", "the test split itself (validate_on: test)"))
        rows.append(("test", f"{splits['test']:,}" if splits.get("test") is not None else "-"))
        return rows
    official = dict(info.num_samples) if info is not None else {}
    return [
        (f"{split} (the dataset's official count; the run did not record its own)", f"{n:,}")
        for split, n in official.items()
    ]


def _glance(run: dict[str, Any]) -> dict[str, Any]:
    recipe, report = run["recipe"], run["report"] or {}
    model_name = (recipe.get("model") or {}).get("name") or report.get("model") or "?"
    dataset = (recipe.get("dataset") or {}).get("name") or report.get("dataset") or "?"
    try:
        info = dataset_info(dataset)
    except CnnlabError:
        info = None
    try:
        card = model_card(model_name)
        paper = card.paper.cite()
    except CnnlabError:
        card, paper = None, "not a registered model"
    history = run["history"]
    optimizer = recipe.get("optimizer") or {}
    schedule = recipe.get("schedule") or {}
    test = report.get("test") or {}
    epochs = f"{history[-1]['epoch'] if history else 0} of {recipe.get('epochs', '?')}"
    facts = [
        ("model", f"{model_name}" + (f" ({card.family}, {card.table})" if card else "")),
        ("paper", paper),
        ("dataset", f"{info.title} ({dataset})" if info else dataset),
        ("epochs", epochs),
        ("batch size", str(recipe.get("batch_size", "?"))),
        (
            "optimizer",
            f"{optimizer.get('name', '?')}, lr {optimizer.get('lr', '?')}"
            + (f", momentum {optimizer['momentum']}" if optimizer.get("momentum") else "")
            + (f", weight decay {optimizer['weight_decay']}" if optimizer.get("weight_decay") else ""),
        ),
        ("schedule", f"{schedule.get('name', '?')}" + (f" (per {schedule['per']})" if schedule.get("per") else "")),
        ("device", report.get("device") or "not recorded (the run has not finished)"),
        ("machine", report.get("machine") or "not recorded (a run written before cnnlab recorded it)"),
        ("torch", report.get("torch") or _checkpoint_torch(run["folder"]) or "not recorded"),
        ("finished", report.get("finished") or ("not finished" if not report else "not recorded")),
        ("training time", f"{report['seconds']:,.1f} s" if isinstance(report.get("seconds"), (int, float)) else "-"),
    ]
    return {
        "model": model_name,
        "dataset": dataset,
        "facts": facts,
        "epochs": epochs,
        "splits": _split_sizes(run, info),
        "checkpoint": test.get("checkpoint"),
        "selected_on": test.get("selected_on"),
        "test_split": "test" if (info is None or info.in_memory) else "val",
        "test_images": test.get("images"),
        "validate_on": recipe.get("validate_on", "holdout"),
    }


def _checkpoint_torch(folder: Path) -> str | None:
    # Runs written before report.json named torch: every checkpoint does.
    for name in ("best.pt", "last.pt"):
        path = folder / "checkpoints" / name
        if path.is_file():
            try:
                return load_checkpoint(path, "cpu").get("torch_version")
            except CnnlabError:  # an unreadable checkpoint: the page says "not recorded"
                return None
    return None


def _curves(run: dict[str, Any]) -> dict[str, Any] | None:
    history = run["history"]
    if not history:
        return None
    validated_on = "test" if run["recipe"].get("validate_on") == "test" else "validation"
    columns = [
        ("epoch", "epoch", "int"),
        ("train_loss", "training loss", "fixed"),
        ("train_acc1", "training top-1", "pct"),
        ("val_loss", f"{validated_on} loss", "fixed"),
        ("val_acc1", f"{validated_on} top-1", "pct"),
        ("val_acc5", f"{validated_on} top-5", "pct"),
        ("lr", "learning rate", "lr"),
        ("epoch_seconds", "seconds", "seconds"),
    ]
    shown = [c for c in columns if any(h.get(c[0]) is not None for h in history)]
    return {
        "curves": svg_uri(curves_figure(history, title=run["recipe"].get("name", ""), validated_on=validated_on)),
        "lr": svg_uri(lr_figure(history)) if any(h.get("lr") is not None for h in history) else None,
        "validated_on": validated_on,
        "columns": shown,
        "rows": history,
    }


def _test(run: dict[str, Any]) -> dict[str, Any] | None:
    report = run["report"]
    if not report or not report.get("test"):
        return None
    test = report["test"]
    classes = test.get("classes") or [c["name"] for c in (test.get("report") or {}).get("classes", [])]
    confusion = report.get("confusion")
    figure = None
    if confusion and classes and len(confusion) == len(classes):
        fig = confusion_figure(confusion, classes, title=f"confusion matrix, {test.get('images', '?')} test images")
        figure = png_uri(fig, dpi=90) if len(classes) > LARGE_CONFUSION else svg_uri(fig)
    per_class = test.get("report") or {}
    acc1 = test.get("acc1")
    return {
        "acc1": acc1,
        "acc5": test.get("acc5"),
        "loss": test.get("loss"),
        "error": None if acc1 is None else 1 - acc1,
        "images": test.get("images"),
        "classes": per_class.get("classes", []),
        "macro": per_class.get("macro_avg"),
        "weighted": per_class.get("weighted_avg"),
        "confusion": figure,
        "class_count": len(classes),
        "reported": run["recipe"].get("reported"),
    }


def _examples(run: dict[str, Any], *, device: str | None, mistakes: int, gradcam: int, limit: int | None) -> dict:
    """The most confident mistakes and Grad-CAM, or why there are none."""
    try:
        found: TestExamples = test_examples(
            run["folder"], mistakes=mistakes, examples=gradcam, limit=limit, device=device
        )
    except CnnlabError as err:
        return {"error": str(err), "model": None}
    classes = found.classes

    def name(i: int) -> str:
        return classes[i] if i < len(classes) else str(i)

    shown = [
        {
            "uri": pixels_uri(e.pixels),
            "index": e.index,
            "true": name(e.label),
            "predicted": name(e.predicted),
            "probability": e.probability,
        }
        for e in found.mistakes
    ]
    cam: dict[str, Any] = {"figure": None, "error": None, "images": []}
    if found.examples:
        images = torch.stack([e.pixels for e in found.examples])
        try:
            exp = grad_cam(found.model, images)
            cam["figure"] = png_uri(plot_heatmaps(exp, images, classes=classes), dpi=70)
            cam["layer"] = exp.layer
            cam["images"] = [
                {"index": e.index, "true": name(e.label), "predicted": name(e.predicted), "probability": e.probability}
                for e in found.examples
            ]
        except CnnlabError as err:  # a model Grad-CAM cannot read (no spatial feature map)
            cam["error"] = str(err)
    return {
        "error": None,
        "mistakes": shown,
        "split": found.split,
        "scanned": found.scanned,
        "total": found.total,
        "gradcam": cam,
        "model": found.model.cpu(),
    }


def _model_summary(run: dict[str, Any], model: Any) -> dict[str, Any] | None:
    if model is None:
        return None
    input_size = tuple(model.pretrained_cfg["input_size"])
    try:
        analysis = analyze(model, input_size)
    except CnnlabError as err:
        return {"error": str(err)}
    name = (run["recipe"].get("model") or {}).get("name")
    try:
        card = card_facts(model_card(name))
    except CnnlabError:
        card = None
    return {"error": None, "totals": totals(analysis), "rows": layer_rows(analysis), "card": card}


def run_page(
    run_dir: str | Path,
    *,
    device: str | None = None,
    mistakes: int = 12,
    gradcam: int = 4,
    limit: int | None = 10_000,
    back: str | None = None,
) -> str:
    """The HTML page of a run folder. ``mistakes``: how many of the most confident wrong
    predictions to show; ``gradcam``: how many test images to explain; ``limit``: test images
    scored at most for both (``None``: all); ``back``: a link to the page of the folder of runs."""
    run = read_run(run_dir)
    glance = _glance(run)
    examples = (
        _examples(run, device=device, mistakes=mistakes, gradcam=gradcam, limit=limit)
        if (Path(run_dir) / "checkpoints").is_dir()
        else {"error": "no checkpoints/ folder: the run has not finished an epoch", "model": None}
    )
    summary = _model_summary(run, examples.pop("model"))
    return render(
        "run.html.j2",
        title=f"{run['recipe'].get('name', run['folder'].name)}: {run['folder'].name}",
        run=run,
        folder=run["folder"].name,
        glance=glance,
        recipe=run["recipe"],
        curves=_curves(run),
        test=_test(run),
        examples=examples,
        summary=summary,
        version=__version__,
        back=back,
    )
