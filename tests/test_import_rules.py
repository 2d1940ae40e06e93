"""The package's layers only import forward: data -> models -> training -> annotate/evaluate.

Read from the source with `ast`, so an import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "genolong"
LAYERS = ("data", "models", "training", "annotate", "evaluate")

# layer -> layers it must never import
FORBIDDEN = {
    "models": {"data", "training", "annotate", "evaluate"},
    "data": {"models", "training", "annotate", "evaluate"},
    "training": {"annotate", "evaluate"},
}


def imported_layers(path: Path) -> set[str]:
    """The genolong layers a source file imports (absolute `genolong.<layer>` imports)."""
    layers = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "genolong" and len(parts) > 1 and parts[1] in LAYERS:
                layers.add(parts[1])
    return layers


def layer_files(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_forward(layer):
    files = layer_files(layer)
    assert files, f"genolong/{layer}/ holds no modules"
    offences = {
        str(path.relative_to(PACKAGE)): sorted(imported_layers(path) & FORBIDDEN[layer])
        for path in files
    }
    offences = {path: bad for path, bad in offences.items() if bad}
    assert not offences, f"layer {layer!r} imports what it must not: {offences}"


def test_no_relative_imports():
    """Absolute imports only, so the rule above sees every import."""
    relative = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.level > 0
    ]
    assert not relative


def test_rule_checker_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from genolong.training.module import GenoLongModule\n")
    assert imported_layers(bad) == {"training"}


def test_data_layer_needs_no_torch_model_code():
    """data/ must not import torch at all: it is the numpy/biopython layer."""
    users = [
        str(path.relative_to(PACKAGE))
        for path in layer_files("data")
        for node in ast.walk(ast.parse(path.read_text()))
        if (isinstance(node, ast.Import) and any(a.name.split(".")[0] == "torch" for a in node.names))
        or (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "torch")
    ]
    assert not users, users
