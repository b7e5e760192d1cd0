"""`mbert run` as a user meets it: a killed run's executions cleaned up, a quiet log."""

import pathlib

from ml_metadata.proto import metadata_store_pb2

from pipeline import metadata


def plant_execution(metadata_path: pathlib.Path, pipeline_name: str, component_id: str,
                    state: int) -> int:
    """Records an execution of `component_id` in `pipeline_name` in state `state`, attributed to
    the pipeline and node contexts as TFX does; returns its id."""
    store = metadata._store(str(metadata_path), writable=True)
    context_types = {}
    for name in ("pipeline", "node"):
        context_types[name] = store.put_context_type(metadata_store_pb2.ContextType(name=name))
    execution_type = store.put_execution_type(
        metadata_store_pb2.ExecutionType(name="tfx.components.trainer.component.Trainer"))
    contexts = []
    for type_name, context_name in (("pipeline", pipeline_name), ("node", f"{pipeline_name}.{component_id}")):
        context = store.get_context_by_type_and_name(type_name, context_name)
        if context is None:
            (context_id,) = store.put_contexts([metadata_store_pb2.Context(
                type_id=context_types[type_name], name=context_name)])
            context = store.get_contexts_by_id([context_id])[0]
        contexts.append(context)
    execution_id, _, _ = store.put_execution(
        metadata_store_pb2.Execution(type_id=execution_type, last_known_state=state), [], contexts)
    return execution_id


def test_executions_left_running_by_a_killed_run_are_marked_failed(tmp_path):
    db = tmp_path / "metadata.sqlite"
    running, complete = metadata_store_pb2.Execution.RUNNING, metadata_store_pb2.Execution.COMPLETE
    plant_execution(db, "mine", "corpus_ingestion", complete)
    plant_execution(db, "mine", "pretraining_trainer", running)
    plant_execution(db, "other", "pretraining_trainer", running)

    assert metadata.fail_stale_executions(str(db), "mine") == ["pretraining_trainer"]

    assert metadata.execution_states(str(db), "mine", "pretraining_trainer") == ["FAILED"]
    assert metadata.execution_states(str(db), "mine", "corpus_ingestion") == ["COMPLETE"]
    # Another pipeline's run may be alive: its executions are not ours to judge.
    assert metadata.execution_states(str(db), "other", "pretraining_trainer") == ["RUNNING"]
    (failed,) = metadata._node_executions(metadata._store(str(db)), "mine", "pretraining_trainer")
    assert failed.custom_properties["failure_reason"].string_value == metadata.STALE_REASON
    # Nothing left to mark the second time; a store not written yet holds nothing stale.
    assert metadata.fail_stale_executions(str(db), "mine") == []
    assert metadata.fail_stale_executions(str(tmp_path / "absent.sqlite"), "mine") == []
