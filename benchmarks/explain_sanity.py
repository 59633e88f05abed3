"""The sanity checks of every attribution method on a trained run, as a Markdown table.

    OMP_NUM_THREADS=1 python benchmarks/explain_sanity.py RUN_DIR [--images 8] [--data-dir DIR]

Model randomisation (Adebayo et al. 2018; cascading from the logits, threshold 0.5 on the
rank correlation), class sensitivity (3 classes, threshold 0.9) and deletion (area under
p(class) against a random order).
"""

from __future__ import annotations

import argparse
import functools
import time

import torch

from cnnlab.data import load_dataset
from cnnlab.engine.run import load_run_model
from cnnlab.explain import (
    class_sensitivity,
    deconvnet,
    deletion,
    grad_cam,
    grad_cam_pp,
    guided_backprop,
    model_randomisation,
    occlusion,
    saliency,
)

METHODS = {
    "saliency": saliency,
    "smoothgrad": functools.partial(saliency, smoothgrad=True, samples=10, seed=0),
    "grad-cam": grad_cam,
    "grad-cam++": grad_cam_pp,
    "guided backprop": guided_backprop,
    "deconvnet": deconvnet,
    "occlusion": functools.partial(occlusion, window=8, stride=4),
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run")
    p.add_argument("--images", type=int, default=8)
    p.add_argument("--data-dir")
    args = p.parse_args()
    model, recipe, _ = load_run_model(args.run)
    cfg = model.pretrained_cfg
    data = load_dataset(
        recipe.dataset.name,
        "test",
        data_dir=args.data_dir or recipe.dataset.data_dir,
        image_size=cfg["input_size"][-1],
        resize=recipe.dataset.resize_mode,
    )
    x = data.images[: args.images].float() / 255
    print(
        f"{recipe.model.name} trained on {recipe.dataset.name} ({args.run}); "
        f"{len(x)} test images; torch {torch.__version__}"
    )
    print(
        "| method | model randomisation: rank correlation after all layers | "
        "class sensitivity: mean correlation | deletion: AUC (random) | seconds |"
    )
    print("|---|---|---|---|---:|")
    for name, method in METHODS.items():
        start = time.perf_counter()
        rand = model_randomisation(method, model, x)
        cls = class_sensitivity(method, model, x)
        dele = deletion(method, model, x, steps=10, low_is_important=name == "occlusion")
        mark = lambda r: "pass" if r.passed else "**fail**"  # noqa: E731
        print(
            f"| {name} | {rand.score:.3f} ({mark(rand)}) | {cls.score:.3f} ({mark(cls)}) | "
            f"{dele.score:.4f} ({dele.threshold:.4f}; {mark(dele)}) | {time.perf_counter() - start:.1f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
