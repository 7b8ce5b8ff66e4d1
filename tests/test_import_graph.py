"""No import circle, in Python or in the panel's TypeScript.

jupyter_dsp: every module's imports (at the top, in functions, and under TYPE_CHECKING) drawn
with grimp (import-linter's graph). labextension/src: every relative ``import``/``export ...
from`` and ``import()`` between its files. The layers between the Python packages are
import-linter's contracts in pyproject.toml (`lint-imports`)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import grimp

PANEL_SRC = Path(__file__).resolve().parent.parent / "labextension" / "src"
TS_IMPORT = re.compile(
    r"""(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)""",
)


def import_cycles(package: str) -> list[list[str]]:
    graph = grimp.build_graph(package)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    return strongly_connected(edges)


def ts_import_cycles(src: Path) -> list[list[str]]:
    return strongly_connected(ts_import_edges(src))


def ts_import_edges(src: Path) -> dict[str, list[str]]:
    """Each panel file and the panel files it imports (relative imports)."""
    files = {p.relative_to(src).as_posix() for p in src.rglob("*") if p.suffix in (".ts", ".tsx")}
    edges: dict[str, list[str]] = {}
    for name in files:
        text = (src / name).read_text(encoding="utf-8")
        targets = set()
        for match in TS_IMPORT.finditer(text):
            base = os.path.normpath(os.path.join(os.path.dirname(name), match[1] or match[2]))
            for candidate in (f"{base}.ts", f"{base}.tsx", f"{base}/index.ts", f"{base}/index.tsx"):
                if candidate.replace(os.sep, "/") in files:
                    targets.add(candidate.replace(os.sep, "/"))
                    break
        edges[name] = sorted(targets)
    return edges


#: the panel's folders, bottom first: a folder imports only folders of lower layers (the
#: files at the top of src/, index.ts and panel.tsx, may import any)
PANEL_LAYERS = [
    {"common"},
    {"components", "live", "dialogs"},
    {"results", "diff", "schedules", "pipelines"},
    {"runs", "notebooks"},
]


def ts_upward_imports(src: Path, layers: list[set[str]]) -> list[str]:
    layer_of = {folder: n for n, group in enumerate(layers) for folder in group}
    wrong = []
    for name, targets in sorted(ts_import_edges(src).items()):
        here = name.split("/")[0]
        if here not in layer_of:
            continue
        for target in targets:
            there = target.split("/")[0]
            if there != here and layer_of.get(there, len(layers)) >= layer_of[here]:
                wrong.append(f"{name} -> {target}")
    return wrong


def strongly_connected(edges: dict[str, list[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one node (Tarjan, iterative)."""
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


def test_no_import_circle_in_the_panel():
    assert len(list(PANEL_SRC.rglob("*.ts*"))) > 10  # the panel's sources are where we look
    cycles = ts_import_cycles(PANEL_SRC)
    shown = "\n".join(" <-> ".join(group) for group in cycles)
    assert not cycles, f"panel files that import each other (directly or in a ring):\n{shown}"


def test_a_ring_of_imports_is_found(tmp_path):
    (tmp_path / "dialogs").mkdir()
    (tmp_path / "a.ts").write_text("import { b } from './dialogs/b';\nexport const a = 1;\n")
    (tmp_path / "dialogs" / "b.tsx").write_text("import { c } from '../c';\nexport const b = 2;\n")
    (tmp_path / "c.ts").write_text("export { a } from './a';\nexport const c = 3;\n")
    (tmp_path / "d.ts").write_text("import { a } from './a';\n")
    assert ts_import_cycles(tmp_path) == [["a.ts", "c.ts", "dialogs/b.tsx"]]


def test_the_panels_folders_import_only_lower_layers():
    folders = {p.name for p in PANEL_SRC.iterdir() if p.is_dir()}
    assert folders == set().union(*PANEL_LAYERS), "a new folder: give it a layer in PANEL_LAYERS"
    wrong = ts_upward_imports(PANEL_SRC, PANEL_LAYERS)
    shown = "\n".join(wrong)
    assert not wrong, f"panel imports of a folder at the same or a higher layer:\n{shown}"


def test_an_upward_import_is_found(tmp_path):
    for folder in ("common", "runs", "results"):
        (tmp_path / folder).mkdir()
    (tmp_path / "common" / "api.ts").write_text("import { v } from '../runs/view';\n")
    (tmp_path / "runs" / "view.tsx").write_text("import { r } from '../results/r';\n")
    (tmp_path / "results" / "r.ts").write_text("import { a } from '../common/api';\n")
    (tmp_path / "index.ts").write_text("import { v } from './runs/view';\n")
    layers = [{"common"}, {"results"}, {"runs"}]
    assert ts_upward_imports(tmp_path, layers) == ["common/api.ts -> runs/view.tsx"]
