"""The package's architecture, checked from its import statements (docs/method.md).

Layers import only downward; backends and frontends never import each other; no import
cycles; no `_private` name is imported from another module; the operation table and the
IR import neither JAX nor gmpy2 (so `precisec list` and the frontends stay light).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "precisec"

# Rank of each top-level part; a module may import parts of its own rank or below.
RANKS = {
    "errors": 0, "ops": 0, "files": 0,
    "ir": 1,
    "frontend": 2, "backend": 2, "toolchain": 2,
    "semantics": 3,
    "tune": 4,
    "flow": 5, "batch": 5,
    "table": 6, "report": 6, "cli": 6,
}
# Parts of one rank that must not import each other.
SEPARATE = {frozenset({"frontend", "backend"}), frozenset({"frontend", "toolchain"})}
LIGHT = ("ops", "ir", "errors", "files", "batch")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, imported names, line) for every import in a file."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, [], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names], node.lineno))
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        targets = set()
        for module, names, _ in imports(path):
            if module in MODULES:
                targets.add(module)
            for imported in names:
                if f"{module}.{imported}" in MODULES:
                    targets.add(f"{module}.{imported}")
        edges[name] = targets - {name}
    return edges


@pytest.mark.parametrize("name", sorted(n for n in MODULES if part(n) in RANKS))
def test_imports_point_down(name: str) -> None:
    own = part(name)
    for module, _, line in imports(MODULES[name]):
        if not module.startswith("precisec.") or part(module) not in RANKS:
            continue
        other = part(module)
        assert RANKS[other] <= RANKS[own], f"{name}:{line} imports {module} (upward)"
        assert frozenset({own, other}) not in SEPARATE, f"{name}:{line} imports {module}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_names_cross_modules(name: str) -> None:
    for module, names, line in imports(MODULES[name]):
        if module.startswith("precisec"):
            private = [n for n in names if n.startswith("_") and not n.endswith("__")]
            assert not private, f"{name}:{line} imports private {private} from {module}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if part(n) in LIGHT))
def test_table_and_ir_import_neither_jax_nor_gmpy2(name: str) -> None:
    for module, _, line in imports(MODULES[name]):
        assert module.split(".")[0] not in ("jax", "gmpy2", "numpy"), f"{name}:{line}"


def test_no_import_cycles() -> None:
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def strongconnect(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges[node]:
            if target not in index:
                strongconnect(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in edges:
        if node not in index:
            strongconnect(node)
    assert not cycles, f"import cycles: {cycles}"


def test_the_check_sees_the_package() -> None:
    assert {"precisec.ops", "precisec.ir.core", "precisec.flow"} <= set(MODULES)
