"""Reading an uploaded pipeline package and validating it as a KFP PipelineSpec.

Accepted packages, as the KFP API server accepts them: a ``.yaml``/``.yml`` or ``.json``
file, or a zip or gzip'ed tarball holding one (``pipeline.yaml`` preferred). The content may
hold several YAML documents: exactly one PipelineSpec, and optionally a PlatformSpec
(``platforms: {kubernetes: ...}``). Both are checked against the ``kfp-pipeline-spec``
protos before anything is stored.

:func:`api_pipeline_spec` gives ``pipeline_spec`` the way KFP 2.17 returns it: the spec as
proto JSON, or ``{"pipeline_spec": ..., "platform_spec": ...}`` when a platform spec exists.
"""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from jupyter_dsp.stack.bounded_load import TooLarge, load_documents
from jupyter_dsp.stack.errors import invalid_argument, too_large

MAX_PACKAGE_BYTES = 32 * 1024 * 1024
SCHEMA_VERSION = "2.1.0"


@dataclass(frozen=True)
class ParsedSpec:
    """A validated package: the text kept whole, and what the API returns."""

    text: str
    pipeline_name: str
    api_spec: dict[str, Any]

    @property
    def api_spec_json(self) -> str:
        return json.dumps(self.api_spec, separators=(",", ":"))


def read_package(filename: str, data: bytes) -> str:
    """The pipeline text inside an uploaded file (raises a 400/413 ApiError)."""
    if len(data) > MAX_PACKAGE_BYTES:
        raise too_large(
            f"File size too large ({len(data)} bytes). Maximum supported size: {MAX_PACKAGE_BYTES}"
        )
    lower = filename.lower()
    if data[:2] == b"PK":
        content = _from_zip(data)
    elif data[:2] == b"\x1f\x8b":
        content = _from_tarball(data)
    elif lower.endswith((".yaml", ".yml", ".json")):
        content = data
    else:
        raise invalid_argument(
            f"Unexpected pipeline file format for {filename!r}."
            " Support .zip, .tar.gz, .json or YAML"
        )
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid_argument("The pipeline file is not UTF-8 text") from None


_Member = TypeVar("_Member", zipfile.ZipInfo, tarfile.TarInfo)


def _is_yaml_name(name: str) -> bool:
    return name.lower().endswith((".yaml", ".yml", ".json"))


def _chosen(files: list[tuple[str, int, _Member]], kind: str) -> _Member:
    """The archive member holding the pipeline (``pipeline.yaml``, else the first file), with
    KFP's refusals for an empty archive, a member that is no YAML and one too large. ``files``:
    (name, size, member) of each file; ``kind``: "zip" or "tarball", as KFP words it."""
    if not files:
        raise invalid_argument(f"Error extracting pipeline from the {kind} file. Empty {kind} file")
    name, size, member = next((f for f in files if f[0] == "pipeline.yaml"), files[0])
    if not _is_yaml_name(name):
        raise invalid_argument(
            f"Error extracting pipeline from the {kind} file. Expecting a pipeline.yaml file"
            f" inside the {kind}. Got: {name}"
        )
    if size > MAX_PACKAGE_BYTES:
        raise too_large(f"The pipeline file inside the {kind} is larger than 32 MB")
    return member


def _from_zip(data: bytes) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            files = [(m.filename, m.file_size, m) for m in archive.infolist() if not m.is_dir()]
            return archive.read(_chosen(files, "zip"))
    except (zipfile.BadZipFile, EOFError, OSError, RuntimeError, ValueError) as exc:
        raise invalid_argument(
            f"Error extracting pipeline from the zip file. Not a valid zip file: {exc}"
        ) from None


def _from_tarball(data: bytes) -> bytes:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            files = [(m.name, m.size, m) for m in archive.getmembers() if m.isfile()]
            handle = archive.extractfile(_chosen(files, "tarball"))
            if handle is None:
                raise invalid_argument("Error reading pipeline YAML from the tarball file")
            return handle.read()
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise invalid_argument(
            f"Error extracting pipeline from the tarball file. Not a valid tarball file: {exc}"
        ) from None


def _load_documents(text: str) -> list[Any]:
    try:
        return load_documents(text)
    except TooLarge as exc:  # refused while composing, before anything was expanded
        raise too_large(f"Invalid pipeline spec: {exc}") from None
    except yaml.YAMLError as exc:
        raise invalid_argument(f"Invalid pipeline spec: unable to decode YAML: {exc}") from None
    except RecursionError:
        raise invalid_argument("Invalid pipeline spec: the YAML is nested too deeply") from None


def _is_platform_doc(doc: dict[str, Any]) -> bool:
    return "platforms" in doc and "pipelineInfo" not in doc and "root" not in doc


def parse_pipeline_spec(text: str) -> ParsedSpec:
    """Validate pipeline text; raises a 400 ApiError that says what is wrong."""
    if not text.strip():
        raise invalid_argument("Invalid pipeline spec: the file is empty")
    docs = _load_documents(text)
    if not docs:
        raise invalid_argument("Invalid pipeline spec: the file holds no YAML document")
    spec: pipeline_spec_pb2.PipelineSpec | None = None
    platform: pipeline_spec_pb2.PlatformSpec | None = None
    for doc in docs:
        if not isinstance(doc, dict):
            raise invalid_argument(
                "Invalid pipeline spec: each YAML document must be a mapping,"
                f" not {type(doc).__name__}"
            )
        if _is_platform_doc(doc):
            if platform is not None:
                raise invalid_argument("Invalid platform spec: multiple platform specs provided")
            platform = _parse(doc, pipeline_spec_pb2.PlatformSpec(), "platform spec")
            continue
        if spec is not None:
            raise invalid_argument("Invalid pipeline spec: multiple pipeline specs provided")
        spec = _parse(doc, pipeline_spec_pb2.PipelineSpec(), "pipeline spec")
    if spec is None:
        raise invalid_argument("Invalid pipeline spec: no pipeline spec is provided")
    _check_spec(spec)
    api_spec: dict[str, Any] = json_format.MessageToDict(spec)
    if platform is not None and "kubernetes" in platform.platforms:
        api_spec = {"pipeline_spec": api_spec, "platform_spec": json_format.MessageToDict(platform)}
    return ParsedSpec(text=text, pipeline_name=spec.pipeline_info.name, api_spec=api_spec)


def _parse(doc: dict[str, Any], message: Any, what: str) -> Any:
    try:
        json_format.ParseDict(doc, message)
    except (json_format.ParseError, TypeError, ValueError) as exc:
        raise invalid_argument(f"Invalid {what}: {_first_line(str(exc))}") from None
    except RecursionError:
        raise invalid_argument(f"Invalid {what}: nested too deeply") from None
    return message


def _first_line(message: str) -> str:
    """protobuf lists every available field after the first line; keep the point."""
    return message.split("\n", 1)[0].strip()


def _check_spec(spec: pipeline_spec_pb2.PipelineSpec) -> None:
    if spec.schema_version != SCHEMA_VERSION:
        raise invalid_argument(
            f"Invalid pipeline spec: KFP only supports schema version {SCHEMA_VERSION},"
            f" but the pipeline spec has version {spec.schema_version!r}"
        )
    if not spec.pipeline_info.name:
        raise invalid_argument("Invalid pipeline spec: pipelineInfo.name is empty")
    if not spec.HasField("root"):
        raise invalid_argument("Invalid pipeline spec: root component is empty")


def parse_upload(filename: str, data: bytes) -> ParsedSpec:
    """Read and validate an uploaded package (CPU-bound: call it from a thread)."""
    return parse_pipeline_spec(read_package(filename, data))
