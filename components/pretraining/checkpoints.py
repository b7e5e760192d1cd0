"""Pretraining checkpoints: restore the newest, save every `checkpoint_every` steps, never a bad one.

A checkpoint holds the model and the optimiser (whose iteration counter is the step), so a run
restored from it trains only the remaining steps. Weights are checked before every save: a
non-finite weight stops training with `NonFiniteLossError` and the newest checkpoint stays the
last good one.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import shutil
from typing import Optional

import tensorflow as tf

_LOG = logging.getLogger(__name__)


class NonFiniteLossError(FloatingPointError):
    """The loss (or a weight) became NaN/inf; the message names the step and the kept checkpoint."""


@dataclasses.dataclass
class RunCheckpoints:
    """The checkpoints of one run.

    Attributes:
      restore_manager: the checkpoints in the shared folder (the chief writes them).
      manager: where this worker saves: the chief's folder, or a throwaway one for other workers
        (they must take part in saving, their variables may need collectives, but their copy goes).
      resumed_from: the checkpoint restored, None for a fresh start.
    """

    restore_manager: tf.train.CheckpointManager
    manager: tf.train.CheckpointManager
    save_dir: pathlib.Path
    chief: bool
    resumed_from: Optional[str]

    @property
    def latest(self) -> Optional[str]:
        return self.restore_manager.latest_checkpoint if self.chief else None

    def save(self, step: int, model) -> None:
        """Saves model + optimiser at `step` unless a weight is NaN/inf (then raises)."""
        if not all_finite(model.trainable_variables):
            raise NonFiniteLossError(
                f"weights became non-finite by step {step}; not saving, the last good checkpoint is "
                f"{self.manager.latest_checkpoint or 'none'}")
        path = self.manager.save(checkpoint_number=step)
        if self.chief:
            _LOG.info("checkpoint %s", path)

    def remove_worker_copy(self) -> None:
        if not self.chief and self.save_dir.exists():
            shutil.rmtree(self.save_dir, ignore_errors=True)


def open_checkpoints(model, optimizer, folder: pathlib.Path, keep: int, chief: bool, strategy,
                     what_was_built: str) -> RunCheckpoints:
    """Restores the newest checkpoint under `folder` into model + optimiser, if there is one.

    Raises:
      ValueError naming the checkpoint and `what_was_built` when it does not fit the model.
    """
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    restore_manager = tf.train.CheckpointManager(checkpoint, str(folder), max_to_keep=keep)
    resumed_from = restore_manager.latest_checkpoint
    if resumed_from:
        try:
            checkpoint.restore(resumed_from).assert_existing_objects_matched()
        except (ValueError, AssertionError, tf.errors.InvalidArgumentError) as error:
            raise ValueError(
                f"checkpoint {resumed_from} does not fit the model built from {what_was_built}: a "
                f"different vocabulary size or encoder shape? Use a new model_dir/checkpoint_dir to "
                f"start afresh. Cause: {error}") from None
        _LOG.info("resumed from %s at step %d", resumed_from, int(optimizer.iterations))
    save_dir = folder if chief else _worker_dir(folder, strategy)
    manager = (restore_manager if chief
               else tf.train.CheckpointManager(checkpoint, str(save_dir), max_to_keep=1))
    return RunCheckpoints(restore_manager, manager, save_dir, chief, resumed_from)


def _worker_dir(base: pathlib.Path, strategy) -> pathlib.Path:
    task_id = getattr(getattr(strategy, "cluster_resolver", None), "task_id", 0)
    return base / f".worker-{task_id}"


def all_finite(variables) -> bool:
    return all(bool(tf.reduce_all(tf.math.is_finite(tf.convert_to_tensor(v)))) for v in variables)
