"""The inventory of the lecture decks' checkable claims (``cnnlab repro coverage``): every check
of every count claim with the deck file and line that prints it, the deck's value, cnnlab's
exact value, the command that shows it, and what became of it; the training experiments with
the command a user with the data runs. Coverage runs the count claims (seconds on the CPU)
and never the training ones (minutes to hours, real data).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from .claims import list_claims, run_claim

# The decks in ../shared/lectures (their README): a deck citation names one of these files.
DECK_FILE = re.compile(r"(?P<deck>\d{3}_[0-9a-f]{16}\.txt)(?: lines? (?P<lines>\d+(?:(?:, | and |-)\d+)*))?")

# What became of a claim, from its check's verdict.
STATUS = {
    "agrees": "reproduced",
    "rounding": "reproduced",
    "slide inconsistent": "corrected",
    "differs": "differs",
}
STATUS_MEANING = {
    "reproduced": "cnnlab computes the deck's number (exactly, or within its printed rounding)",
    "corrected": "the deck's number does not follow from its own other numbers or its source; cnnlab shows "
    "both values and why",
    "differs": "cnnlab computes something else on purpose (another convention or variant, named)",
    "training": "a training experiment: `cnnlab repro run ID --kind training` measures it on this machine's "
    "data (MNIST, Fashion-MNIST, digits), an analogue where the deck's dataset (CIFAR, ImageNet) is absent",
}


@dataclass(frozen=True)
class Entry:
    """One checkable claim: where a deck (or another source) prints it, its value there,
    cnnlab's value, the command that shows it and its status."""

    claim: str
    quantity: str
    cited: str  # "002_bfa1a495ea31f44a.txt line 86", or the claim's source for non-deck sources
    deck: bool  # cited from one of the five lecture decks
    printed: str
    exact: str
    command: str
    status: str
    verdict: str


@dataclass
class Coverage:
    """Every entry, in claim order, and their totals."""

    entries: list[Entry] = field(default_factory=list)

    def totals(self, decks_only: bool = True) -> dict[str, int]:
        counts = Counter(e.status for e in self.entries if e.deck or not decks_only)
        return {s: counts.get(s, 0) for s in STATUS_MEANING}

    def share_settled(self) -> float:
        """Of the decks' checkable numbers (training experiments apart), the share reproduced
        or corrected."""
        t = self.totals()
        counted = t["reproduced"] + t["corrected"] + t["differs"]
        return (t["reproduced"] + t["corrected"]) / counted if counted else 0.0

    def by_claim(self) -> list[dict[str, Any]]:
        """One row per claim: its checks and their statuses."""
        rows: dict[str, dict[str, Any]] = {}
        for e in self.entries:
            row = rows.setdefault(e.claim, {"claim": e.claim, "command": e.command, "decks": set(), "checks": 0})
            row["checks"] += 1
            row[e.status] = row.get(e.status, 0) + 1
            if e.deck:
                row["decks"].add(e.cited.split(" ")[0])
        return [{**r, "decks": sorted(r["decks"])} for r in rows.values()]

    def to_dict(self) -> dict[str, Any]:
        return {
            "entries": [asdict(e) for e in self.entries],
            "totals_decks": self.totals(),
            "totals_all": self.totals(decks_only=False),
            "share_settled": self.share_settled(),
            "statuses": STATUS_MEANING,
        }


def citation(text: str) -> str | None:
    """The deck lines a check's explanation or a claim's source cites ("DECK line N" or
    "DECK lines N, M"), joined by "; "; None when it names no deck."""
    found = [m.group(0) for m in DECK_FILE.finditer(text)]
    return "; ".join(found) if found else None


def coverage() -> Coverage:
    """Run every count claim and list its checks; list the training experiments unrun."""
    result = Coverage()
    for claim in list_claims("count"):
        ran = run_claim(claim.id)
        for check in ran.checks:
            cited = citation(check.explanation.split(":")[0]) or citation(claim.source)
            result.entries.append(
                Entry(
                    claim=claim.id,
                    quantity=check.quantity,
                    cited=cited or claim.source,
                    deck=cited is not None,
                    printed=str(check.slide),
                    exact=f"{check.cnnlab:,}" if isinstance(check.cnnlab, int) else str(check.cnnlab),
                    command=f"cnnlab repro run {claim.id}",
                    status=STATUS[check.verdict],
                    verdict=check.verdict,
                )
            )
    for claim in list_claims("training"):
        cited = citation(claim.source)
        result.entries.append(
            Entry(
                claim=claim.id,
                quantity=claim.title,
                cited=cited or claim.source,
                deck=cited is not None,
                printed="",
                exact="",
                command=f"cnnlab repro run {claim.id} --kind training",
                status="training",
                verdict="",
            )
        )
    return result
