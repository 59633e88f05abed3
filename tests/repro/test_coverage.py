"""`cnnlab repro coverage`: the inventory of the decks' checkable claims (issue 20, item 1)."""

from __future__ import annotations

import json

from cnnlab.cli import main
from cnnlab.repro.coverage import DECK_FILE, citation
from cnnlab.repro.deck_claims import DECK_CLAIMS


def test_citations_name_deck_files_and_lines():
    assert citation("002_bfa1a495ea31f44a.txt line 86: Table 2") == "002_bfa1a495ea31f44a.txt line 86"
    assert citation("000_9248de079df68187.txt lines 509, 539; x") == "000_9248de079df68187.txt lines 509, 539"
    assert citation("CS231n (Stanford, 2017), Lecture 9") is None
    assert DECK_FILE.fullmatch("004_402492dc785fb565.txt line 2846")


def test_coverage_lists_every_check_with_its_deck_line_and_command():
    lines: list[str] = []
    assert main(["repro", "coverage", "--format", "json"], print_fn=lines.append) == 0
    data = json.loads("\n".join(lines))
    entries = data["entries"]
    claims = {e["claim"] for e in entries}
    assert set(DECK_CLAIMS) <= claims and "degradation" in claims  # count claims run, training ones listed
    deck = [e for e in entries if e["deck"]]
    assert len(deck) > 250 and all(DECK_FILE.search(e["cited"]) for e in deck)
    assert all(e["command"].startswith("cnnlab repro run ") for e in entries)
    # The 160M of deck 003 line 201 is multiply-adds, corrected with the exact number.
    mads = next(e for e in deck if e["printed"].startswith("#params = 28x28x64x5x5x128"))
    assert mads["status"] == "corrected" and "003_57e1590cb514b9e5.txt line 201" in mads["cited"]
    assert data["share_settled"] >= 0.9
    totals = data["totals_decks"]
    assert totals["reproduced"] + totals["corrected"] + totals["differs"] == len(deck)
