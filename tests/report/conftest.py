"""Runs and pages for the report tests, made once per test session (xdist: once per worker
that takes the "report" group): two short LeNet-5 runs on scikit-learn's digits in one folder
(an epoch is a fraction of a second), one of them validated on its test split, and an
unfinished copy."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cnnlab.engine.run import train_recipe

QUIET = {"progress": False, "print_fn": lambda s: None}
# the elements html.parser sees without a closing tag (HTML's void elements)
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> Path:
    """A folder of runs: ``holdout`` (validates on held-out training images, the recipe's
    way), ``on-test`` (validate_on: test) and ``unfinished`` (``holdout`` without report.json)."""
    root = tmp_path_factory.mktemp("report") / "runs"
    train_recipe("lenet5-digits", overrides=["epochs=4"], run_dir=root / "holdout", **QUIET)
    train_recipe(
        "lenet5-digits", overrides=["epochs=3", "validate_on=test", "seed=1"], run_dir=root / "on-test", **QUIET
    )
    shutil.copytree(root / "holdout", root / "unfinished")
    (root / "unfinished" / "report.json").unlink()
    for page in root.rglob("report.html"):
        page.unlink()
    return root


class Checker(HTMLParser):
    """Well-formedness as the tests mean it: every non-void element closed in order, plus the
    facts the tests look at (text, headings, image alt texts, addresses)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.text: list[str] = []
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else 'nothing'}>")
            return
        self.stack.pop()

    def handle_data(self, data):
        if self.stack and self.stack[-1] in ("style", "script"):
            return
        self.text.append(data)


def check_page(html: str) -> Checker:
    """Parse ``html`` and assert it is well formed, semantic and self-contained."""
    checker = Checker()
    checker.feed(html)
    checker.close()
    assert not checker.errors, checker.errors[:5]
    assert not checker.stack, f"unclosed: {checker.stack}"
    assert html.startswith("<!DOCTYPE html>")
    tags = checker.tags
    assert [t for t, _ in tags].count("h1") == 1
    assert any(t == "h2" for t, _ in tags)
    for tag, attrs in tags:
        if tag == "img":
            assert attrs.get("alt"), f"an image without alt text: {str(attrs)[:80]}"
            assert attrs["src"].startswith("data:image/"), attrs["src"][:40]
        if tag in ("script", "link", "iframe", "source", "video", "audio", "object", "embed") and "src" in attrs:
            assert attrs["src"].startswith("data:"), attrs["src"][:40]
        if tag == "link":
            assert attrs.get("href", "").startswith("data:"), attrs
        if tag == "th":
            assert attrs.get("scope") in ("row", "col"), f"a header cell without scope: {attrs}"
    # No address outside the page: no http(s) reference anywhere in it (figures are data: URLs).
    assert "http://" not in html and "https://" not in html
    for _, attrs in tags:
        for key in ("src", "href"):
            value = attrs.get(key)
            if value is None or value.startswith(("data:", "#")):
                continue
            # a relative link to another page of the same report, never an address elsewhere
            assert not re.match(r"[A-Za-z][A-Za-z0-9+.-]*:|//", value), f"{key}={value[:60]}"
    return checker


def check_fragment(html: str) -> Checker:
    """Parse a block of HTML that Jupyter shows inside a notebook (no document around it) and
    assert it is well formed: every element closed in order, header cells scoped, images
    with alt text and inline, no reference outside the block."""
    checker = Checker()
    checker.feed(html)
    checker.close()
    assert not checker.errors, checker.errors[:5]
    assert not checker.stack, f"unclosed: {checker.stack}"
    assert not html.lstrip().lower().startswith(("<!doctype", "<html")), "a fragment, not a document"
    for tag, attrs in checker.tags:
        assert tag not in ("script", "link", "iframe", "html", "body", "head"), f"<{tag}> in a display"
        if tag == "img":
            assert attrs.get("alt"), f"an image without alt text: {str(attrs)[:80]}"
            assert attrs["src"].startswith("data:image/"), attrs["src"][:40]
        if tag == "th":
            assert attrs.get("scope") in ("row", "col"), f"a header cell without scope: {attrs}"
        for key in ("src", "href"):
            value = attrs.get(key)
            assert value is None or value.startswith(("data:", "#")), f"{key}={value[:60]}"
    return checker


def page_text(checker: Checker) -> str:
    return " ".join(" ".join(checker.text).split())
