"""The project's ML Metadata messages: the checked-in descriptors are what protoc makes of the
.proto files, and messages cross between ml-metadata's real classes and ours unchanged (same
names, field numbers and types), in one process with both loaded."""

from __future__ import annotations

import pytest
from google.protobuf import json_format

from jupyter_dsp.results.mlmd import proto as pb


def test_checked_in_descriptors_match_the_proto_files():
    pytest.importorskip(
        "grpc_tools.protoc",
        reason="grpcio-tools is not installed (pip install grpcio-tools): the descriptors "
        "cannot be remade to compare",
    )
    from jupyter_dsp.results.mlmd.proto.generate import compile_descriptors, same

    made = compile_descriptors()
    assert same(pb.DESCRIPTORS.read_bytes(), made), (
        "descriptors.binpb is stale: run python -m jupyter_dsp.results.mlmd.proto.generate"
    )


def _real() -> tuple:
    store = pytest.importorskip(
        "ml_metadata.proto.metadata_store_pb2",
        reason="ml-metadata is not installed (wheels for CPython <= 3.11): "
        "pip install --no-deps ml-metadata==1.17.1",
    )
    from ml_metadata.proto import metadata_store_service_pb2 as service

    return store, service


def test_every_field_is_ml_metadatas_own():
    """Each message and field here exists in ml-metadata with the same number, type and label,
    and each enum value with the same number."""
    store, _ = _real()
    real_pool = store.DESCRIPTOR.pool
    checked = 0
    for name in pb.PROTO_FILES:
        for msg in pb.POOL.FindFileByName(name).message_types_by_name.values():
            stack = [msg]
            while stack:
                ours = stack.pop()
                theirs = real_pool.FindMessageTypeByName(ours.full_name)
                for field in ours.fields:
                    real_field = theirs.fields_by_name[field.name]
                    assert (field.number, field.type, field.label) == (
                        real_field.number,
                        real_field.type,
                        real_field.label,
                    ), f"{ours.full_name}.{field.name}"
                    if field.message_type is not None:
                        assert field.message_type.full_name == real_field.message_type.full_name
                    checked += 1
                for enum in ours.enum_types:
                    real_enum = theirs.enum_types_by_name[enum.name]
                    for value in enum.values:
                        assert real_enum.values_by_name[value.name].number == value.number
                stack.extend(ours.nested_types)
    assert checked > 80
    service = pb.POOL.FindServiceByName(pb.SERVICE)
    real_service = real_pool.FindServiceByName(pb.SERVICE)
    for method in service.methods:
        real_method = real_service.methods_by_name[method.name]
        assert method.input_type.full_name == real_method.input_type.full_name
        assert method.output_type.full_name == real_method.output_type.full_name


def _execution(store):  # as KFP's launcher writes one, with ml-metadata's classes
    e = store.Execution(
        id=41, type_id=7, type="system.ContainerExecution", name="run/x", last_known_state=5
    )
    e.custom_properties["task_name"].string_value = "train"
    e.custom_properties["parent_dag_id"].int_value = 40
    e.custom_properties["ratio"].double_value = 0.25
    e.custom_properties["flag"].bool_value = True
    e.custom_properties["inputs"].struct_value.update({"lr": 0.1, "ls": [1, 2], "o": {"k": "v"}})
    e.properties["p"].int_value = -3
    e.create_time_since_epoch = 1700000000123
    return e


def _artifact(store):
    a = store.Artifact(id=9, type_id=3, uri="minio://b/k", state=store.Artifact.LIVE, name="m")
    a.custom_properties["display_name"].string_value = "model"
    a.custom_properties["metrics"].struct_value.update({"struct": {"accuracy": 0.9}})
    return a


def _event(store):
    ev = store.Event(artifact_id=9, execution_id=41, type=store.Event.OUTPUT)
    ev.path.steps.add().key = "model"
    ev.path.steps.add().index = 2
    return ev


def test_real_messages_parse_identically_with_ours():
    store, service = _real()
    real_messages = {
        "Execution": _execution(store),
        "Artifact": _artifact(store),
        "Event": _event(store),
        "Context": store.Context(id=2, name="run-1", type_id=1, type="system.PipelineRun"),
        "ArtifactType": store.ArtifactType(id=3, name="system.Model", version="0.0.1"),
        "ExecutionType": store.ExecutionType(id=7, name="system.DAGExecution"),
    }
    real_messages["Context"].custom_properties["namespace"].string_value = "team-a"
    for name, real in real_messages.items():
        ours = getattr(pb, name).FromString(real.SerializeToString())
        assert json_format.MessageToDict(ours) == json_format.MessageToDict(real), name
        back = type(real).FromString(ours.SerializeToString())
        assert back == real, name
    # answers as the store sends them, and requests as we send them, byte for byte
    answer = service.GetExecutionsByContextResponse(executions=[_execution(store)] * 3)
    ours = pb.response("GetExecutionsByContext").FromString(answer.SerializeToString())
    assert [e.custom_properties["task_name"].string_value for e in ours.executions] == ["train"] * 3
    assert pb.enum_name(pb.Execution, "State", ours.executions[0].last_known_state) == "CACHED"
    requests = {
        "GetContextByTypeAndName": {"type_name": "system.PipelineRun", "context_name": "r"},
        "GetExecutionsByContext": {"context_id": 5},
        "GetEventsByExecutionIDs": {"execution_ids": [1, 2, 3]},
        "GetEventsByArtifactIDs": {"artifact_ids": [4]},
        "GetArtifactsByID": {"artifact_ids": [7, 8]},
        "GetContextsByArtifact": {"artifact_id": 7},
        "GetArtifactTypesByID": {"type_ids": [1]},
        "GetExecutionTypesByID": {"type_ids": [2]},
    }
    assert set(requests) == set(pb.METHODS)
    for rpc, fields in requests.items():
        real_request = getattr(service, f"{rpc}Request")(**fields)
        wire = pb.request(rpc, **fields).SerializeToString(deterministic=True)
        assert wire == real_request.SerializeToString(deterministic=True), rpc


def test_ours_and_ml_metadatas_live_in_one_process():
    """ml-metadata's generated modules in the default pool, ours in a pool of their own."""
    store, _ = _real()
    from google.protobuf import descriptor_pool

    default = descriptor_pool.Default()
    assert default.FindMessageTypeByName("ml_metadata.Artifact") is store.Artifact.DESCRIPTOR
    assert pb.Artifact.DESCRIPTOR.file.pool is pb.POOL is not default
    assert pb.Artifact is not store.Artifact
