"""`mbert run` as a user meets it: a killed run's executions cleaned up, a quiet log."""

import os
import pathlib
import re
import subprocess
import sys

import pytest
import yaml
from ml_metadata.proto import metadata_store_pb2

from pipeline import metadata

TF_STARTUP_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] |To enable the following instructions")

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


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


def _component_records(progress_updates: int):
    """The log records of one component whose training reports `progress_updates` times."""
    import logging

    from components.progress import ProgressReporter

    records = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(record)

    logger = logging.getLogger("mbert.progress")
    collect, level = Collect(), logger.level
    logger.addHandler(collect)
    logger.setLevel(logging.INFO)
    try:
        reporter = ProgressReporter("pretraining", total=progress_updates, updates=progress_updates)
        for step in range(1, progress_updates + 1):
            reporter.update(step, loss=10.0 / step)
    finally:
        logger.removeHandler(collect)
        logger.setLevel(level)

    def absl(message):
        return logging.LogRecord("absl", logging.INFO, __file__, 0, message, None, None)

    return [absl("Component pretraining_trainer is running."), *records,
            absl("Component pretraining_trainer is finished.")]


def test_a_log_gets_a_start_and_an_end_line_with_the_last_progress(capsys):
    from pipeline.local_runner import _ComponentProgressHandler

    handler = _ComponentProgressHandler(live=False)
    for record in _component_records(3):
        handler.emit(record)
    assert capsys.readouterr().err.splitlines() == [
        "▶ pretraining_trainer ...", "✓ pretraining_trainer (0 s): step 3/3, loss 3.333"]


def test_a_terminal_gets_one_line_redrawn_in_place(capsys, monkeypatch):
    from pipeline.local_runner import _ComponentProgressHandler

    monkeypatch.setenv("COLUMNS", "60")
    handler = _ComponentProgressHandler(live=True)
    for record in _component_records(3):
        handler.emit(record)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n") and "\x1b[" not in err
    frames = [frame.rstrip() for frame in err[:-1].split("\r")[1:]]
    assert frames[0] == "▶ pretraining_trainer ..."
    assert frames[1].startswith("▶ pretraining_trainer: step 1/3, loss 10, ") and frames[1].endswith(" s left")
    assert frames[-1] == "✓ pretraining_trainer (0 s): step 3/3, loss 3.333"
    assert {len(frame) for frame in err[:-1].split("\r")[1:]} == {59}  # each covers the last


def test_per_batch_bars_need_the_request_and_a_terminal(monkeypatch):
    import io

    from components import progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(progress, "_bars_requested", False)
    monkeypatch.setattr("sys.stdout", Terminal())
    assert not progress.per_batch_bars()
    progress.request_per_batch_bars(True)
    assert progress.per_batch_bars()
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert not progress.per_batch_bars()


COMPONENTS = ["corpus_ingestion", "corpus_statistics", "corpus_schema", "corpus_validation",
              "labelled_ingestion", "labelled_statistics", "labelled_schema", "labelled_validation",
              "vocabulary", "pretraining_examples", "pretraining_trainer", "finetuning_trainer",
              "latest_blessed_model_resolver", "evaluator", "pusher"]


@pytest.mark.e2e
def test_cli_run_into_a_log_file_reads_one_line_per_stage_and_ends_clean(tmp_path):
    from conftest import SAMPLE_DATA
    from test_pipeline_e2e import _ntrex_subset, _sib200_span, tiny_config

    # The committed sample, whatever else is around: the smallest real run.
    corpus = _ntrex_subset(SAMPLE_DATA / "ntrex", tmp_path / "ntrex")
    _sib200_span(SAMPLE_DATA / "sib200", tmp_path / "sib" / "span-1")
    config_path = tmp_path / "config.yaml"
    # The default multi-process DirectRunner, as a user gets it: its Evaluator worker
    # processes once printed "Exception ignored in AtomicFunction.__del__" tracebacks.
    config_path.write_text(yaml.safe_dump(tiny_config("cli-log", corpus, tmp_path / "sib" / "span-{SPAN}")))
    out = tmp_path / "out"
    out.mkdir()
    # A Trainer execution a killed run left RUNNING.
    planted = plant_execution(out / "metadata.sqlite", "cli-log", "pretraining_trainer",
                              metadata_store_pb2.Execution.RUNNING)

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    # stdout and stderr are pipes, not a terminal: what a log file or CI gets.
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", "--config", str(config_path),
                           "--output", str(out)], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=1500)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-5000:]
    assert "Traceback" not in output and "Exception ignored" not in output, output[-5000:]
    assert "\x1b[" not in output and "\r" not in output, "escape codes or bar redraws in a log"
    # The stages' own warnings may come (the sample makes a small vocabulary); the rest is ours.
    # TensorFlow 2.16's C++ start-up lines ("Unable to register cuDNN factory", oneDNN notes) come
    # from every process that imports it, Beam workers included, before any log setting applies.
    lines = [line for line in done.stderr.splitlines()
             if not line.startswith("WARNING: ") and not TF_STARTUP_LINE.match(line)]
    assert "marked FAILED, left RUNNING by a killed run: pretraining_trainer" in lines
    for component in COMPONENTS:
        assert sum(line.startswith(f"✓ {component} (") for line in lines) == 1, component
    # The training stages end with their last progress: steps and loss.
    assert any(re.fullmatch(r"✓ pretraining_trainer \(\d+ s\): step 30/30, loss [\d.e+-]+", line)
               for line in lines), done.stderr
    assert any(re.fullmatch(r"✓ finetuning_trainer \(\d+ s\): step (\d+)/\1, loss [\d.e+-]+", line)
               for line in lines), done.stderr
    # Nothing else: a start and an end line per component, the error-free summary on stdout.
    assert len(lines) == 1 + 2 * len(COMPONENTS), done.stderr
    states = {e.id: e.last_known_state for e in metadata._store(str(out / "metadata.sqlite")).get_executions()}
    assert states[planted] == metadata_store_pb2.Execution.FAILED
