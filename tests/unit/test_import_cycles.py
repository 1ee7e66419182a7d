"""No drkit module imports another in a cycle (issue 14 item 5), checked on the real import graph.

import-linter's ``acyclic_siblings`` contract (``make lint``) forbids cycles between sibling modules
and packages at every depth, but not one between a package's ``__init__`` and a module inside it
(``drill/providers/__init__.py`` <-> ``drill/providers/kind.py``). This test looks at every module,
``__init__`` included, and names each cycle with the lines that make it. ``TYPE_CHECKING`` imports
count: a cycle that only the type checker sees is still two modules that know each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import grimp
import pytest

# Edges allowed while the module that owns them is being moved (remove each when it is gone).
ALLOWED: set[tuple[str, str]] = set()


def import_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return sorted(cycles)


def drkit_graph() -> tuple[grimp.ImportGraph, dict[str, set[str]]]:
    graph = grimp.build_graph("drkit", cache_dir=None)
    modules = set(graph.modules)
    edges = {
        module: {
            imported
            for imported in graph.find_modules_directly_imported_by(module) & modules
            if (module, imported) not in ALLOWED
        }
        for module in modules
    }
    return graph, edges


def describe(graph: grimp.ImportGraph, cycle: list[str]) -> str:
    members = set(cycle)
    lines = [" <-> ".join(cycle)]
    for module in cycle:
        for imported in sorted(graph.find_modules_directly_imported_by(module) & members):
            if (module, imported) in ALLOWED:
                continue
            for detail in graph.get_import_details(importer=module, imported=imported):
                lines.append(f"  {module}:{detail['line_number']}: {detail['line_contents']}")
    return "\n".join(lines)


def test_no_drkit_module_imports_another_in_a_cycle() -> None:
    graph, edges = drkit_graph()
    cycles = import_cycles(edges)
    found = "\n".join(describe(graph, cycle) for cycle in cycles)
    assert not cycles, f"import cycles between drkit modules:\n{found}"


def test_the_allowed_edges_still_exist() -> None:
    """An allowance outlives its reason only until the edge goes: then it must be removed here."""
    graph = grimp.build_graph("drkit", cache_dir=None)
    stale = [edge for edge in ALLOWED if not graph.direct_import_exists(importer=edge[0], imported=edge[1])]
    assert not stale, f"remove these from ALLOWED, they no longer exist: {stale}"


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": set()}, []),
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"p": {"p.k"}, "p.k": {"p.base", "p"}, "p.base": set()}, [["p", "p.k"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}, [["a", "b"], ["c", "d"]]),
    ],
)
def test_import_cycles_finds_each_strongly_connected_group(
    graph: dict[str, set[str]], expected: list[list[str]]
) -> None:
    assert import_cycles(graph) == expected
