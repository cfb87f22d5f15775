"""The layout keeps its promises: no import cycles, packages that say what they hold."""

import ast
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {
    "imageprism": ROOT / "imageprism-core/src/imageprism",
    "imageprism_models": ROOT / "imageprism-models/src/imageprism_models",
    "imageprism_face": ROOT / "imageprism-face/src/imageprism_face",
}


def _cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in graph.find_modules_directly_imported_by(module) & modules:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return found


def _graph() -> grimp.ImportGraph:
    return grimp.build_graph(*SOURCES, exclude_type_checking_imports=True)


def _without_packages(graph: grimp.ImportGraph, package: str) -> set[str]:
    # a package's __init__ re-exports its modules' names, which is not a cycle of ideas
    modules = graph.find_descendants(package) | {package}
    return {m for m in modules if not (SOURCES[package] / Path(*m.split(".")[1:])).is_dir()}


@pytest.mark.parametrize("package", list(SOURCES))
def test_no_module_imports_itself_through_others(package):
    graph = _graph()
    assert _cycles(graph, _without_packages(graph, package)) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for module in ("p", "p.a", "p.b", "p.c"):
        graph.add_module(module)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.a")
    graph.add_import(importer="p.c", imported="p.a")
    assert _cycles(graph, {"p.a", "p.b", "p.c"}) == [["p.a", "p.b"]]


@pytest.mark.parametrize(
    "init", sorted(p for src in SOURCES.values() for p in src.rglob("__init__.py")), ids=str
)
def test_every_package_says_what_it_holds_and_exports(init):
    tree = ast.parse(init.read_text())
    assert ast.get_docstring(tree), f"{init} has no module docstring"
    names = {
        t.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    } | {
        node.target.id
        for node in tree.body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    }
    assert "__all__" in names, f"{init} has no __all__"
