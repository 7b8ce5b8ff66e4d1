"""Record a pipeline run in an ML Metadata store the way KFP 2.17's driver and launcher do
(backend/src/v2/metadata/client.go, converter.go), and put its artifacts' bytes in S3.

The store is ml-metadata's ``MetadataStore`` (its messages are ml-metadata's classes) or the
test-built :class:`mlmd_memory_store.MemoryMetadataStore` (its ``messages``: the project's own)."""

from __future__ import annotations

import json
from typing import Any

STORE_SESSION = json.dumps(
    {
        "Provider": "minio",
        "Params": {
            "accessKeyKey": "accesskey",
            "disableSSL": "true",
            "endpoint": "minio-service.kubeflow:9000",
            "fromEnv": "false",
            "region": "minio",
            "secretKeyKey": "secretkey",
            "secretName": "mlpipeline-minio-artifact",
        },
    }
)


def messages_of(store: Any) -> Any:
    """The message classes ``store`` takes."""
    found = getattr(store, "messages", None)
    if found is not None:
        return found
    from ml_metadata.proto import metadata_store_pb2

    return metadata_store_pb2


def mlmd_value(pb: Any, value: Any) -> Any:
    """StructValueToMLMDValue: number -> double, bool -> int, str -> string,
    list -> {"list": [...]}, dict -> {"struct": {...}}."""
    if isinstance(value, bool):
        return pb.Value(int_value=int(value))
    if isinstance(value, (int, float)):
        return pb.Value(double_value=float(value))
    if isinstance(value, str):
        return pb.Value(string_value=value)
    out = pb.Value()
    out.struct_value.update({"list" if isinstance(value, list) else "struct": value})
    return out


def struct(pb: Any, values: dict[str, Any]) -> Any:
    out = pb.Value()
    out.struct_value.SetInParent()  # an empty struct is a struct (a Value without one aborts)
    out.struct_value.update(values)
    return out


