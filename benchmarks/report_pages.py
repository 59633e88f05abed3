"""Size and load time of ``cnnlab report`` pages in headless Chromium (Debian's ``chromium``),
as docs/report.md records them.

    python benchmarks/report_pages.py runs/demo-lenet5/report.html runs/report.html resnet50.html

Each page is opened from ``file://`` ``--repeats`` times in a fresh tab at each width; the
load time is the browser's own navigation timing (``loadEventEnd``: the HTML parsed, the
style applied and every inline image loaded), and "painted" the second animation frame
after it (layout and paint done); medians, in milliseconds from the start of navigation.
Prints a Markdown table."""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from playwright.sync_api import sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip
# loadEventEnd, and the time of the second animation frame after it: the page laid out and
# painted (an upper bound: it includes the round trip of this call)
TIMING = """() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() =>
  done([performance.getEntriesByType('navigation')[0].loadEventEnd, performance.now()]))))"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="+", type=Path)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--widths", type=int, nargs="+", default=[1280, 390])
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    print("| page | size | width | load (median ms) | painted (median ms) |")
    print("|---|---:|---:|---:|---:|")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=ARGS)
        for path in args.pages:
            for width in args.widths:
                loads, paints = [], []
                for _ in range(args.repeats):
                    page = browser.new_page(viewport={"width": width, "height": 900})
                    page.goto(path.resolve().as_uri(), wait_until="load")
                    load, paint = page.evaluate(TIMING)
                    loads.append(load)
                    paints.append(paint)
                    page.close()
                size = path.stat().st_size / 2**20
                print(
                    f"| {path} | {size:.2f} MiB | {width} | {statistics.median(loads):.0f} | "
                    f"{statistics.median(paints):.0f} |"
                )
        browser.close()


if __name__ == "__main__":
    main()
