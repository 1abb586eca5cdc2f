"""The core stays Prefect-free: dependencies go prefect.yaml -> flows -> tasks -> warehouse -> schemas."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "schemas": {"prefect", "flows", "tasks", "warehouse"},
    "warehouse": {"prefect", "flows", "tasks"},
    "tasks": {"prefect", "flows"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_downwards(layer):
    files = sorted((REPO / layer).rglob("*.py"))
    assert files, f"no modules in {layer}/"
    offenders = {
        str(f.relative_to(REPO)): sorted(imported_roots(f) & FORBIDDEN[layer])
        for f in files
        if imported_roots(f) & FORBIDDEN[layer]
    }
    assert offenders == {}