class KfpRunRecorder:
    def __init__(
        self, store: Any, s3: Any, bucket: str, pipeline: str, run_id: str, namespace: str
    ) -> None:
        pb = messages_of(store)
        self.pb, self.store, self.s3, self.bucket = pb, store, s3, bucket
        self.run_id = run_id
        self.root_uri = f"minio://{bucket}/v2/artifacts/{pipeline}/{run_id}"
        ctx_types = {}
        for name in ("system.Pipeline", "system.PipelineRun"):
            ctx_types[name] = store.put_context_type(pb.ContextType(name=name), can_add_fields=True)
        self.exec_types = {
            name: store.put_execution_type(pb.ExecutionType(name=name))
            for name in ("system.DAGExecution", "system.ContainerExecution")
        }
        found = store.get_context_by_type_and_name("system.Pipeline", pipeline)
        if found is None:
            [pid] = store.put_contexts(
                [pb.Context(type_id=ctx_types["system.Pipeline"], name=pipeline)]
            )
            found = store.get_contexts_by_id([pid])[0]
        self.pipeline_ctx = found
        run = pb.Context(type_id=ctx_types["system.PipelineRun"], name=run_id)
        for key, val in (
            ("namespace", namespace),
            ("resource_name", f"{pipeline}-{run_id[:5]}"),
            ("pipeline_root", f"minio://{bucket}/v2/artifacts/{pipeline}/{run_id}"),
            ("store_session_info", STORE_SESSION),
        ):
            run.custom_properties[key].string_value = val
        [rid] = store.put_contexts([run])
        self.run_ctx = store.get_contexts_by_id([rid])[0]
        store.put_parent_contexts(
            [pb.ParentContext(child_id=self.run_ctx.id, parent_id=self.pipeline_ctx.id)]
        )

    def create(
        self,
        kind: str,
        task_name: str,
        *,
        parent: int | None = None,
        inputs: dict[str, Any] | None = None,
        input_artifacts: dict[str, list[int]] | None = None,
        iteration_index: int | None = None,
        iteration_count: int | None = None,
        name: str | None = None,
        state: str = "RUNNING",
        extra: dict[str, Any] | None = None,
    ) -> int:
        """CreateExecution: display_name/task_name, parent_dag_id, iteration, inputs struct,
        INPUT events named by the input's name; attributed to both contexts."""
        pb = self.pb
        e = pb.Execution(type_id=self.exec_types[f"system.{kind}Execution"])
        if name:
            e.name = name
        e.custom_properties["display_name"].string_value = task_name
        e.custom_properties["task_name"].string_value = task_name
        e.last_known_state = pb.Execution.State.Value(state)
        if parent:
            e.custom_properties["parent_dag_id"].int_value = parent
        if iteration_index is not None:
            e.custom_properties["iteration_index"].int_value = iteration_index
        if iteration_count is not None:
            e.custom_properties["iteration_count"].int_value = iteration_count
        if kind == "Container":
            for key, val in (
                ("pod_name", f"{task_name}-pod"),
                ("pod_uid", "uid"),
                ("namespace", "ns"),
                ("image", "python:3.11"),
            ):
                e.custom_properties[key].string_value = val
        if inputs is not None:
            e.custom_properties["inputs"].CopyFrom(struct(pb, inputs))
        for key, val in (extra or {}).items():
            e.custom_properties[key].CopyFrom(val)
        pairs = []
        for art_name, ids in (input_artifacts or {}).items():
            for aid in ids:
                ev = pb.Event(type=pb.Event.INPUT, artifact_id=aid)
                ev.path.steps.add().key = art_name
                pairs.append((self.store.get_artifacts_by_id([aid])[0], ev))
        eid, _, _ = self.store.put_execution(e, pairs, [self.pipeline_ctx, self.run_ctx])
        return eid

    def publish(
        self,
        eid: int,
        outputs: dict[str, Any] | None = None,
        artifacts: dict[str, tuple[str, bytes, dict[str, Any]]] | None = None,
        state: str = "COMPLETE",
        task_dir: str = "",
    ) -> dict[str, int]:
        """RecordArtifact (metadata as custom properties, display_name, store_session_info;
        bytes at the URI) then PublishExecution (outputs struct, state, OUTPUT events)."""
        pb = self.pb
        e = self.store.get_executions_by_id([eid])[0]
        e.last_known_state = pb.Execution.State.Value(state)
        if outputs is not None:
            e.custom_properties["outputs"].CopyFrom(struct(pb, outputs))
        pairs = []
        for out_name, (title, data, metadata) in (artifacts or {}).items():
            type_id = self.store.put_artifact_type(pb.ArtifactType(name=title))
            uri = f"{self.root_uri}/{task_dir or eid}/{out_name}"
            art = pb.Artifact(type_id=type_id, uri=uri, state=pb.Artifact.LIVE)
            for key, val in metadata.items():
                art.custom_properties[key].CopyFrom(mlmd_value(pb, val))
            art.custom_properties["display_name"].string_value = out_name
            art.custom_properties["store_session_info"].string_value = STORE_SESSION
            [aid] = self.store.put_artifacts([art])
            self.s3.put_object(Bucket=self.bucket, Key=uri.split("/", 3)[3], Body=data)
            ev = pb.Event(type=pb.Event.OUTPUT, artifact_id=aid)
            ev.path.steps.add().key = out_name
            pairs.append((self.store.get_artifacts_by_id([aid])[0], ev))
        self.store.put_execution(e, pairs, [self.pipeline_ctx, self.run_ctx])
        return {name: a.id for name, a in ((p[1].path.steps[0].key, p[0]) for p in pairs)}


CONFUSION = {
    "annotationSpecs": [{"displayName": "cat"}, {"displayName": "dog"}],
    "rows": [{"row": [8, 2]}, {"row": [1, 9]}],
}
ROC = [
    {"confidenceThreshold": 0.9, "recall": 0.5, "falsePositiveRate": 0.05},
    {"confidenceThreshold": 0.5, "recall": 0.8, "falsePositiveRate": 0.2},
    {"confidenceThreshold": 0.1, "recall": 1.0, "falsePositiveRate": 0.7},
]
DATASET = b"x,y\n1,2\n3,4\n5,6\n" + b"".join(f"{i},{i * i}\n".encode() for i in range(7, 4000))
HTML = b"<html><body><h1>Report</h1><p>accuracy 0.93</p></body></html>"
MARKDOWN = b"# Notes\n\n* accuracy **0.93**\n"
MODEL = bytes(range(256)) * 64

