"""The pages in a real browser: headless Chromium (Debian's ``chromium``, driven by Playwright)
opens each from ``file://`` at 1280 and 390 pixels wide and checks that no request leaves the
page, the console shows no error, the key numbers are visible, nothing overflows the window
sideways, the screenshot is not blank, and the page loads in well under the 2 seconds the issue
asks for. ``CNNLAB_DOC_SCREENSHOTS=1`` also writes the screenshots docs/report.md shows."""

from __future__ import annotations

import io
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnlab.report import write_report

pytestmark = pytest.mark.xdist_group("report")

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip
WIDTHS = (1280, 390)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "images" / "report"
LOAD_LIMIT_S = 2.0  # the bound on rendering a page, measured by the browser (navigation timing)

if not Path(CHROMIUM).is_file():
    pytest.skip("needs Debian chromium: apt-get install -y chromium", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright: pip install -e '.[test]'")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def pages(runs, tmp_path_factory) -> dict[str, tuple[Path, list[str]]]:
    """Each page with the numbers that must be visible on it."""
    out = tmp_path_factory.mktemp("pages")
    write_report(runs, out / "runs.html")
    report = json.loads((runs / "holdout" / "report.json").read_text())
    acc1 = f"{report['test']['acc1']:.2%}"
    write_report("googlenet", out / "googlenet.html")
    return {
        "run": (
            runs / "holdout" / "report.html",
            [acc1, f"{report['test']['acc5']:.2%}", report["test"]["checkpoint"]],
        ),
        "model": (out / "googlenet.html", ["13,378,280", "1,582,671,872", "Szegedy"]),
        "runs": (out / "runs.html", [acc1, "holdout", "on-test", "unfinished"]),
    }


def _open(browser, path: Path, width: int):
    page = browser.new_page(viewport={"width": width, "height": 900})
    requests, problems = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.goto(path.as_uri(), wait_until="load")
    return page, requests, problems


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("kind", ["run", "model", "runs"])
def test_a_page_in_chromium(browser, pages, kind, width) -> None:
    path, numbers = pages[kind]
    started = time.perf_counter()
    page, requests, problems = _open(browser, path, width)
    wall = time.perf_counter() - started
    try:
        assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
        assert problems == []
        text = page.inner_text("body")
        for number in numbers:
            assert number in text, f"{number} is not visible on the {kind} page"
        # nothing wider than the window: wide tables and the drawing scroll inside their box
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        images = page.evaluate("[...document.images].filter(i => !i.complete || i.naturalWidth === 0).length")
        assert images == 0, "an image did not decode"
        load_ms = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
        print(f"{kind} page at {width} px: {path.stat().st_size / 2**20:.2f} MiB, load event at {load_ms:.0f} ms "
              f"(browser), {wall:.2f} s (wall, page creation included)")  # fmt: skip
        assert load_ms < LOAD_LIMIT_S * 1000
        shot = page.screenshot(full_page=kind != "run")  # the run page's first screen; the others whole
        pixels = np.asarray(Image.open(io.BytesIO(shot)).convert("L"), dtype=np.float64)
        assert pixels.std() > 20 and (pixels < 200).mean() > 0.01, "the screenshot is blank"
        if os.environ.get("CNNLAB_DOC_SCREENSHOTS") == "1":
            DOCS.mkdir(parents=True, exist_ok=True)
            full = page.screenshot(full_page=True, type="png")
            image = Image.open(io.BytesIO(full))
            image = image.crop((0, 0, image.width, min(image.height, 2400 if width > 400 else 3000)))
            # 256 colours: the page's flat colours and text survive, the file is a third of the size
            image.convert("RGB").quantize(colors=256).save(DOCS / f"{kind}-{width}.png", optimize=True)
    finally:
        page.close()


def test_collapsed_parts_open_for_printing_and_the_pdf_is_made(browser, pages, tmp_path) -> None:
    path, _ = pages["run"]
    page, requests, problems = _open(browser, path, 1280)
    try:
        closed = page.evaluate("document.querySelectorAll('details:not([open])').length")
        assert closed >= 3  # the recipe, every epoch's numbers, the per-layer table
        pdf = page.pdf(format="A4")  # Chromium's print to PDF: beforeprint opens them
        assert pdf.startswith(b"%PDF") and len(pdf) > 50_000
        assert page.evaluate("document.querySelectorAll('details:not([open])').length") == closed  # closed again
        assert problems == [] and [u for u in requests if not u.startswith(("file:", "data:"))] == []
    finally:
        page.close()
    if os.environ.get("CNNLAB_DOC_SCREENSHOTS") == "1":
        shutil.copy(path, tmp_path / "kept.html")  # nothing else to keep: the PDF is checked, not stored
