"""The explanation gallery of docs/explain.md: every method on a model cnnlab trained on a real
dataset, and on real photographs (scikit-image's ``chelsea`` and ``astronaut``) with a
network whose torchvision weights are on this machine (skipped, and said so, when they are
not: nothing is downloaded).

    OMP_NUM_THREADS=1 python scripts/explain_gallery.py RUN_DIR --data-dir ../shared/data/fashion-mnist
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from cnnlab.data import load_dataset
from cnnlab.engine.run import load_run_model
from cnnlab import explain as E
from cnnlab.viz.explain import plot_embedding, plot_neighbours, save_explanation


def run_methods(model, x, out: Path, prefix: str, classes, layer: str, channel_layer: str) -> dict:
    """Every method on images ``x``; returns the manifest of each."""
    done = {}
    logits = E.saliency(model, x).logits
    fool_to = (logits.argmax(1) + 1) % logits.shape[1]  # the next class: a target the model does not predict
    jobs = {
        "saliency": lambda: E.saliency(model, x),
        "smoothgrad": lambda: E.saliency(model, x, smoothgrad=True, samples=25, seed=0),
        "gradcam": lambda: E.grad_cam(model, x),
        "gradcampp": lambda: E.grad_cam_pp(model, x),
        "guided-backprop": lambda: E.guided_backprop(model, x),
        "deconvnet": lambda: E.deconvnet(model, x),
        "occlusion": lambda: E.occlusion(model, x, window=max(4, x.shape[-1] // 8), stride=max(2, x.shape[-1] // 16)),
        "grabcut": lambda: E.attribution.grabcut(model, x),
        "filters": lambda: E.filters(model),
        "activations": lambda: E.activations(model, x[:1], layer),
        "maximize": lambda: E.activation_maximization(model, 0, n=1, steps=200, seed=0),
        "maximize-channel": lambda: E.activation_maximization(model, layer=channel_layer, channel=0, steps=200, seed=0),
        "invert": lambda: E.feature_inversion(model, x[:1], layer, steps=300, seed=0),
        "fooling": lambda: E.fooling_image(model, x, fool_to),
        "fgsm": lambda: E.fgsm(model, x),
        "pgd": lambda: E.pgd(model, x, steps=10),
    }
    for name, job in jobs.items():
        exp = job()
        imgs = x[:1] if name in ("activations", "invert") else x
        save_explanation(exp, imgs, out, f"{prefix}-{name}", classes=classes)
        done[name] = exp.manifest()
        print(f"{prefix}-{name}.png", flush=True)
    return done


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="a cnnlab run directory (e.g. MiniVGG on Fashion-MNIST)")
    p.add_argument("--data-dir")
    p.add_argument("--out", default="docs/images/explain")
    p.add_argument("--images", type=int, default=4)
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model, recipe, _ = load_run_model(args.run)
    model.eval()
    cfg = model.pretrained_cfg
    data = load_dataset(recipe.dataset.name, "test", data_dir=args.data_dir or recipe.dataset.data_dir,
                        image_size=cfg["input_size"][-1], resize=recipe.dataset.resize_mode)
    x = data.images[: args.images].float() / 255
    classes = cfg["classes"]
    # the run's folder name, not this machine's path to it
    manifest = {"run": f"runs/{Path(args.run).resolve().name}", "model": recipe.model.name, "dataset": recipe.dataset.name,
                "methods": run_methods(model, x, out, recipe.model.name, classes, layer="conv3", channel_layer="conv3")}
    gallery = data.images[:300].float() / 255
    nn_ = E.nearest_neighbours(model, x, gallery, k=5, gallery_labels=data.labels[:300], query_labels=data.labels[: args.images])
    fig = plot_neighbours(nn_, x, gallery)
    fig.savefig(out / f"{recipe.model.name}-neighbours.png", dpi=110)
    manifest["neighbours_agreement"] = nn_.extras["agreement"]
    for method in ("pca", "tsne"):
        emb = E.embed_2d(model, gallery, method=method, seed=0)
        fig = plot_embedding(emb, gallery, data.labels[:300], zoom=0.5)
        fig.savefig(out / f"{recipe.model.name}-{method}.png", dpi=110)
    dead = E.dead_units(model, data.images[:1000].float() / 255, "conv4")
    manifest["dead_units_conv4"] = {"dead": dead.extras["dead"].tolist(), "fraction": dead.maps.tolist()}
    try:
        import cnnlab
        from cnnlab.weights import _torchvision_weights_enum, torchvision_cache_path
        from skimage import data as photos

        cached = torchvision_cache_path(_torchvision_weights_enum(cnnlab.model_card("resnet18")).url)
        if not cached.is_file():
            raise FileNotFoundError(f"torchvision's resnet18 weights are not in {cached}; nothing is downloaded")
        photo_model = cnnlab.create_model("resnet18", weights=str(cached))
        pics = torch.stack([torch.nn.functional.interpolate(torch.tensor(img).permute(2, 0, 1)[None].float() / 255,
                                                            size=(224, 224), mode="bilinear")[0]
                            for img in (photos.chelsea(), photos.astronaut())])
        manifest["photos"] = run_methods(photo_model.eval(), pics.clamp(0, 1), out, "resnet18", None,
                                         layer="conv4_x", channel_layer="conv4_x")
    except Exception as err:  # no weights on this machine: say so, download nothing
        reason = str(err).splitlines()[0].replace(str(Path.home()), "~")  # no machine's home in the docs
        manifest["photos"] = f"skipped: {type(err).__name__}: {reason}"
        print(manifest["photos"])
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
