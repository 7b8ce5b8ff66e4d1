"""ML Metadata's messages and gRPC service, from message definitions this project owns.

``ml_metadata/proto/metadata_store.proto`` and ``metadata_store_service.proto`` beside this
file are the subset of ML Metadata's public protos that the reader needs: same file names,
package (``ml_metadata``), message names and field numbers, so what goes over the wire is what
ML Metadata sends and expects. ``descriptors.binpb`` is what grpcio-tools' protoc makes of them
(a ``FileDescriptorSet``; ``python -m jupyter_dsp.results.mlmd.proto.generate`` remakes it,
and tests/test_mlmd_proto.py checks it matches the .proto files).

Why a descriptor set in a pool of its own, not generated ``_pb2`` modules in the default pool:

- generated ``_pb2`` modules register their files in protobuf's default descriptor pool, and
  so does the ml-metadata package wherever it is installed (the tests serve its real store, a
  workbench may have it). The default pool then refuses the second definition: measured with
  ml-metadata 1.17.1 imported first, our ``metadata_store_pb2`` fails with "duplicate file name
  ml_metadata/proto/metadata_store.proto", and the same content under another file name with
  "duplicate symbol 'ml_metadata.PropertyType'". Built here in a ``DescriptorPool()`` of their
  own, our messages live beside ml-metadata's in one process; they only meet as bytes.
- generated ``_pb2`` modules also pin a protobuf runtime floor (grpcio-tools 1.81 writes
  ``ValidateProtobufRuntimeVersion(PUBLIC, 6, 33, 5)``, above kfp 2.14.3's protobuf floor); a
  descriptor set has none, and ``message_factory.GetMessageClass`` works on every protobuf of
  kfp's range.

The stub speaks through ``channel.unary_unary`` with serializer and deserializer (grpc's generic
API), so it works over a ``grpc.Channel`` and over :class:`~jupyter_dsp.results.mlmd.grpcweb.
GrpcWebChannel` alike; ``add_to_server`` serves a servicer with the same method table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory, struct_pb2

HERE = Path(__file__).resolve().parent
DESCRIPTORS = HERE / "descriptors.binpb"
PROTO_FILES = (
    "ml_metadata/proto/metadata_store.proto",
    "ml_metadata/proto/metadata_store_service.proto",
)
SERVICE = "ml_metadata.MetadataStoreService"


def _build_pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    for wkt in (any_pb2, struct_pb2):  # the well-known types, as this protobuf defines them
        pool.AddSerializedFile(wkt.DESCRIPTOR.serialized_pb)
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTORS.read_bytes())
    for f in files.file:
        pool.AddSerializedFile(f.SerializeToString())
    return pool


POOL = _build_pool()


def message_class(full_name: str) -> Any:
    """The message class of ``full_name`` (e.g. ``ml_metadata.Artifact``) in our pool."""
    desc = POOL.FindMessageTypeByName(full_name)
    get = getattr(message_factory, "GetMessageClass", None)
    if get is not None:
        return get(desc)
    return message_factory.MessageFactory(POOL).GetPrototype(desc)  # protobuf < 4.22


Value = message_class("ml_metadata.Value")
Artifact = message_class("ml_metadata.Artifact")
ArtifactType = message_class("ml_metadata.ArtifactType")
Event = message_class("ml_metadata.Event")
Execution = message_class("ml_metadata.Execution")
ExecutionType = message_class("ml_metadata.ExecutionType")
Context = message_class("ml_metadata.Context")

_service = POOL.FindServiceByName(SERVICE)
# RPC name -> (request class, response class)
METHODS: dict[str, tuple[Any, Any]] = {
    m.name: (message_class(m.input_type.full_name), message_class(m.output_type.full_name))
    for m in _service.methods
}


def request(rpc: str, **fields: Any) -> Any:
    """The request message of ``rpc`` (e.g. ``request("GetArtifactsByID", artifact_ids=[1])``)."""
    return METHODS[rpc][0](**fields)


def response(rpc: str, **fields: Any) -> Any:
    return METHODS[rpc][1](**fields)


def enum_name(message: Any, enum: str, number: int) -> str:
    """The name of ``number`` in ``message``'s nested enum ``enum`` (``""`` when unknown)."""
    values = message.DESCRIPTOR.enum_types_by_name[enum].values_by_number
    return values[number].name if number in values else ""


class MetadataStoreStub:
    """Callables for the RPCs above on a channel (``grpc.Channel`` or ``GrpcWebChannel``)."""

    def __init__(self, channel: Any) -> None:
        for name, (req, resp) in METHODS.items():
            call = channel.unary_unary(
                f"/{SERVICE}/{name}",
                request_serializer=req.SerializeToString,
                response_deserializer=resp.FromString,
            )
            setattr(self, name, call)


def add_to_server(server: Any, servicer: Any) -> None:
    """Serve ``servicer``'s methods (named as the RPCs, ``(request, context) -> response``) on a
    ``grpc.server``."""
    import grpc  # type: ignore[import-untyped]

    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, name),
            request_deserializer=req.FromString,
            response_serializer=resp.SerializeToString,
        )
        for name, (req, resp) in METHODS.items()
        if hasattr(servicer, name)
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
