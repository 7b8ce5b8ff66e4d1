"""Turn a pipeline function, a ``.py`` file or a compiled YAML/JSON file into pipeline IR."""

from __future__ import annotations

import os
import runpy
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from jupyter_dsp.client.errors import ArgumentError
from jupyter_dsp.client.params import Parameter, root_parameters

# libyaml when present: pure-Python YAML costs more than the HTTP round trips of an upload.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

PY_SUFFIXES = (".py",)
IR_SUFFIXES = (".yaml", ".yml", ".json")
NOTEBOOK_SUFFIXES = (".ipynb",)  # a notebook runs as a one-step pipeline
SOURCE_SUFFIXES = PY_SUFFIXES + IR_SUFFIXES + NOTEBOOK_SUFFIXES


def is_pipeline_function(obj: Any) -> bool:
    """True for ``@dsl.pipeline`` functions and components (one-step pipelines)."""
    try:
        from kfp.components import BaseComponent
    except ImportError:  # pragma: no cover - kfp is a hard dependency
        return False
    return isinstance(obj, BaseComponent)


@dataclass
class CompiledPipeline:
    """A pipeline's IR: the pipeline spec and, when present, its Kubernetes platform spec."""

    spec: dict[str, Any]
    platform_spec: dict[str, Any] | None = None
    source: str = ""
    path: Path | None = field(default=None, compare=False)
    text: str | None = field(default=None, repr=False, compare=False)  # as read, if from a file

    @property
    def name(self) -> str:
        return str((self.spec.get("pipelineInfo") or {}).get("name") or "")

    @property
    def description(self) -> str:
        return str((self.spec.get("pipelineInfo") or {}).get("description") or "")

    @property
    def parameters(self) -> dict[str, Parameter]:
        return root_parameters(self.spec)

    @property
    def task_names(self) -> list[str]:
        return list(((self.spec.get("root") or {}).get("dag") or {}).get("tasks") or {})

    def to_yaml(self) -> str:
        if self.text is not None:
            return self.text
        docs = [self.spec] + ([self.platform_spec] if self.platform_spec else [])
        return yaml.dump_all(docs, Dumper=_DUMPER, sort_keys=True)

    def write(self, path: str | os.PathLike[str]) -> Path:
        target = Path(path).expanduser()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.to_yaml(), encoding="utf-8")
        self.path = target
        return target

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self._text())

    def _text(self) -> str:
        params = ", ".join(x.describe() for x in self.parameters.values()) or "none"
        where = f" -> {self.path}" if self.path else ""
        return (
            f"Compiled pipeline {self.name!r}{where}\n"
            f"  tasks: {len(self.task_names)}  parameters: {params}"
        )

    def _repr_html_(self) -> str:
        from jupyter_dsp.client.render import compiled_html

        return compiled_html(self)


def _from_documents(docs: list[Any], source: str) -> CompiledPipeline:
    docs = [d for d in docs if d is not None]
    if not docs or not isinstance(docs[0], dict):
        raise ArgumentError(f"{source} is empty or not a compiled KFP pipeline.")
    spec = docs[0]
    if "pipeline_spec" in spec and "root" not in spec:  # {pipeline_spec, platform_spec} shape
        return CompiledPipeline(spec["pipeline_spec"], spec.get("platform_spec"), source)
    if "root" not in spec or not (spec.get("pipelineInfo") or {}).get("name"):
        raise ArgumentError(
            f"{source} is not a compiled KFP pipeline (no root or pipelineInfo.name); "
            "compile it with `%dsp compile`."
        )
    _check_schema(spec, source)
    platform = docs[1] if len(docs) > 1 and isinstance(docs[1], dict) else None
    return CompiledPipeline(spec, platform, source)


def _check_schema(spec: dict[str, Any], source: str) -> None:
    """Reject what the KFP pipeline-spec schema rejects (unknown fields, wrong shapes)."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    try:
        json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    except json_format.ParseError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid"
        raise ArgumentError(f"{source} is not a valid KFP pipeline spec: {first}") from None


def load_ir(path: str | os.PathLike[str]) -> CompiledPipeline:
    """Read a compiled pipeline (YAML or JSON; a platform spec may follow as a 2nd document)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ArgumentError(f"No such file: {str(file)!r}.")
    try:
        text = file.read_text(encoding="utf-8")
        docs = list(yaml.load_all(text, Loader=_LOADER))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ArgumentError(f"{file} is not valid YAML: {first}.") from None
    result = _from_documents(docs, str(file))
    result.path = file
    result.text = text
    return result


def from_spec_dict(spec: dict[str, Any], source: str = "stack") -> CompiledPipeline:
    """Build from a pipeline version's ``pipeline_spec`` as the API returns it."""
    return _from_documents([spec], source)


# KFP >= 2.15 warns on every @dsl.component without base_image that its default will change
# in 2027: a pink box under every component cell. Only that message is hidden.
BASE_IMAGE_WARNING = r"The default base_image used by the @dsl\.component decorator will switch"


