"""Lines of registration code per registered model (docs/models.md, "Lines per variant").

Every top-level statement of a model file that registers a model (a function under
``@register_model``, or a call of ``register_variant``), from its first line (decorators
included) to its last, as ruff formats it at 120 columns. Run:
``python benchmarks/registration_lines.py src/cnnlab/models``.
"""

from __future__ import annotations

import ast
import pathlib
import sys


def registration_lines(path: pathlib.Path) -> list[int]:
    """The line count of each registering statement of one model file."""
    counts = []
    for node in ast.parse(path.read_text()).body:
        start, hit = node.lineno, False
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                if "register" in ast.unparse(decorator):
                    hit, start = True, min(start, decorator.lineno)
        elif isinstance(node, (ast.Assign, ast.Expr)) and isinstance(node.value, ast.Call):
            hit = "register" in ast.unparse(node.value.func)
        if hit:
            counts.append(node.end_lineno - start + 1)
    return counts


def main(root: str) -> None:
    per = {f.name: c for f in sorted(pathlib.Path(root).glob("*.py")) if (c := registration_lines(f))}
    for name, counts in per.items():
        print(f"{name:22s} {len(counts):3d} models {sum(counts):5d} lines  {sum(counts) / len(counts):5.1f} per model")
    n = sum(len(c) for c in per.values())
    total = sum(sum(c) for c in per.values())
    print(f"{n} models, {total} lines, {total / n:.1f} lines per model, max {max(max(c) for c in per.values())}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "src/cnnlab/models")
