"""Lines of registration code per registered model (docs/models.md, "Lines per variant").

Every top-level statement of a model file that registers a model (a function under @register_model, or a call of register_variant),
from its first line (decorators included) to its last, formatted by ruff at 120 columns."""

import ast
import pathlib
import sys

root = pathlib.Path(sys.argv[1])
total = n = 0
per = {}
for f in sorted(root.glob("*.py")):
    tree = ast.parse(f.read_text())
    for node in tree.body:
        start = node.lineno
        hit = False
        if isinstance(node, ast.FunctionDef):
            for d in node.decorator_list:
                if "register" in ast.unparse(d):
                    hit = True
                    start = min(start, d.lineno)
        elif isinstance(node, (ast.Assign, ast.Expr)) and isinstance(getattr(node, "value", None), ast.Call):
            if "register" in ast.unparse(node.value.func):
                hit = True
        if hit:
            lines = node.end_lineno - start + 1
            total += lines
            n += 1
            per.setdefault(f.name, []).append(lines)
for k, v in per.items():
    print(f"{k:22s} {len(v):3d} models {sum(v):5d} lines  max {max(v)}")
print(f"{n} models, {total} lines, {total / n:.1f} lines per model, max {max(max(v) for v in per.values())}")
