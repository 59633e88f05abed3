"""``cnnlab bench``: parse, call ``cnnlab.engine.bench``, render."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from .inputs import add_input_argument, model_channels, with_channels

PrintFn = Callable[[str], None]

DESCRIPTION = """\
Measure a model's training or inference speed on this machine, with the settings cnnlab
train uses here unless told otherwise (--no-channels-last, --amp ...): images/second, time per step
(median and spread over repeated blocks), achieved FLOP/s from cnnlab's own multiply-add
counts (a training step counts 3 x the forward FLOPs), the percentage of the device's peak
(a dense matmul timed by the tool itself, in the dtype the model computes in) and peak memory.

--against plain runs, in the same process and interleaved block by block, the same model
through a plain PyTorch loop (NCHW, fp32, a DataLoader over a TensorDataset, no compile) and
prints the ratio; --against torchvision runs torchvision's model of the same name through
cnnlab's path. Data are random images resident on the device.

On a shared CPU, fewer threads are often faster (--threads 1); see docs/performance.md.
"""


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="measure training or inference speed, against a plain PyTorch loop",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="a registered model (cnnlab list)")
    p.add_argument("--mode", choices=("train", "infer"), default="train", help="training steps (default) or inference")
    p.add_argument("--batch-size", type=int, default=64, metavar="N", help="images per step (default 64)")
    add_input_argument(p, "the model's")
    p.add_argument("--num-classes", type=int, metavar="N", help="classes of the head (default: the model's)")
    p.add_argument(
        "--device",
        default="cpu",
        help="cpu (default), cuda, cuda:1, mps, or auto (CUDA, then MPS, then the CPU, as cnnlab train)",
    )
    p.add_argument(
        "--amp",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bf16 autocast (fp16 on GPUs without bf16); "
        "default: as cnnlab train on this device (on for CUDA GPUs with bf16)",
    )
    p.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="channels-last memory format; default: as cnnlab train on this device (on for conv nets on CPU and CUDA)",
    )
    p.add_argument("--compile", action="store_true", help="torch.compile the model (warm-up steps include compiling)")
    p.add_argument("--steps", type=int, default=10, metavar="N", help="steps per timed block (default 10)")
    p.add_argument(
        "--repeats", type=int, default=5, metavar="N", help="timed blocks; the median is reported (default 5)"
    )
    p.add_argument("--warmup", type=int, default=3, metavar="N", help="untimed steps first (default 3)")
    p.add_argument("--against", choices=("plain", "torchvision"), help="a second run, interleaved, and the ratio")
    p.add_argument(
        "--threads",
        metavar="N|auto",
        help="CPU threads: a number, or auto (the cores the load average leaves free); default: PyTorch's",
    )
    p.add_argument("--no-peak", action="store_true", help="skip the matmul peak measurement")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(run=run_bench)


def run_bench(args: argparse.Namespace, print_fn: PrintFn) -> int:
    import torch

    from ..engine.bench import bench, render_bench
    from ..engine.threads import parse_threads

    threads = parse_threads(args.threads)
    if threads is not None:
        torch.set_num_threads(threads)
    result = bench(
        args.model,
        mode=args.mode,
        batch_size=args.batch_size,
        input_size=with_channels(args.input, model_channels(args.model)) if args.input else None,
        device=args.device,
        amp="auto" if args.amp is None else args.amp,
        channels_last="auto" if args.channels_last is None else args.channels_last,
        compile=args.compile,
        steps=args.steps,
        warmup=args.warmup,
        repeats=args.repeats,
        against=args.against,
        peak=not args.no_peak,
        num_classes=args.num_classes,
    )
    if args.format == "json":
        print_fn(json.dumps(result.to_dict(), indent=2))
    else:
        for line in render_bench(result):
            print_fn(line)
    return 0
