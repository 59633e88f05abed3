"""The import contract of DESIGN.md: data flows one way, nothing lower imports anything higher."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "cnnlab"

# Layer of each top-level part; a module may import only parts of its own or a lower layer.
LAYERS = {
    "errors": 0, "tracing": 0, "registry": 1, "weights": 1, "layers": 1, "scratch": 0,
    "models": 2,
    "analysis": 3, "engine": 3, "transfer": 3, "explain": 3, "data": 3,
    "viz": 4,
    "cli": 5, "__main__": 5, "__init__": 5,
}
# registry reaches models only lazily, to load them on first use (see _ensure_models_loaded).
ALLOWED = {("registry", "models"), ("weights", "registry")}


def _part(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def _is_part(name: str) -> bool:
    return (SRC / name).is_dir() or (SRC / f"{name}.py").is_file()


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and node.module.startswith("cnnlab."):
                found.add(node.module.split(".")[1])
            elif node.level > 0:
                depth = len(path.relative_to(SRC).parts) - 1
                if node.level == depth + 1 and node.module:
                    found.add(node.module.split(".")[0])
                elif node.level == depth + 1:
                    # `from .. import models` names a part; `from .. import __version__` the package.
                    found.update(a.name if _is_part(a.name) else "__init__" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("cnnlab."))
    return found


FILES = sorted(p for p in SRC.rglob("*.py") if _part(p) not in ("__init__", "__main__"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_upward_imports(path):
    part = _part(path)
    if part == "scratch":
        assert not _imports(path) - {"scratch"}, "scratch/ is NumPy only and imports nothing else from cnnlab"
        return
    assert part in LAYERS, f"{part}/ has no place in the import layers of DESIGN.md; add it to LAYERS"
    for target in _imports(path) - {part}:
        assert target in LAYERS, f"{path.name} imports cnnlab.{target}, which has no place in LAYERS"
        if (part, target) in ALLOWED:
            continue
        assert LAYERS[target] <= LAYERS[part], f"{part} (layer {LAYERS[part]}) imports {target} (layer {LAYERS[target]})"
