"""Reading a local run back from ML Metadata: executions per component and their latest outputs."""

from __future__ import annotations

import os
from typing import Optional

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

_STATES = {v: k for k, v in metadata_store_pb2.Execution.State.items()}


def _store(metadata_path: str, writable: bool = False) -> metadata_store.MetadataStore:
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    modes = metadata_store_pb2.SqliteMetadataSourceConfig
    config.sqlite.connection_mode = modes.READWRITE_OPENCREATE if writable else modes.READONLY
    return metadata_store.MetadataStore(config)


def _node_executions(store, pipeline_name: str, component_id: str):
    context = store.get_context_by_type_and_name("node", f"{pipeline_name}.{component_id}")
    if context is None:
        return []
    return sorted(store.get_executions_by_context(context.id), key=lambda e: e.id)


def execution_states(metadata_path: str, pipeline_name: str, component_id: str) -> list[str]:
    """States of a component's executions, oldest first: e.g. ["COMPLETE", "CACHED"]."""
    store = _store(metadata_path)
    return [_STATES[e.last_known_state] for e in _node_executions(store, pipeline_name, component_id)]


def latest_output_uri(metadata_path: str, pipeline_name: str, component_id: str,
                      output_key: str) -> Optional[str]:
    """The URI of the newest artifact a component wrote (or reused from cache) under output_key."""
    artifact = latest_output(metadata_path, pipeline_name, component_id, output_key)
    return artifact.uri if artifact is not None else None


def custom_properties(artifact: metadata_store_pb2.Artifact) -> dict:
    """An MLMD artifact's custom properties as plain Python values."""
    values = {}
    for key, value in artifact.custom_properties.items():
        kind = value.WhichOneof("value")
        values[key] = getattr(value, kind) if kind else None
    return values


def latest_output(metadata_path: str, pipeline_name: str, component_id: str,
                  output_key: str) -> Optional[metadata_store_pb2.Artifact]:
    """The newest artifact a component wrote (or reused from cache) under output_key."""
    store = _store(metadata_path)
    executions = _node_executions(store, pipeline_name, component_id)
    if not executions:
        return None
    events = store.get_events_by_execution_ids([e.id for e in executions])
    artifact_ids = [
        ev.artifact_id for ev in events
        if ev.type in (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
        and ev.path.steps and ev.path.steps[0].key == output_key
    ]
    if not artifact_ids:
        return None
    (artifact,) = store.get_artifacts_by_id([max(artifact_ids)])
    return artifact


STALE_REASON = "still RUNNING when the next local run started: its process was killed or crashed"


def fail_stale_executions(metadata_path: str, pipeline_name: str) -> list[str]:
    """Marks the pipeline's executions left RUNNING by a killed run as FAILED; returns their nodes.

    A local run holds the SQLite store alone, so at its start nothing of its pipeline can be
    running: a RUNNING execution belongs to a process that died (SIGKILL, power loss) before
    TFX could record the outcome. Each is set to FAILED with a `failure_reason` property.
    """
    if not os.path.exists(metadata_path):
        return []
    store = _store(metadata_path, writable=True)
    pipeline = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if pipeline is None:
        return []
    running = metadata_store_pb2.Execution.RUNNING
    stale = [e for e in store.get_executions_by_context(pipeline.id) if e.last_known_state == running]
    nodes = []
    for execution in stale:
        execution.last_known_state = metadata_store_pb2.Execution.FAILED
        execution.custom_properties["failure_reason"].string_value = STALE_REASON
        store.put_executions([execution])
        node_names = [c.name for c in store.get_contexts_by_execution(execution.id) if c.type == "node"]
        prefix = f"{pipeline_name}."
        nodes += [name[len(prefix):] if name.startswith(prefix) else name for name in node_names] or [
            f"execution {execution.id}"]
    return sorted(nodes)


_INPUT_EVENTS = (metadata_store_pb2.Event.INPUT,)
_OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)


def _artifact_ids_by_run(metadata_path: str, pipeline_name: str, component_id: str, key: str,
                         event_types) -> list[list[int]]:
    store = _store(metadata_path)
    executions = _node_executions(store, pipeline_name, component_id)
    events = store.get_events_by_execution_ids([e.id for e in executions]) if executions else []
    return [sorted(ev.artifact_id for ev in events
                   if ev.execution_id == execution.id and ev.type in event_types
                   and ev.path.steps and ev.path.steps[0].key == key)
            for execution in executions]


def inputs_by_run(metadata_path: str, pipeline_name: str, component_id: str,
                  input_key: str) -> list[list[int]]:
    """Per execution of a component (oldest first), the ids of the artifacts it read under input_key."""
    return _artifact_ids_by_run(metadata_path, pipeline_name, component_id, input_key, _INPUT_EVENTS)


def outputs_by_run(metadata_path: str, pipeline_name: str, component_id: str,
                   output_key: str) -> list[list[int]]:
    """Per execution of a component (oldest first), the ids of the artifacts it wrote under output_key."""
    return _artifact_ids_by_run(metadata_path, pipeline_name, component_id, output_key, _OUTPUT_EVENTS)
