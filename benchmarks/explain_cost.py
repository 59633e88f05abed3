"""What saliency and Grad-CAM cost, in forward passes: ResNet-18 at 224x224 on the CPU, the
three timed interleaved in one process, medians of --repeats.

    OMP_NUM_THREADS=1 python benchmarks/explain_cost.py --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import cnnlab
from cnnlab.explain import grad_cam, saliency


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resnet18")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = cnnlab.create_model(args.model).eval()
    x = torch.rand(1, 3, 224, 224)
    pre = cnnlab.explain.Preprocess.of(model)

    def forward() -> None:
        with torch.no_grad():
            model(pre.normalize(x))

    runs = {
        "forward (no grad)": forward,
        "saliency": lambda: saliency(model, x),
        "grad_cam": lambda: grad_cam(model, x),
    }
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
        f"{args.model}, 1x3x224x224, {torch.get_num_threads()} thread(s), torch {torch.__version__}, "
        f"medians of {args.repeats}"
    )
    print("| what | median seconds | forward passes |")
    print("|---|---:|---:|")
    for name, t in times.items():
        m = statistics.median(t)
        print(f"| {name} | {m:.3f} | {m / base:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
