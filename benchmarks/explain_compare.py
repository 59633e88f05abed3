"""`cnnlab explain compare` on a trained run's first test images: the figure and the numbers
of docs/explain.md ("Faithfulness numbers").

    OMP_NUM_THREADS=2 python benchmarks/explain_compare.py RUN_DIR --data-dir DIR --out OUT [--images 4]

Writes the images as PNG files into OUT/images, runs the command on them (OUT/compare.png,
OUT/compare.json) and prints a Markdown table of every method's numbers.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from PIL import Image

from cnnlab.cli import main as cli
from cnnlab.data import load_dataset
from cnnlab.engine.run import load_run_model

METHODS = (
    "saliency",
    "smoothgrad",
    "integrated-gradients",
    "input-x-gradient",
    "gradcam",
    "scorecam",
    "layercam",
    "eigencam",
    "guided-backprop",
    "occlusion",
)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run")
    p.add_argument("--data-dir")
    p.add_argument("--out", default="explain-compare")
    p.add_argument("--images", type=int, default=4)
    args = p.parse_args()
    model, recipe, _ = load_run_model(args.run)
    data = load_dataset(recipe.dataset.name, "test", data_dir=args.data_dir or recipe.dataset.data_dir)
    folder = Path(args.out) / "images"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(args.images):
        path = folder / f"test-{i}.png"
        Image.fromarray(data.images[i].squeeze(0).numpy()).save(path)
        files.append(str(path))
    start = time.perf_counter()
    command = ["explain", "compare", *METHODS, args.run, "--image", *files, "--seed", "0", "-o", args.out]
    if cli(command) != 0:
        return 1
    seconds = time.perf_counter() - start
    result = json.loads((Path(args.out) / "compare.json").read_text())
    print(f"cnnlab {' '.join(command)}  ({seconds:.0f} s)")
    print(
        "| method | deletion AUC | insertion AUC | ROAD (LeRF - MoRF) / 2 | model randomisation | class sensitivity |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for m in result["methods"]:
        r, c = m["model_randomisation"], m["class_sensitivity"]
        print(
            f"| {m['method']} | {m['deletion_auc']:.3f} | {m['insertion_auc']:.3f} | {m['road']['score']:+.3f} "
            f"| {r['score']:.3f} ({'pass' if r['passed'] else 'fail'}) "
            f"| {c['score']:.3f} ({'pass' if c['passed'] else 'fail'}) |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
