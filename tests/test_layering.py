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


STAGE_PACKAGES = {"ingest", "dedup", "decontam", "difficulty", "rewrite", "traces", "publish"}
ROOTS = ("flows", "tasks", "schemas", "warehouse")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """First-party modules a file imports (`from a.b import c` counts a.b.c when that is a module)."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for root in ROOTS for p in (REPO / root).rglob("*.py")}
    known = set(files)
    return {m: imported_modules(p, known) - {m} for m, p in files.items()}


def test_stage_packages_never_import_each_other():
    def stage_of(module: str) -> str | None:
        parts = module.split(".")
        return parts[1] if parts[0] == "tasks" and len(parts) > 1 and parts[1] in STAGE_PACKAGES else None

    crossings = sorted(f"{m} -> {t}" for m, targets in import_graph().items() for t in targets
                       if stage_of(m) and stage_of(t) and stage_of(m) != stage_of(t))
    assert crossings == [], "shared pieces belong in shared modules (tasks/text.py, tasks/readers/, ...)"


def test_no_import_cycles():
    """No module imports itself through others (packages' __init__ re-exports aside)."""
    graph = import_graph()
    packages = {m for m in graph if (REPO / Path(*m.split(".")) / "__init__.py").exists()}
    graph = {m: {t for t in ts if t not in packages} for m, ts in graph.items() if m not in packages}
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


SQL = __import__("re").compile(r"\b(SELECT\b[\s\S]*\bFROM|INSERT\s+INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET|CREATE\s+(TABLE|VIEW))\b",
                               __import__("re").IGNORECASE)


def sql_strings(path: Path) -> list[int]:
    """Lines of string literals that hold SQL statements (docstrings aside)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    shown = {id(k.value) for k in ast.walk(tree) if isinstance(k, ast.keyword) and k.arg == "help"}  # CLI help text
    lines = []
    for node in ast.walk(tree):
        if id(node) in shown:
            continue
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            text = node.value
        else:
            continue
        if SQL.search(text):
            lines.append(node.lineno)
    return lines


SHOWN_TO_USERS = {Path("tasks/publish/card.py")}  # the dataset card's DuckDB example, text for readers


def test_sql_lives_in_store_modules_and_warehouse():
    """A stage's SQL is in its store.py (or warehouse/), never in stage logic or flows."""
    files = [p for p in (REPO / "flows").rglob("*.py")]
    files += [p for stage in STAGE_PACKAGES for p in (REPO / "tasks" / stage).rglob("*.py") if p.name != "store.py"]
    offenders = {str(p.relative_to(REPO)): lines for p in sorted(files)
                 if (lines := sql_strings(p)) and p.relative_to(REPO) not in SHOWN_TO_USERS}
    assert offenders == {}
