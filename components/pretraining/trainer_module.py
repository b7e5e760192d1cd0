"""TFX Trainer module file for pretraining: `run_fn` reads `fn_args` and calls `training.train`.

The pipeline runs it in `MBertTrainer(run_fn="components.pretraining.trainer_module.run_fn")`
(components/trainer.py) with `custom_config` holding `PretrainingHParams` keys, the pretraining
instances as `examples` and the Vocabulary artifact they were cut with as `vocabulary` (which
arrives as `custom_config["vocab_dir"]`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os

from components.pretraining.hparams import PretrainingHParams
from components.pretraining.training import TrainResult, train

_LOG = logging.getLogger(__name__)


def hparams_from_fn_args(fn_args) -> PretrainingHParams:
    """custom_config + the Trainer's TrainArgs/EvalArgs step counts (these win when given)."""
    values = dict(fn_args.custom_config or {})
    if getattr(fn_args, "train_steps", None):
        values["train_steps"] = int(fn_args.train_steps)
    if getattr(fn_args, "eval_steps", None) is not None:
        values["eval_steps"] = int(fn_args.eval_steps)
    return PretrainingHParams.from_dict(values, where="Trainer custom_config")


# TFX Trainer calls this.
def run_fn(fn_args) -> TrainResult:
    """Pretrains the encoder and exports it to `fn_args.serving_model_dir` (components/contracts.py).

    With a `base_model` (an imported encoder), training starts from it (continued pretraining).
    Checkpoints go under `custom_config["checkpoint_dir"]` when set (a stable root: a retried
    Trainer with the same inputs and settings resumes there, see run_checkpoint_dir) or under
    `fn_args.model_run_dir`; TensorBoard logs to `fn_args.model_run_dir/logs`.
    """
    hparams = hparams_from_fn_args(fn_args)
    if hparams.initial_model_dir is None and getattr(fn_args, "base_model", None):
        # Continued pretraining: the Trainer's base_model is the encoder to start from.
        hparams = dataclasses.replace(hparams, initial_model_dir=fn_args.base_model)
    if hparams.vocab_dir is None:
        raise ValueError("Trainer custom_config: no vocab_dir (components/trainer.py MBertTrainer "
                         "sets it from its vocabulary input)")
    if hparams.checkpoint_dir is not None:
        hparams = dataclasses.replace(
            hparams, checkpoint_dir=run_checkpoint_dir(hparams, fn_args.train_files))
    result = train(
        hparams,
        fn_args.train_files,
        fn_args.eval_files,
        fn_args.model_run_dir,
        export_dir=fn_args.serving_model_dir,
        log_dir=f"{fn_args.model_run_dir}/logs",
    )
    _LOG.info("pretraining finished: %s", result)
    return result


def run_checkpoint_dir(hparams: PretrainingHParams, train_files: list[str]) -> str:
    """A checkpoint folder under hparams.checkpoint_dir, one per (inputs, settings).

    A killed Trainer that TFX runs again sees the same training files and settings and so resumes
    from the same folder; a new data span or new settings start fresh instead of resuming a
    model trained on something else.
    """
    settings = {k: v for k, v in dataclasses.asdict(hparams).items() if k != "checkpoint_dir"}
    fingerprint = hashlib.sha256(
        json.dumps([sorted(train_files), settings], sort_keys=True, default=str).encode()
    ).hexdigest()[:16]
    return os.path.join(hparams.checkpoint_dir, fingerprint)
