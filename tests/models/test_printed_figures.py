"""Every card's printed figures against its exact counts, registry-wide.

A card's ``paper_params`` and ``paper_macs`` are the figures as the paper prints them. Each
must agree with the exact count the build reaches (``params``, ``macs``, which
tests/models/test_contract.py holds every build to) within the printed rounding: "138M" is
138,000,000 +- 500,000, "0.27M" is 270,000 +- 5,000, "1,649,402" is exact, "less than 25
million" is a bound. Where a paper's figure does not follow from its own table, the card says
so: its deviations or notes must quote the printed figure and explain the gap. Byte sizes
("49 MB model size") and ratios are not counts and are left out.
"""

from __future__ import annotations

import re

import pytest

import cnnlab  # noqa: F401  (registers the models)
from cnnlab.registry import list_models, model_card

SCALE = {"k": 1e3, "K": 1e3, "M": 1e6, "million": 1e6, "G": 1e9, "B": 1e9, "billion": 1e9, "GFLOPs": 1e9}
FIGURE = re.compile(
    r"(?P<bound>less than )?(?P<digits>\d[\d,]*(?:\.\d+)?)\s*"
    r"(?P<unit>x ?10\^[69]|million|billion|GFLOPs|GFLOPS|[kKMGB](?![a-zA-Z]))?"
)


def printed_figure(text: str) -> tuple[str, float, float, bool] | None:
    """The first figure of the first clause of ``text``: (as printed, value, half a unit of its
    last digit, whether it is an upper bound); None for sizes in bytes and ratios."""
    clause = text.split(";")[0]
    if "MB" in clause or "less computation" in clause:
        return None
    m = FIGURE.search(clause)
    if m is None:
        return None
    unit = (m["unit"] or "").replace(" ", "")
    scale = {"x10^6": 1e6, "x10^9": 1e9, "GFLOPS": 1e9}.get(unit, SCALE.get(unit, 1.0))
    digits = m["digits"]
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    value = float(digits.replace(",", "")) * scale
    shown = m.group(0).removeprefix("less than ").strip()
    return shown, value, 0.5 * scale * 10**-decimals, bool(m["bound"])


def _figures():
    for name in list_models():
        card = model_card(name)
        for what, exact, text in (("params", card.params, card.paper_params), ("macs", card.macs, card.paper_macs)):
            if text and exact is not None and printed_figure(text) is not None:
                yield pytest.param(name, what, exact, text, id=f"{name}-{what}")


@pytest.mark.parametrize("name,what,exact,text", list(_figures()))
def test_printed_figure_agrees_or_the_card_explains_it(name, what, exact, text):
    shown, value, half, bound = printed_figure(text)
    agrees = exact < value if bound else abs(exact - value) <= half
    if agrees:
        return
    card = model_card(name)
    said = " ".join(card.deviations) + " " + card.notes
    assert shown in said, (
        f"{name}: the paper prints {text!r} for {what}, but the build has {exact:,}, outside the printed "
        f"rounding; the card's deviations or notes must quote {shown!r} and say why"
    )


@pytest.mark.parametrize(
    "text,expected",
    [
        ("138M (Table 2, D)", ("138M", 138e6, 0.5e6, False)),
        ("0.27M (Table 6)", ("0.27M", 0.27e6, 5e3, False)),
        ("1,649,402 (Table 1, Inception)", ("1,649,402", 1649402, 0.5, False)),
        ("7.6x10^9 FLOPs (multiply-adds), Table 1", ("7.6x10^9", 7.6e9, 0.05e9, False)),
        ("37.8 x 10^6 (Table 1); 145 MB model size (Table 2)", ("37.8 x 10^6", 37.8e6, 0.05e6, False)),
        ("less than 25 million (abstract)", ("25 million", 25e6, 0.5e6, True)),
        ("2.5 GFLOPs (Table 2)", ("2.5 GFLOPs", 2.5e9, 0.05e9, False)),
        ("49 MB model size (Table 2)", None),
    ],
)
def test_printed_figures_are_read_as_printed(text, expected):
    got = printed_figure(text)
    if expected is None:
        assert got is None
    else:
        assert got[0] == expected[0] and got[3] == expected[3]
        assert got[1] == pytest.approx(expected[1]) and got[2] == pytest.approx(expected[2])
