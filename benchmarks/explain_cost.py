"""What each attribution method costs, in forward passes: one model (default ResNet-18 at
224x224) on the CPU, every method timed interleaved with a plain forward pass in one process,
medians of --repeats; the table also gives each method's pass count by construction.

    OMP_NUM_THREADS=1 python benchmarks/explain_cost.py --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import cnnlab
from cnnlab.explain.methods import explain, method_options

# Method -> (options, passes per image by construction: F forward, B backward).
METHODS = {
    "saliency": ({}, "1F + 1B"),
    "input-x-gradient": ({}, "1F + 1B"),
    "smoothgrad": ({"samples": 25}, "1F + 25 x (1F + 1B)"),
    "smoothgrad-sq": ({"samples": 25}, "1F + 25 x (1F + 1B)"),
    "vargrad": ({"samples": 25}, "1F + 25 x (1F + 1B)"),
    "integrated-gradients": ({"steps": 50}, "2F + 50 x (1F + 1B)"),
    "gradcam": ({}, "1F + 1B (to the layer)"),
    "gradcam++": ({}, "1F + 1B (to the layer)"),
    "layercam": ({}, "1F + 1B (to the layer)"),
    "hirescam": ({}, "1F + 1B (to the layer)"),
    "eigencam": ({}, "1F + one SVD"),
    "guided-backprop": ({}, "1F + 1B"),
    "guided-gradcam": ({}, "2F + 2B"),
    "scorecam": ({}, "1F + C forward passes (C: the layer's channels)"),
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resnet18")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int)
    p.add_argument("--skip", nargs="*", default=[], help="methods to leave out (e.g. scorecam on a big layer)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = cnnlab.create_model(args.model).eval()
    channels = model.pretrained_cfg["input_size"][0]
    x = torch.rand(1, channels, args.size, args.size)
    pre = cnnlab.explain.Preprocess.of(model)

    def forward() -> None:
        with torch.no_grad():
            model(pre.normalize(x))

    runs = {"forward (no grad)": forward}
    for name, (opts, _) in METHODS.items():
        if name not in args.skip:
            options = {**method_options(name), **opts, **({"seed": 0} if "samples" in opts else {})}
            runs[name] = lambda name=name, options=options: explain(name, model, x, **options)
    times: dict[str, list[float]] = {k: [] for k in runs}
    for fn in runs.values():
        fn()  # warm-up
    for _ in range(args.repeats):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["forward (no grad)"])
    print(
        f"{args.model}, 1x{channels}x{args.size}x{args.size}, {torch.get_num_threads()} thread(s), "
        f"torch {torch.__version__}, medians of {args.repeats}"
    )
    print("| method | passes per image | median seconds | in forward passes |")
    print("|---|---|---:|---:|")
    for name, t in times.items():
        m = statistics.median(t)
        passes = METHODS[name][1] if name in METHODS else "1F"
        print(f"| {name} | {passes} | {m:.3f} | {m / base:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
