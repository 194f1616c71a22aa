"""Folders are the architecture: a layer imports only the layers below it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "base_dist"

# Layer rank of each top-level module/sub-package; equal ranks may not import each other.
RANK = {
    "errors": 0, "config": 0, "utils": 0, "ray_cluster": 0, "sgd": 0,
    "space": 1, "data": 1,
    "track": 2,
    "meta": 3, "train": 3,
    "distributed": 4,
    "report": 5, "tune": 5,
    "api": 6,
    "cli": 7,
    "__init__": 8, "__main__": 8,  # the package facade re-exports the API
}
BASE_OK = {"errors", "config", "utils", "ray_cluster", "sgd"}  # layer-0 modules may import each other


def _layer_of(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py")


def _imported_layers(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "base_dist":  # `from base_dist import api` imports the layer `api`
                names = [f"base_dist.{a.name}" for a in node.names if a.name in RANK]
        for name in names:
            parts = name.split(".")
            if parts[0] == "base_dist" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_every_layer_is_ranked():
    for child in PKG.iterdir():
        if child.name.startswith((".", "__pycache__")) or child.suffix not in ("", ".py"):
            continue
        assert child.name.removesuffix(".py") in RANK, f"{child.name} has no layer rank in tests/test_layers.py"


def test_no_upward_or_sideways_imports():
    bad = []
    for path in PKG.rglob("*.py"):
        own = _layer_of(path)
        for other in _imported_layers(path):
            if other == own or (own in BASE_OK and other in BASE_OK):
                continue
            if RANK.get(other, 99) >= RANK[own]:
                bad.append(f"{path.relative_to(PKG)} imports base_dist.{other}")
    assert not bad, "layering violations:\n" + "\n".join(bad)


def test_config_does_not_import_torch():
    # Loading and checking a config (CLI flags, job specs) must not pay for torch's import (~2 s).
    code = "import sys, base_dist.config; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