# The pipeline spec's root outputs (as the KFP API returns it in the run's pipeline_spec).
PIPELINE_SPEC = {
    "pipelineInfo": {"name": "results-demo"},
    "root": {
        "dag": {
            "outputs": {
                "parameters": {
                    "accuracy": {
                        "valueFromParameter": {
                            "producerSubtask": "train",
                            "outputParameterKey": "Output",
                        }
                    },
                    "squares": {
                        "valueFromParameter": {
                            "producerSubtask": "for-loop-2",
                            "outputParameterKey": "pipelinechannel--square-Output",
                        }
                    },
                },
                "artifacts": {
                    "final-metrics": {
                        "artifactSelectors": [
                            {"producerSubtask": "train", "outputArtifactKey": "metrics"}
                        ]
                    }
                },
            }
        }
    },
}


def record_results_demo(r: KfpRunRecorder) -> dict[str, Any]:
    """make-data -> train (metrics, classification metrics, model) -> report (HTML, Markdown,
    served from cache) and a ParallelFor over [1, 2, 3] squaring each item."""
    root = r.create("DAG", "", name=f"run/{r.run_id}", inputs={"n": 3, "label": "demo"})
    make = r.create("Container", "make-data", parent=root, inputs={"n": 3})
    made = r.publish(
        make,
        {"rows": 3},
        {"dataset": ("system.Dataset", DATASET, {"rows": 3998})},
        task_dir="make-data",
    )
    train = r.create(
        "Container",
        "train",
        parent=root,
        inputs={"lr": 0.1, "epochs": 3},
        input_artifacts={"data": [made["dataset"]]},
    )
    trained = r.publish(
        train,
        {"Output": 0.93},
        {
            "metrics": ("system.Metrics", b"", {"accuracy": 0.93, "loss": 0.21}),
            "cm": (
                "system.ClassificationMetrics",
                b"",
                {"confusionMatrix": CONFUSION, "confidenceMetrics": ROC},
            ),
            "model": ("system.Model", MODEL, {"framework": "sklearn", "calibrated": True}),
        },
        task_dir="train",
    )
    pb = r.pb
    report = r.create(
        "Container",
        "report",
        parent=root,
        inputs={"title": "Report"},
        input_artifacts={"metrics": [trained["metrics"]]},
        extra={"cached_execution_id": pb.Value(string_value="17")},
    )
    reported = r.publish(
        report,
        {},
        {"report": ("system.HTML", HTML, {}), "notes": ("system.Markdown", MARKDOWN, {})},
        state="CACHED",
        task_dir="report",
    )
    loop = r.create(
        "DAG",
        "for-loop-2",
        parent=root,
        iteration_count=3,
        inputs={"pipelinechannel--items": [1, 2, 3]},
        extra={
            "parameter_producer_task": struct(
                pb,
                {
                    "pipelinechannel--square-Output": json.dumps(
                        {
                            "valueFromParameter": {
                                "producerSubtask": "square",
                                "outputParameterKey": "Output",
                            }
                        }
                    )
                },
            )
        },
    )
    squares = []
    for i, item in enumerate([1, 2, 3]):
        it = r.create(
            "DAG",
            "for-loop-2",
            parent=loop,
            iteration_index=i,
            inputs={"pipelinechannel--items-loop-item": item},
        )
        sq = r.create("Container", "square", parent=it, inputs={"x": item})
        r.publish(sq, {"Output": item * item}, task_dir=f"square-{i}")
        r.publish(it)
        squares.append(sq)
    r.publish(loop)
    r.publish(root)
    return {
        "root": root,
        "make": make,
        "train": train,
        "report": report,
        "loop": loop,
        "squares": squares,
        "artifacts": {**made, **trained, **reported},
    }
