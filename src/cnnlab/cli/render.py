"""Plain-text rendering shared by the commands."""

from __future__ import annotations

from collections.abc import Sequence


def human_count(n: int) -> str:
    """61706 -> '61.7K', 138357544 -> '138.4M'."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.1f}{unit}"
    return str(n)


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str | None = None) -> str:
    """Columns padded to their widest cell; ``align`` holds one 'l' or 'r' per column."""
    align = align or "l" * len(header)
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]

    def line(cells: Sequence[str]) -> str:
        out = [str(c).ljust(w) if a == "l" else str(c).rjust(w) for c, w, a in zip(cells, widths, align)]
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])
