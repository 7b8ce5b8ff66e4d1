"""Packaging: no private kfp name is used anywhere in the package, and the kfp requirement is
the range workbench images need (the ODH fit itself is .ci/check_odh_fit.py, run by .ci/run).
"""

import ast
import sys
from pathlib import Path

from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jupyter_dsp"

# kfp modules with a documented public API (the SDK reference); anything else under kfp is
# an internal module (e.g. kfp.local.pipeline_orchestrator) even without an underscore.
PUBLIC_KFP_MODULES = {
    "kfp",
    "kfp.client",
    "kfp.compiler",
    "kfp.components",
    "kfp.dsl",
    "kfp.dsl.executor_main",  # the entry point compiled components run (python -m)
    "kfp.local",
    "kfp.pipeline_spec",
    "kfp.pipeline_spec.pipeline_spec_pb2",  # the IR protos (kfp-pipeline-spec)
    "kfp.registry",
    "kfp_server_api",
    "kfp_server_api.exceptions",
}


def _kfp_uses(path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every kfp import and kfp.* attribute chain in a module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                (node.lineno, a.name)
                for a in node.names
                if a.name.split(".")[0] in ("kfp", "kfp_server_api")
            ]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] in ("kfp", "kfp_server_api"):
                for alias in node.names:
                    found.append((node.lineno, f"{node.module}:{alias.name}"))
    return found


def _problem(name: str) -> str | None:
    module, _, member = name.partition(":")
    parts = module.split(".") + ([member] if member else [])
    if any(part.startswith("_") for part in parts):
        return "private name"
    if module in PUBLIC_KFP_MODULES:
        if member and f"{module}.{member}" not in PUBLIC_KFP_MODULES and member.islower():
            # `from kfp.local import pipeline_orchestrator`: a submodule, not a public name
            import importlib.util

            if importlib.util.find_spec(f"{module}.{member}") is not None:
                return "internal module"
        return None
    return "internal module"


def test_no_private_or_internal_kfp_names_in_the_package() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for line, name in _kfp_uses(path):
            problem = _problem(name)
            if problem:
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {name} ({problem})")
    assert offenders == [], "\n".join(offenders)


def test_the_checker_catches_internal_names(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text(
        "from kfp.local import pipeline_orchestrator\n"
        "from kfp.dsl import _component_decorator\n"
        "import kfp.local.executor_input_utils\n"
        "from kfp import dsl, local\n"
        "from kfp.pipeline_spec import pipeline_spec_pb2\n"
    )
    problems = {name: _problem(name) for _, name in _kfp_uses(sample)}
    assert problems == {
        "kfp.local:pipeline_orchestrator": "internal module",
        "kfp.dsl:_component_decorator": "private name",
        "kfp.local.executor_input_utils": "internal module",
        "kfp:dsl": None,
        "kfp:local": None,
        "kfp.pipeline_spec:pipeline_spec_pb2": None,
    }


def test_kfp_requirement_is_the_workbench_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = {Requirement(r).name.lower(): Requirement(r) for r in project["dependencies"]}
    kfp = requirements["kfp"].specifier
    for version in ("2.14.1", "2.14.6", "2.15.0", "2.17.3", "2.99.0"):
        assert kfp.contains(version), version
    assert not kfp.contains("2.13.0") and not kfp.contains("3.0.0")
    spec = requirements["kfp-pipeline-spec"].specifier
    assert spec.contains("2.14.0") and spec.contains("2.17.3")  # kfp 2.14.3 pins ==2.14.0
    # nothing narrower than kfp's own needs for what a workbench carries
    assert requirements["urllib3"].specifier.contains("1.26.20")
    assert requirements["kubernetes"].specifier.contains("30.1.0")
