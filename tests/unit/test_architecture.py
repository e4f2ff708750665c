"""The package's shape, read from its source: no import cycles, and the product never reaches
into the local platform or the command line.

Every `import` counts, also those inside functions: a cycle that only closes at run time is
still two modules that cannot be understood one without the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import leadflow

PACKAGE = Path(leadflow.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The leadflow modules `path` imports (a `from package import name` that names a module
    counts as that module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name in modules and name != "leadflow"}


def _graph() -> dict[str, set[str]]:
    paths = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    modules = set(paths)
    return {name: _imports(path, modules) - {name} for name, path in paths.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


GRAPH = _graph()


def test_the_graph_sees_the_whole_package():
    assert {"leadflow.definitions", "leadflow.ingest.assets", "leadflow.cli.main"} <= set(GRAPH)
    assert "leadflow.ingest.pipeline" in GRAPH["leadflow.ingest.assets"]


def test_no_import_cycle():
    assert _cycles(GRAPH) == []


def test_the_cycle_finder_finds_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


PRODUCT = [
    name
    for name in GRAPH
    if not name.startswith(("leadflow.cli", "leadflow.platform")) and name != "leadflow"
]


@pytest.mark.parametrize("module", sorted(PRODUCT))
def test_the_product_never_imports_the_platform_or_the_cli(module):
    """Assets, resources and jobs start no server and know no command line: a deployment runs
    them without the local platform installed."""
    reached = {
        target
        for target in GRAPH[module]
        if target.startswith(("leadflow.platform", "leadflow.cli"))
    }
    assert reached == set()


def test_the_shared_lead_vocabulary_depends_on_no_domain():
    for module in (name for name in GRAPH if name.startswith("leadflow.leads")):
        assert {t for t in GRAPH[module] if not t.startswith("leadflow.leads")} == set(), module
