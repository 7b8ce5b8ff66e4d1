"""No import circle in jupyter_dsp: every module's imports (at the top, in functions, and under
TYPE_CHECKING) drawn with grimp (import-linter's graph) hold no cycle. The layers between the
packages are import-linter's contracts in pyproject.toml (`lint-imports`)."""

from __future__ import annotations

import grimp


def import_cycles(package: str) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan, iterative)."""
    graph = grimp.build_graph(package)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges.get(child, []))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def test_no_import_circle_in_jupyter_dsp():
    cycles = import_cycles("jupyter_dsp")
    shown = "\n".join(" <-> ".join(group) for group in cycles)
    assert not cycles, f"modules that import each other (directly or in a ring):\n{shown}"
