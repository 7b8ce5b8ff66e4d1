"""The ``pip install`` prologue of compiled lightweight Python components.

A compiled step's command looks like::

    sh -c "<ensurepip>; python3 -m pip install 'kfp==X' [packages...] && \"$0\" \"$@\""
    sh -ec "<write the function to a file; python3 -m kfp.dsl.executor_main ...>"
    "<the function's source>" <args...>

The first three items only install packages and then exec the rest. Locally the stack never
changes the environment, so :func:`strip_prologue` drops them and the step runs with the kfp
that is installed; :func:`prologue_packages` tells which packages a step would have installed
besides kfp, so that such a step is refused with their names.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from packaging.markers import InvalidMarker
from packaging.requirements import InvalidRequirement, Requirement

_EXEC_REST = re.compile(r'"\$0"\s+"\$@"\s*$')
# pip options that take a value (the value is not a requirement).
_OPTIONS_WITH_VALUE = {
    "-i",
    "--index-url",
    "--extra-index-url",
    "--trusted-host",
    "-f",
    "--find-links",
    "-c",
    "--constraint",
    "-r",
    "--requirement",
    "--target",
    "-t",
    "--prefix",
    "--root",
    "--platform",
    "--python-version",
    "--implementation",
    "--abi",
    "--upgrade-strategy",
    "--progress-bar",
    "--cache-dir",
    "--src",
}


@dataclass(frozen=True)
class Prologue:
    """What the first items of a step's command do."""

    present: bool  # the command starts with an install prologue
    strippable: bool  # it has the standard form that ends by running the rest
    packages: tuple[str, ...]  # requirements besides kfp (markers evaluated here)


def _pip_segments(script: str) -> list[list[str]]:
    """The arguments of every ``pip install`` in a shell script."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:
        tokens = script.split()
    segments: list[list[str]] = []
    current: list[str] | None = None
    for previous, token in zip([""] + tokens[:-1], tokens, strict=True):
        if current is not None:
            if token and all(ch in "();<>|&" for ch in token):
                segments.append(current)
                current = None
            else:
                current.append(token)
        elif previous == "pip" and token == "install":
            current = []
    if current is not None:
        segments.append(current)
    return segments


def _requirements(tokens: list[str]) -> list[str]:
    found: list[str] = []
    skip_next = False
    for token in tokens:
        if skip_next:
            skip_next = False
            continue
        if token.startswith("-"):
            if token in _OPTIONS_WITH_VALUE:
                skip_next = True
            continue
        found.append(token)
    return found


def _needed(requirement: str) -> str | None:
    """The requirement if this environment would need it, else None (kfp, markers false)."""
    try:
        req = Requirement(requirement)
    except (InvalidRequirement, InvalidMarker):
        return requirement  # a URL, a path...: not something we can satisfy
    if req.marker is not None and not req.marker.evaluate():
        return None
    if req.name.lower().replace("_", "-") == "kfp":
        return None
    return requirement


def read_prologue(full_command: list[str]) -> Prologue:
    """Analyse the start of a step's ``command + args``."""
    if len(full_command) < 3 or full_command[0] != "sh" or full_command[1] != "-c":
        return Prologue(present=False, strippable=True, packages=())
    script = full_command[2]
    if "pip install" not in script:
        return Prologue(present=False, strippable=True, packages=())
    packages: list[str] = []
    for segment in _pip_segments(script):
        for requirement in _requirements(segment):
            needed = _needed(requirement)
            if needed is not None and needed not in packages:
                packages.append(needed)
    strippable = bool(_EXEC_REST.search(script)) and len(full_command) > 3
    return Prologue(present=True, strippable=strippable, packages=tuple(packages))


def strip_prologue(full_command: list[str]) -> list[str]:
    """The command without its install prologue (unchanged when it has none).

    Raises ``ValueError`` when the prologue would install more than kfp or has an unknown form.
    """
    prologue = read_prologue(full_command)
    if not prologue.present:
        return list(full_command)
    if prologue.packages:
        raise ValueError(
            "the step installs packages that the embedded stack does not install: "
            + ", ".join(prologue.packages)
        )
    if not prologue.strippable:
        raise ValueError("the step's install prologue has a form the embedded stack cannot skip")
    return list(full_command[3:])


def without_prologues(pipeline_spec: dict) -> dict:
    """A copy of a PipelineSpec whose lightweight steps no longer install anything.

    Raises ``ValueError`` like :func:`strip_prologue` for a step that needs more than kfp.
    """
    import copy

    spec = copy.deepcopy(pipeline_spec)
    executors = (spec.get("deploymentSpec") or {}).get("executors") or {}
    for executor in executors.values():
        container = executor.get("container") if isinstance(executor, dict) else None
        if not isinstance(container, dict):
            continue
        command = [str(x) for x in container.get("command") or []]
        stripped = strip_prologue(command + [str(x) for x in container.get("args") or []])
        removed = len(command) + len(container.get("args") or []) - len(stripped)
        container["command"] = command[removed:]
    return spec
