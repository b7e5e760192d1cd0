"""What pretraining writes as it goes: TensorBoard scalars and the step log (one JSON line a step).

A resumed run's step log drops the rows written after the checkpoint it resumed from (those steps
are trained again), so every step appears once.
"""

from __future__ import annotations

import json
import logging
import pathlib

import tensorflow as tf

_LOG = logging.getLogger(__name__)

STEP_LOG = "train_log.jsonl"  # one JSON line per logged step (chief only)


def open_step_log(path: pathlib.Path, start_step: int):
    """The step log, opened for appending after the rows of steps up to `start_step`.

    Rows past it come from a run killed after its last checkpoint: those steps are trained
    again, so their old rows go (the log then has each step once). So does a last line cut
    short by the kill (every complete row ends with a newline).
    """
    if path.exists():
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if line.endswith("\n") and json.loads(line)["step"] <= start_step]
        if len(kept) < len(lines):
            path.write_text("".join(kept), encoding="utf-8")
    return open(path, "a", encoding="utf-8")


def log_step(writer, step_log, step: int, last: dict, window: dict, optimizer) -> None:
    """Scalars of one logged step: last step's losses, accuracies over the window since the last log."""
    metrics = {
        "loss": last["loss"],
        "mlm_loss": last["mlm_loss"],
        "nsp_loss": last["nsp_loss"],
        "mlm_accuracy": window["mlm_correct"] / max(window["mlm_count"], 1.0),
        "nsp_accuracy": window["nsp_correct"] / max(window["nsp_count"], 1.0),
        # Translation pairs that picked their own translation among the batch's, both ways.
        "alignment_loss": last["alignment_loss"],
        "alignment_accuracy": window["alignment_correct"] / max(window["alignment_count"], 1.0),
        "learning_rate": float(optimizer.learning_rate),  # schedule value at the current iteration
    }
    with writer.as_default(step=step):
        for name, value in metrics.items():
            tf.summary.scalar(name, value)
    if step_log is not None:
        step_log.write(json.dumps({"step": step, **{k: round(v, 6) for k, v in metrics.items()}}) + "\n")
        step_log.flush()
    _LOG.info("step %d %s", step, " ".join(f"{k}={v:.4g}" for k, v in metrics.items()))


def log_eval(log_dir: pathlib.Path, step: int, metrics: dict) -> None:
    """The held-out metrics (evaluation.evaluate) as TensorBoard scalars under `<log_dir>/eval`."""
    writer = tf.summary.create_file_writer(str(log_dir / "eval"))
    with writer.as_default(step=step):
        for name in ("mlm_accuracy", "mlm_loss", "nsp_accuracy", "nsp_majority_accuracy"):
            tf.summary.scalar(name, metrics[name])
        for language, accuracy in metrics["mlm_accuracy_by_language"].items():
            tf.summary.scalar(f"mlm_accuracy_by_language/{language}", accuracy)
    writer.flush()
