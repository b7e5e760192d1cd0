"""TFX Trainer module file for pretraining: `run_fn` reads `fn_args` and calls `training.train`.

The pipeline runs it in `MBertTrainer(run_fn="components.pretraining.trainer_module.run_fn")`
(components/trainer.py) with the stage's `PretrainingConfig` as one JSON value
(`custom_config["config"]`), the pretraining instances as `examples` and the Vocabulary artifact
they were cut with as `vocabulary` (which arrives as `custom_config["vocab_dir"]`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os

from components.pretraining.config import PretrainingConfig
from components.pretraining.training import TrainResult, train
from components.trainer import VOCAB_DIR_KEY, read_custom_config

_LOG = logging.getLogger(__name__)

# custom_config wiring: a stable checkpoint root (a retried Trainer resumes there).
CHECKPOINT_DIR_KEY = "checkpoint_dir"


def config_from_fn_args(fn_args) -> tuple[PretrainingConfig, dict]:
    """(config, wiring) from custom_config; the Trainer's TrainArgs/EvalArgs step counts win."""
    config, wiring = read_custom_config(PretrainingConfig, fn_args.custom_config, "pretraining",
                                        wiring=(CHECKPOINT_DIR_KEY,))
    if getattr(fn_args, "train_steps", None):
        config = dataclasses.replace(config, train_steps=int(fn_args.train_steps))
    if getattr(fn_args, "eval_steps", None) is not None:
        config = dataclasses.replace(config, eval_steps=int(fn_args.eval_steps))
    return config, wiring


# TFX Trainer calls this.
def run_fn(fn_args) -> TrainResult:
    """Pretrains the encoder and exports it to `fn_args.serving_model_dir` (components/contracts.py).

    With a `base_model` (an imported encoder), training starts from it (continued pretraining).
    Checkpoints go under `custom_config["checkpoint_dir"]` when set (a stable root: a retried
    Trainer with the same inputs and settings resumes there, see run_checkpoint_dir) or under
    `fn_args.model_run_dir`; TensorBoard logs to `fn_args.model_run_dir/logs`.
    """
    config, wiring = config_from_fn_args(fn_args)
    vocab_dir = wiring.get(VOCAB_DIR_KEY)
    if vocab_dir is None:
        raise ValueError("Trainer custom_config: no vocab_dir (components/trainer.py MBertTrainer "
                         "sets it from its vocabulary input)")
    initial_model_dir = getattr(fn_args, "base_model", None) or None
    checkpoint_dir = wiring.get(CHECKPOINT_DIR_KEY)
    if checkpoint_dir is not None:
        checkpoint_dir = run_checkpoint_dir(checkpoint_dir, config, fn_args.train_files,
                                            vocab_dir, initial_model_dir)
    result = train(
        config,
        fn_args.train_files,
        fn_args.eval_files,
        fn_args.model_run_dir,
        vocab_dir=vocab_dir,
        checkpoint_dir=checkpoint_dir,
        initial_model_dir=initial_model_dir,
        export_dir=fn_args.serving_model_dir,
        log_dir=f"{fn_args.model_run_dir}/logs",
    )
    _LOG.info("pretraining finished: %s", result)
    return result


def run_checkpoint_dir(root: str, config: PretrainingConfig, train_files: list[str],
                       vocab_dir: str, initial_model_dir: str | None) -> str:
    """A checkpoint folder under root, one per (inputs, settings).

    A killed Trainer that TFX runs again sees the same training files, vocabulary, initial model
    and settings and so resumes from the same folder; a new data span or new settings start
    fresh instead of resuming a model trained on something else.
    """
    key = [sorted(train_files), dataclasses.asdict(config), str(vocab_dir), initial_model_dir]
    fingerprint = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return os.path.join(root, fingerprint)
