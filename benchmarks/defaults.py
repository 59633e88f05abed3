"""Each fast default of cnnlab's training path measured on and off, interleaved in one process,
plus the ratio to a plain PyTorch loop.

    python benchmarks/defaults.py --models lenet5 minivgg --device cpu --threads 1
    python benchmarks/defaults.py --models resnet50 minigooglenet --device cuda --batch-size 256

Writes one JSON line per measurement to --out (default benchmarks/results/defaults-<device>.jsonl)
and prints a Markdown table for docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

from cnnlab.engine.bench import bench

# (label, options of the measured run, options of the run it is compared with)
CPU_CHECKS = [
    ("channels_last", {"channels_last": True}, {"channels_last": False}),
    ("torch.compile (not a CPU default)", {"channels_last": True, "compile": True}, {"compile": False}),
    ("all defaults vs plain loop", {"channels_last": True}, "plain"),
]
GPU_CHECKS = [
    ("channels_last", {"channels_last": True, "amp": True}, {"channels_last": False}),
    ("bf16 autocast", {"channels_last": True, "amp": True}, {"amp": False}),
    ("torch.compile", {"channels_last": True, "amp": True, "compile": True}, {"compile": False}),
    ("all defaults vs plain loop", {"channels_last": True, "amp": True, "compile": True}, "plain"),
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["lenet5", "minivgg"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--input", help="CxHxW, default: each model's")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int)
    p.add_argument("--out")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    checks = GPU_CHECKS if dev.type == "cuda" else CPU_CHECKS
    out = Path(args.out or f"benchmarks/results/defaults-{dev.type}.jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    size = tuple(int(v) for v in args.input.split("x")) if args.input else None
    rows = []
    for model in args.models:
        for label, options, against in checks:
            r = bench(
                model,
                batch_size=args.batch_size,
                input_size=size,
                device=dev,
                steps=args.steps,
                repeats=args.repeats,
                warmup=2,
                against=against,
                peak=label.startswith("all"),
                **options,
            )
            record = {"check": label, **r.to_dict(), "load_average": os.getloadavg()[0]}
            with out.open("a") as f:
                f.write(json.dumps(record) + "\n")
            rows.append(record)
            print(
                f"{model} {label}: {r.images_per_s:,.0f} vs {r.against_images_per_s:,.0f} images/s -> {r.ratio:.2f}x",
                file=sys.stderr,
            )
    print("| model | check | images/s | against | images/s | ratio | % of peak |")
    print("|---|---|---:|---|---:|---:|---:|")
    for r in rows:
        pct = f"{r['percent_of_peak']:.1f}" if r["percent_of_peak"] is not None else ""
        print(
            f"| {r['model']} | {r['check']} | {r['images_per_s']:,.0f} | {r['against']} | "
            f"{r['against_images_per_s']:,.0f} | {r['ratio']:.2f} | {pct} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
