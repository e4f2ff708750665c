"""The package's shape, read from its source: no import cycles, the product never reaches into
the local platform or the command line, and the domains' arrows point one way (the walls of
ARCHITECTURE.md, as a table of allowed package edges).

Every `import` counts, also those inside functions: a cycle that only closes at run time is
still two modules that cannot be understood one without the other.

The package edge table, with forbidden edges marked, of this checkout or of any other (e.g. a
worktree of an older commit):

    .venv/bin/python -m tests.unit.test_architecture [PATH/TO/leadflow]
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import leadflow

PACKAGE = Path(leadflow.__file__).parent


def _module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
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


def _graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    paths = {_module_name(path, package): path for path in package.rglob("*.py")}
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


#: modules outside the product: the command line, the local platform, and the generator of the
#: docs' references (it reads the command line to document it; nothing imports it)
NOT_PRODUCT = ("leadflow.cli", "leadflow.platform", "leadflow.reference")
PRODUCT = [name for name in GRAPH if not name.startswith(NOT_PRODUCT) and name != "leadflow"]


@pytest.mark.parametrize("module", sorted(PRODUCT))
def test_the_product_never_imports_the_platform_or_the_cli(module):
    """Assets, resources and jobs start no server and know no command line: a deployment runs
    them without the local platform installed."""
    reached = {target for target in GRAPH[module] if target.startswith(NOT_PRODUCT)}
    assert reached == set()


def test_the_shared_lead_vocabulary_depends_on_no_domain():
    for module in (name for name in GRAPH if name.startswith("leadflow.leads")):
        assert {t for t in GRAPH[module] if not t.startswith("leadflow.leads")} == set(), module


# -- walls: which package may use which ------------------------------------------------------------
#: the shared vocabulary below the domains: every package may use it, it uses no domain
SHARED = frozenset(
    {
        "leads",
        "postgres",
        "tabular",
        "settings",
        "resources",
        "redaction",
        "tenancy",
        "checked_files",
        "dagster_vocab",
        "sources",  # the source taxonomy: leads and costs canonicalized alike
        "watermarks",  # where each incremental step stands (cost follows change)
    }
)
DOMAINS = frozenset(
    {"activities", "analytics", "costs", "crm", "crmsync", "graph", "ingest", "recommend"}
)
#: the layers above the domains: they compose them and may use everything (reference: the
#: generated docs, python -m leadflow.reference)
TOP = frozenset({"definitions", "orchestration", "cli", "reference"})
#: local servers, migrations, seeds: shared modules only (never imported by the product, above)
PLATFORM = "platform"
#: the edges between domains that the architecture allows: the CRM sync loads through ingest
DOMAIN_EDGES = {"crmsync": frozenset({"ingest"})}

Edges = dict[tuple[str, str], set[tuple[str, str]]]


def _package(module: str) -> str | None:
    """`leadflow.ingest.assets` -> `ingest`; the package root itself -> None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def allowed(package: str) -> frozenset[str] | None:
    """What `package` may use besides itself; None: anything (the top layers)."""
    if package in TOP:
        return None
    if package in DOMAINS:
        return SHARED | DOMAIN_EDGES.get(package, frozenset())
    return SHARED  # the shared modules and the platform


def package_edges(graph: dict[str, set[str]]) -> Edges:
    """{(package, package it uses): {(module, module it imports), ...}} between packages."""
    edges: Edges = {}
    for module, targets in graph.items():
        source = _package(module)
        for target in targets:
            used = _package(target)
            if source and used and used != source:
                edges.setdefault((source, used), set()).add((module, target))
    return edges


def forbidden_edges(graph: dict[str, set[str]]) -> Edges:
    """The package edges the walls do not allow, with the imports that make each."""
    result: Edges = {}
    for (source, used), imports in package_edges(graph).items():
        permitted = allowed(source)
        if permitted is not None and used not in permitted:
            result[(source, used)] = imports
    return result


def describe(edges: Edges) -> str:
    """One line per forbidden edge, then the imports responsible for it."""
    lines = []
    for (source, used), imports in sorted(edges.items()):
        lines.append(f"{source} -> {used} is not allowed; it comes from:")
        lines.extend(f"    {module} imports {target}" for module, target in sorted(imports))
    return "\n".join(lines)


def edge_table(graph: dict[str, set[str]]) -> str:
    """Every package and the packages it uses; a forbidden edge is marked `!name`."""
    uses: dict[str, set[str]] = {}
    for module in graph:
        if _package(module):
            uses.setdefault(_package(module), set())
    for source, used in package_edges(graph):
        uses[source].add(used)
    bad = forbidden_edges(graph)
    width = max(map(len, uses))
    lines = [f"{'package':<{width}}  uses (!name: forbidden by the walls)"]
    for source in sorted(uses):
        names = [f"!{u}" if (source, u) in bad else u for u in sorted(uses[source])]
        lines.append(f"{source:<{width}}  {' '.join(names) or '-'}")
    lines.append(f"{len(bad)} forbidden edge(s)")
    return "\n".join(lines)


def test_every_package_has_its_place_in_the_walls():
    packages = {_package(module) for module in GRAPH} - {None}
    classified = SHARED | DOMAINS | TOP | {PLATFORM}
    assert packages - classified == set(), "a new package: put it in SHARED, DOMAINS or TOP"
    assert classified - packages == set(), "the table names a package that no longer exists"


def test_domain_arrows_point_one_way():
    """A domain uses itself, the shared modules and leads/ (crmsync also ingest's load path);
    the shared modules and the platform use no domain; the top layers use anything. A domain
    that must react to another's change owns the reaction (a sensor, an asset downstream)."""
    forbidden = forbidden_edges(GRAPH)
    assert not forbidden, "\n" + describe(forbidden)


def test_a_forbidden_edge_is_reported_with_the_modules_responsible():
    graph = {
        "leadflow.ingest.assets": {"leadflow.recommend.cache", "leadflow.postgres"},
        "leadflow.crmsync.load": {"leadflow.ingest.pipeline"},
        "leadflow.recommend.cache": {"leadflow.postgres"},
        "leadflow.postgres": {"leadflow.crm.assets"},
        "leadflow.cli.main": {"leadflow.platform.seed", "leadflow.recommend.cache"},
        "leadflow.platform.seed": {"leadflow.settings"},
    }
    forbidden = forbidden_edges(graph)
    assert forbidden == {
        ("ingest", "recommend"): {("leadflow.ingest.assets", "leadflow.recommend.cache")},
        ("postgres", "crm"): {("leadflow.postgres", "leadflow.crm.assets")},
    }
    message = describe(forbidden)
    assert "ingest -> recommend is not allowed" in message
    assert "leadflow.ingest.assets imports leadflow.recommend.cache" in message
    table = edge_table(graph)
    assert "!recommend" in table and "2 forbidden edge(s)" in table


if __name__ == "__main__":
    import sys

    root = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else PACKAGE
    print(edge_table(_graph(root)))
