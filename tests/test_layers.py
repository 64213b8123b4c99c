"""The package's structure: no import cycles, and imports only go down the layers of
docs/architecture.md (profile + sources -> one map -> analyses -> services -> presenters -> shells).

Every ``import`` counts - at module level or inside a function (a function-level import that
dodges a cycle is still a cycle of the design) - except those under ``if TYPE_CHECKING:``.
Importing ``a.b.c`` also imports the packages ``a.b`` and ``a``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import cityplan

SRC = Path(cityplan.__file__).parent

#: layer of each top-level module or package, lowest first (docs/architecture.md, "Layers")
LAYERS = {
    "foundation": "cityplan _errors errors _cores text fonts paths crs districts",
    "settings and formats": "schema profile cities catalog tools io validate_stream validate convert",
    "storage": "store",
    "one map": "onemap build city tasks",
    "analyses": "network transit coverage progress monitor review export checkup",
    "services": "services",
    "presenters": "maps report server",
    "shells": "cli pipeline __main__",
}
RANK = {name: rank for rank, names in enumerate(LAYERS.values()) for name in names.split()}

#: upward imports not yet moved, each with where it should go; nothing may be added here
KNOWN_UPWARD = {
    # the review opinion (PDF) and the review map are presenters living beside the review analysis
    ("cityplan.review.opinion", "cityplan.report"),
    ("cityplan.review.opinion", "cityplan.report.context"),
    ("cityplan.review.opinion", "cityplan.report.layout"),
    ("cityplan.review.opinion", "cityplan.report.static"),
    ("cityplan.review.report", "cityplan.maps"),
    ("cityplan.review.report", "cityplan.maps.payload"),
    ("cityplan.review.report", "cityplan.maps.recipes"),
    ("cityplan.review.report", "cityplan.maps.render"),
    # the check-up's map pages: to move to maps/ (a presenter of the check-up's results)
    ("cityplan.checkup.outputs", "cityplan.maps"),
    ("cityplan.checkup.outputs", "cityplan.maps.payload"),
    ("cityplan.checkup.outputs", "cityplan.maps.render"),
    # the stored review's map layers: to move to the review desk's presenter
    ("cityplan.services.reviews", "cityplan.maps"),
    ("cityplan.services.reviews", "cityplan.maps.payload"),
}


def _modules() -> dict[str, Path]:
    out = {}
    for f in SRC.rglob("*.py"):
        parts = list(f.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _runtime_nodes(tree: ast.Module) -> list[ast.AST]:
    """Every node but those inside ``if TYPE_CHECKING:`` blocks."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return [n for n in ast.walk(tree) if id(n) not in skip]


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        for t in targets:
            if not t.startswith("cityplan"):
                continue
            parts = t.split(".")
            for i in range(1, len(parts) + 1):  # importing a.b.c imports a and a.b first
                mod = ".".join(parts[:i])
                if mod in modules and mod != name and not name.startswith(mod + "."):
                    found.add(mod)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _layer(module: str) -> int:
    parts = module.split(".")
    return RANK[parts[1] if len(parts) > 1 else "cityplan"]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def test_every_module_has_a_layer() -> None:
    tops = {m.split(".")[1] if "." in m else "cityplan" for m in _modules()}
    assert tops <= set(RANK), f"give these a layer in LAYERS and docs/architecture.md: {sorted(tops - set(RANK))}"


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_imports_only_go_down_the_layers() -> None:
    up = {(a, b) for a, targets in _graph().items() for b in targets if _layer(a) < _layer(b)}
    assert up - KNOWN_UPWARD == set(), "upward imports (move the code down, or the caller up)"
    assert KNOWN_UPWARD - up == set(), "moved: remove these from KNOWN_UPWARD"


def test_the_web_layer_knows_no_domain_storage_and_services_know_no_web() -> None:
    graph = _graph()
    for name, targets in graph.items():
        if name.startswith(("cityplan.services", "cityplan.store", "cityplan.progress", "cityplan.review",
                            "cityplan.coverage")):
            assert not any(t.startswith(("cityplan.server", "cityplan.cli")) for t in targets), name
    cli_server = {t for t in graph["cityplan.cli.users"] if t.startswith("cityplan.server")}
    assert cli_server == set(), "accounts are a service: the CLI must not import the server to manage them"
