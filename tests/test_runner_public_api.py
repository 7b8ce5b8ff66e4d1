"""jupyter_dsp uses only kfp's public API (so that it works across kfp 2.x releases).

Every Python file of the package is parsed; the test fails on an import of a kfp module other
than the public ones, on an imported name or attribute that starts with ``_``, and on
``kfp.local`` names that are not in its top-level ``__all__``-style API.
"""

import ast
import importlib.util
from pathlib import Path

import jupyter_dsp

PACKAGE = Path(jupyter_dsp.__file__).resolve().parent
ALLOWED_MODULES = {
    "kfp",
    "kfp.dsl",
    "kfp.compiler",
    "kfp.client",
    "kfp.components",
    "kfp.local",
    "kfp.pipeline_spec.pipeline_spec_pb2",
}
ALLOWED_PARENTS = {"kfp.pipeline_spec": {"pipeline_spec_pb2"}}
KFP_LOCAL_PUBLIC = {"init", "SubprocessRunner", "DockerRunner"}


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _violations(path: Path, root: Path = PACKAGE.parent) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[str] = []
    aliases: dict[str, str] = {}  # local name -> kfp module it stands for
    where = path.relative_to(root)

    def check_module(module: str, line: int) -> None:
        if module.split(".")[0] != "kfp":
            return
        if module not in ALLOWED_MODULES and module not in ALLOWED_PARENTS:
            found.append(f"{where}:{line}: imports the kfp module {module}")
        if any(part.startswith("_") for part in module.split(".")):
            found.append(f"{where}:{line}: imports the private module {module}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                check_module(alias.name, node.lineno)
                if alias.name.startswith("kfp"):
                    aliases[alias.asname or alias.name.split(".")[0]] = (
                        alias.name if alias.asname else "kfp"
                    )
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "kfp":
                continue
            check_module(node.module, node.lineno)
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if alias.name.startswith("_"):
                    found.append(f"{where}:{node.lineno}: imports the private name {full}")
                elif full not in ALLOWED_MODULES and _is_module(full):
                    found.append(f"{where}:{node.lineno}: imports the kfp module {full}")
                if node.module in ALLOWED_PARENTS:
                    if alias.name not in ALLOWED_PARENTS[node.module]:
                        found.append(f"{where}:{node.lineno}: imports {full}")
                elif node.module == "kfp.local" and alias.name not in KFP_LOCAL_PUBLIC:
                    found.append(f"{where}:{node.lineno}: imports {full}")
                elif node.module == "kfp" and alias.name not in {
                    "dsl",
                    "compiler",
                    "client",
                    "components",
                    "local",
                    "Client",
                }:
                    found.append(f"{where}:{node.lineno}: imports {full}")
                aliases[alias.asname or alias.name] = full
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain = []
            current: ast.AST = node
            while isinstance(current, ast.Attribute):
                chain.append(current.attr)
                current = current.value
            if isinstance(current, ast.Name) and current.id in aliases:
                dotted = [aliases[current.id], *reversed(chain)]
                full = ".".join(dotted)
                if any(part.startswith("_") for part in chain):
                    found.append(f"{where}:{node.lineno}: uses the private name {full}")
                if full.startswith("kfp.local.") and full.split(".")[2] not in KFP_LOCAL_PUBLIC:
                    found.append(f"{where}:{node.lineno}: uses {full}")
    return sorted(set(found))


def test_no_private_kfp_name_in_the_package() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 50
    problems = [v for path in files for v in _violations(path)]
    assert not problems, "\n".join(problems)


def test_the_scanner_catches_private_use(tmp_path: Path) -> None:
    bad = tmp_path / "probe.py"
    bad.write_text(
        "from kfp.local import pipeline_orchestrator\n"
        "from kfp.dsl import _internal\n"
        "import kfp.local.orchestrator.task_executor\n"
        "from kfp import local\n"
        "local._private_thing()\n"
        "from kfp.compiler import pipeline_spec_builder\n"
    )
    problems = _violations(bad, tmp_path)
    text = "\n".join(problems)
    assert "kfp.local.pipeline_orchestrator" in text
    assert "kfp.dsl._internal" in text
    assert "kfp.local.orchestrator.task_executor" in text
    assert "local._private_thing" in text
    assert "kfp.compiler.pipeline_spec_builder" in text
    assert kfp_hooks_absent()


def kfp_hooks_absent() -> bool:
    return not (PACKAGE / "stack" / "runner" / "kfp_hooks.py").exists()