def hide_base_image_warning() -> None:
    """Ignore KFP's FutureWarning about the default ``base_image`` (that message only)."""
    warnings.filterwarnings("ignore", message=BASE_IMAGE_WARNING, category=FutureWarning)


def pipelines_in_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Execute a ``.py`` file and return its pipeline functions by name."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ArgumentError(f"No such file: {str(file)!r}.")
    try:
        with warnings.catch_warnings():
            hide_base_image_warning()
            namespace = runpy.run_path(str(file), run_name=f"dsp_pipeline_{file.stem}")
    except SyntaxError as exc:
        raise ArgumentError(f"{file} has a syntax error on line {exc.lineno}: {exc.msg}.") from None
    found = {
        k: v for k, v in namespace.items() if not k.startswith("_") and is_pipeline_function(v)
    }
    graphs = {k: v for k, v in found.items() if type(v).__name__ == "GraphComponent"}
    return graphs or found


def _pick_function(path: str, function: str | None) -> Any:
    found = pipelines_in_file(path)
    if function:
        if function not in found:
            names = ", ".join(sorted(found)) or "none"
            raise ArgumentError(f"{path} has no pipeline {function!r} (found: {names}).")
        return found[function]
    if not found:
        raise ArgumentError(f"{path} defines no @dsl.pipeline function.")
    if len(found) > 1:
        names = ", ".join(sorted(found))
        raise ArgumentError(f"{path} defines several pipelines ({names}): pick one as {path}:NAME.")
    return next(iter(found.values()))


def split_file_function(text: str) -> tuple[str, str | None]:
    """``"dir/p.py:train"`` → ``("dir/p.py", "train")``."""
    head, sep, tail = text.rpartition(":")
    if sep and head.endswith(PY_SUFFIXES) and tail.isidentifier():
        return head, tail
    return text, None


def compile_function(func: Any, output: str | os.PathLike[str] | None = None) -> CompiledPipeline:
    """Compile a pipeline function with ``kfp.compiler``; write it to ``output`` when given."""
    from kfp import compiler

    if not is_pipeline_function(func):
        raise ArgumentError(
            f"{getattr(func, '__name__', func)!r} is not a @dsl.pipeline function or component."
        )
    with tempfile.TemporaryDirectory(prefix="dsp-compile-") as tmp:
        package = Path(tmp) / "pipeline.yaml"
        try:
            compiler.Compiler().compile(pipeline_func=func, package_path=str(package))
        except Exception as exc:  # the DSL reports user mistakes with many exception types
            name = getattr(func, "name", None) or getattr(func, "__name__", "pipeline")
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ArgumentError(f"Compiling {name!r} failed: {first}") from exc
        result = load_ir(package)
    result.source = getattr(func, "name", "") or "function"
    result.path = None
    if output is not None:
        result.write(output)
    return result


def compile_source(
    source: Any, output: str | os.PathLike[str] | None = None, image: str | None = None
) -> CompiledPipeline:
    """Compile a pipeline function, a ``.py`` file (``file.py[:NAME]``) or a notebook, or load
    a YAML/JSON file. ``image`` (a notebook only): the runtime image's name or the image
    reference its step runs on, instead of the notebook's own choice."""
    if image is not None and not _is_notebook(source):
        raise ArgumentError(
            "An image is chosen here for a notebook (.ipynb) only: a component names its own, "
            "@dsl.component(base_image=...)."
        )
    if is_pipeline_function(source):
        return compile_function(source, output)
    if isinstance(source, CompiledPipeline):
        if output is not None:
            source.write(output)
        return source
    if isinstance(source, str | os.PathLike):
        text, function = split_file_function(os.fspath(source))
        lower = text.lower()
        if lower.endswith(PY_SUFFIXES):
            return compile_function(_pick_function(text, function), output)
        if lower.endswith(NOTEBOOK_SUFFIXES):
            from jupyter_dsp.notebooks import NotebookSignatureError, NotebookTooLarge
            from jupyter_dsp.notebooks.pipeline import notebook_pipeline
            from jupyter_dsp.notebooks.runtime_images import image_for

            try:
                base_image = image_for(image) if image else None
                func = notebook_pipeline(text, base_image=base_image)
            except (NotebookSignatureError, NotebookTooLarge, FileNotFoundError) as exc:
                raise ArgumentError(str(exc)) from None
            return compile_function(func, output)
        if lower.endswith(IR_SUFFIXES):
            result = load_ir(text)
            if output is not None:
                result.write(output)
            return result
        raise ArgumentError(
            f"Cannot compile {text!r}: give a pipeline function, a .py, .yaml or .ipynb file."
        )
    raise ArgumentError(
        f"Cannot compile a {type(source).__name__}: "
        "give a pipeline function, a .py or a .yaml file."
    )


def _is_notebook(source: Any) -> bool:
    if not isinstance(source, str | os.PathLike):
        return False
    path, _ = split_file_function(os.fspath(source))
    return path.lower().endswith(NOTEBOOK_SUFFIXES)
