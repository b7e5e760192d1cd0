"""MLM + NSP pretraining as a plain function: `train(hparams, train_files, eval_files, model_dir)`.

The TFX Trainer's `run_fn` (trainer_module.py) calls `train`; tests call it directly.

Crash safety: a checkpoint every `checkpoint_every` steps (model + optimiser, which holds the
step counter), the newest `keep_checkpoints` kept; a restarted run restores the newest one and
trains only the remaining steps, so a run killed at any point ends at exactly `train_steps`. The
loss is checked every step and the weights before every save: a non-finite value stops training
with `NonFiniteLossError` before anything bad is written, so the last good checkpoint stays the
newest. A resumed run continues the data where the checkpoint left it: with a seed the input
pipeline is a fixed stream, and the restarted one skips the batches the finished steps used
(reading them without masking), so a run killed and resumed sees the same batches and masks
as one that was never stopped (with `seed: null` nothing is reproducible and a resumed run
draws new batches). Its step log drops the rows written after that checkpoint (steps that are
trained again), so every step appears once.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import pathlib
import time
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf
import tqdm

from components import progress
from components.base_model import initial_model
from components.pretraining import checkpoints, data, hardware, logs, masking
from components.pretraining.checkpoints import NonFiniteLossError
from components.pretraining.evaluation import evaluate
from components import settings
from components.pretraining.config import PretrainingConfig
from components.pretraining.logs import STEP_LOG  # noqa: F401 (re-exported for tests and tools)
from components.pretraining.schedule import make_optimizer
from components.pretraining.steps import make_train_step
from components.vocabulary.files import check_vocab_matches
from models.encoder import build_encoder, export_encoder
from models.encoder_config import EncoderConfig
from models.pretraining_model import PretrainingModel

_LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class TrainResult:
    """What a finished `train` call reports (also written as `<model_dir>/train_result.json`)."""

    start_step: int
    final_step: int
    steps_run: int
    resumed_from: str | None
    last_checkpoint: str | None
    first_loss: float | None
    last_loss: float | None
    first_mlm_loss: float | None
    last_mlm_loss: float | None
    eval_metrics: dict
    mixed_precision: bool
    jit_compile: bool
    strategy: str
    replicas: int
    weights_checksum: float
    export_dir: str | None
    seconds: float


def encoder_config_for(hparams: PretrainingConfig, vocab_size: int,
                       initial_model_dir: str | os.PathLike | None = None) -> EncoderConfig:
    """The encoder shape: preset + overrides, vocab_size from the vocabulary (must agree)."""
    if initial_model_dir:
        return initial_model.initial_encoder_config(
            initial_model_dir, vocab_size, hparams.seq_len, dict(hparams.encoder))
    overrides = dict(hparams.encoder)  # PretrainingConfig refuses a vocab_size among them
    overrides.setdefault("max_sequence_length", max(hparams.seq_len, 512))
    config = EncoderConfig.preset(hparams.preset, vocab_size, **overrides)
    if config.max_sequence_length < hparams.seq_len:
        raise ValueError(
            f"encoder.max_sequence_length ({config.max_sequence_length}) is shorter than seq_len ({hparams.seq_len})"
        )
    return config


def weights_checksum(model: keras.Model) -> float:
    """Sum of |w| over all model weights in float64 (compares replicas/workers exactly)."""
    return float(sum(np.abs(np.asarray(w, dtype=np.float64)).sum() for w in model.get_weights()))


def _distributed_dataset(strategy, files, hparams, masking_kwargs, start_step: int = 0,
                         parallel_files=None):
    def dataset_fn(context: tf.distribute.InputContext):
        # Each step takes one batch per replica; a pipeline feeds its share of the replicas.
        batches_per_step = context.num_replicas_in_sync // context.num_input_pipelines
        batches = data.make_dataset(
            files,
            context.get_per_replica_batch_size(hparams.batch_size),
            hparams.seq_len,
            masking_kwargs,
            training=True,
            seed=hparams.seed,
            shuffle_buffer=hparams.shuffle_buffer,
            shard=(context.input_pipeline_id, context.num_input_pipelines),
            skip_batches=start_step * batches_per_step,
        )
        if not parallel_files:
            return batches
        # The aligned sentences ride along in every batch (a resumed run reshuffles them).
        seed = None if hparams.seed is None else hparams.seed * 1000 + context.input_pipeline_id + start_step
        parallel = data.make_parallel_dataset(
            parallel_files, context.get_per_replica_batch_size(hparams.alignment_groups),
            hparams.alignment_max_pieces, seed=seed)
        return tf.data.Dataset.zip((batches, parallel)).map(
            lambda batch, ids: {**batch, "parallel_ids": ids})

    if hparams.batch_size % strategy.num_replicas_in_sync:
        raise ValueError(
            f"batch_size {hparams.batch_size} is not divisible by the {strategy.num_replicas_in_sync} replicas"
        )
    return strategy.distribute_datasets_from_function(dataset_fn)


def train(
    hparams: PretrainingConfig | dict,
    train_files: str | Sequence[str],
    eval_files: str | Sequence[str] | None,
    model_dir: str | os.PathLike,
    *,
    vocab_dir: str | os.PathLike,
    checkpoint_dir: str | os.PathLike | None = None,
    initial_model_dir: str | os.PathLike | None = None,
    export_dir: str | os.PathLike | None = None,
    log_dir: str | os.PathLike | None = None,
    strategy: tf.distribute.Strategy | None = None,
) -> TrainResult:
    """Pretrains (or resumes pretraining of) an encoder with masked LM + next-sentence prediction.

    Args:
        hparams: PretrainingConfig, or a dict of its keys (checked as the YAML's
            `pretraining:` section; seq_len and seed included).
        train_files, eval_files: Glob(s) of pretraining-instance TFRecords; eval None: no eval.
        model_dir: Working folder: checkpoints (unless checkpoint_dir), step log, result.
        vocab_dir: The Vocabulary folder.
        checkpoint_dir: Where checkpoints live; default `<model_dir>/checkpoints`. Point it at a
            stable path so a retried Trainer resumes.
        initial_model_dir: An encoder export (components/contracts.py; e.g. an imported base
            model) to start from: its encoder_config.json replaces the preset, its weights (and
            pretraining_heads.npz, when present) the random initialisation.
        export_dir: Where to export the encoder (components/contracts.py); None: no export.
        log_dir: TensorBoard folder; default `<model_dir>/logs`.
        strategy: A tf.distribute strategy; None selects one from hparams and environment.

    Raises:
        BadInputError: missing, empty or corrupt TFRecords (naming the file).
        ValueError: vocabulary/model size mismatch, bad hyperparameters (naming the key).
        NonFiniteLossError: NaN/inf loss; the newest checkpoint is the last good one.
    """
    started = time.time()
    if not isinstance(hparams, PretrainingConfig):
        hparams = settings.parse(PretrainingConfig, hparams, "pretraining")
    # First: MultiWorkerMirroredStrategy must configure collectives before any TF op runs.
    strategy = strategy or hardware.select_strategy(hparams.tpu)
    chief = hardware.is_chief(strategy)
    model_dir = pathlib.Path(model_dir)
    masking_kwargs, config = _vocabulary_settings(hparams, vocab_dir, initial_model_dir)
    train_list, eval_list = _input_files(hparams, train_files, eval_files)
    mixed = hardware.resolve_flag(hparams.mixed_precision, hardware.default_mixed_precision(strategy),
                                  "mixed_precision")
    jit = hardware.resolve_flag(hparams.jit_compile, hardware.default_jit_compile(mixed), "jit_compile")
    model, optimizer = _build(hparams, strategy, config, mixed, jit, initial_model_dir)
    run_checkpoints = checkpoints.open_checkpoints(
        model, optimizer, pathlib.Path(checkpoint_dir or model_dir / "checkpoints"),
        hparams.keep_checkpoints, chief, strategy,
        what_was_built=f"vocabulary {vocab_dir} (vocab_size {config.vocab_size}) and hparams {config}")
    start_step = int(optimizer.iterations.numpy())
    if start_step > hparams.train_steps:
        raise ValueError(f"checkpoint {run_checkpoints.resumed_from} is at step {start_step}, "
                         f"beyond train_steps={hparams.train_steps}")

    log_dir = pathlib.Path(log_dir or model_dir / "logs")
    model_dir.mkdir(parents=True, exist_ok=True)
    loop = _train_steps(model, optimizer, strategy, hparams, masking_kwargs, train_list,
                        run_checkpoints, start_step, jit, log_dir,
                        model_dir / logs.STEP_LOG if chief else None)
    run_checkpoints.remove_worker_copy()

    eval_metrics, exported = {}, None
    if chief and eval_list is not None:
        eval_metrics = evaluate(model, eval_list, hparams, masking_kwargs)
        logs.log_eval(log_dir, loop.step, eval_metrics)
    if chief and export_dir is not None:
        exported = str(export_encoder(model.encoder, export_dir, vocab_dir))
    result = TrainResult(
        start_step=start_step, final_step=loop.step, steps_run=loop.step - start_step,
        resumed_from=run_checkpoints.resumed_from, last_checkpoint=run_checkpoints.latest,
        **loop.losses(), eval_metrics=eval_metrics, mixed_precision=mixed, jit_compile=jit,
        strategy=hardware.strategy_name(strategy), replicas=strategy.num_replicas_in_sync,
        weights_checksum=weights_checksum(model), export_dir=exported,
        seconds=round(time.time() - started, 2))
    if chief:
        (model_dir / "train_result.json").write_text(json.dumps(dataclasses.asdict(result), indent=2) + "\n")
    return result


def _vocabulary_settings(hparams: PretrainingConfig, vocab_dir,
                         initial_model_dir=None) -> tuple[dict, EncoderConfig]:
    """Masking settings (special ids, vocab size, whole-word starts) and the encoder's shape."""
    if not vocab_dir:
        raise ValueError("vocab_dir: the vocabulary folder is required (MBertTrainer passes its "
                         "vocabulary input as custom_config 'vocab_dir')")
    masking_kwargs = masking.masking_kwargs_from_vocab(str(vocab_dir), whole_word=hparams.whole_word_masking)
    masking_kwargs.update(mask_rate=hparams.mask_rate, max_predictions=hparams.max_predictions)
    config = encoder_config_for(hparams, masking_kwargs["vocab_size"], initial_model_dir)
    check_vocab_matches(vocab_dir, config.vocab_size)
    return masking_kwargs, config


def _input_files(hparams: PretrainingConfig, train_files, eval_files) -> tuple[list, list | None]:
    """The train (and eval) TFRecords, checked: present, non-empty, records of seq_len."""
    train_list = data.resolve_files(train_files, "train data")
    data.check_record_files(train_list, "train data", hparams.seq_len)
    eval_list = None
    if eval_files is not None and hparams.eval_steps is not None:
        eval_list = data.resolve_files(eval_files, "eval data")
        data.check_record_files(eval_list, "eval data", hparams.seq_len)
    return train_list, eval_list


def _build(hparams: PretrainingConfig, strategy, config: EncoderConfig, mixed: bool, jit: bool,
           initial_model_dir=None):
    """The pretraining model (from the initial model when given) and its built optimiser."""
    _LOG.info("pretraining %s on %s (%d replicas), mixed_bfloat16=%s, jit_compile=%s",
              config, hardware.strategy_name(strategy), strategy.num_replicas_in_sync, mixed, jit)
    if hparams.seed is not None:
        keras.utils.set_random_seed(hparams.seed)
    with strategy.scope():
        encoder = build_encoder(config, dtype="mixed_bfloat16" if mixed else "float32")
        model = PretrainingModel(encoder, sparse_last_layer=hparams.sparse_last_layer)
        model.build()
        if initial_model_dir:
            initial_model.restore_initial_model(model, initial_model_dir)
        optimizer = make_optimizer(hparams.learning_rate, hparams.warmup_steps, hparams.train_steps,
                                   weight_decay=hparams.weight_decay, clip_norm=hparams.clip_norm)
        optimizer.build(model.trainable_variables)
    return model, optimizer


@dataclasses.dataclass
class _Loop:
    """Where the training loop ended: the step, and the first and last step's metrics."""

    step: int
    first: dict | None = None
    last: dict | None = None

    def losses(self) -> dict:
        first, last = self.first or {}, self.last or {}
        return {"first_loss": first.get("loss"), "last_loss": last.get("loss"),
                "first_mlm_loss": first.get("mlm_loss"), "last_mlm_loss": last.get("mlm_loss")}


def _train_steps(model, optimizer, strategy, hparams: PretrainingConfig, masking_kwargs: dict,
                 train_list: list, run_checkpoints: checkpoints.RunCheckpoints, start_step: int,
                 jit: bool, log_dir: pathlib.Path, step_log_path: pathlib.Path | None) -> _Loop:
    """Runs the steps from start_step to train_steps: log every log_every, save every checkpoint_every."""
    loop = _Loop(step=start_step)
    if start_step >= hparams.train_steps:
        return loop
    chief = run_checkpoints.chief
    writer = tf.summary.create_file_writer(str(log_dir / "train")) if chief else tf.summary.create_noop_writer()
    step_log = logs.open_step_log(step_log_path, start_step) if step_log_path else None
    parallel_files = data.parallel_files_for(train_list) if hparams.alignment_weight > 0 else None
    iterator = iter(_distributed_dataset(strategy, train_list, hparams, masking_kwargs, start_step,
                                         parallel_files))
    train_step = make_train_step(model, optimizer, strategy, jit_compile=jit,
                                 next_sentence_prediction=hparams.next_sentence_prediction,
                                 alignment_weight=hparams.alignment_weight,
                                 alignment_temperature=hparams.alignment_temperature)
    window = dict.fromkeys(("mlm_correct", "mlm_count", "nsp_correct", "nsp_count",
                            "alignment_correct", "alignment_count"), 0.0)
    # A per-batch bar only on a terminal that asked for it; one progress line otherwise.
    bar = tqdm.tqdm(total=hparams.train_steps, initial=start_step, desc="pretraining",
                    unit="step", disable=not (chief and progress.per_batch_bars()))
    reporter = progress.ProgressReporter("pretraining", hparams.train_steps, start_step) if chief else None
    try:
        while loop.step < hparams.train_steps:
            out = train_step(next(iterator))
            loop.step += 1
            loop.last = _finite(out, loop.step, run_checkpoints)
            loop.first = loop.first or loop.last
            for key in window:
                window[key] += loop.last[key]
            bar.update(1)
            if reporter:
                reporter.update(loop.step, loop.last["loss"])
            if loop.step % hparams.log_every == 0 or loop.step == hparams.train_steps:
                bar.set_postfix(loss=f"{loop.last['loss']:.3f}", mlm=f"{loop.last['mlm_loss']:.3f}")
                logs.log_step(writer, step_log, loop.step, loop.last, window, optimizer)
                window = dict.fromkeys(window, 0.0)
            if loop.step % hparams.checkpoint_every == 0 or loop.step == hparams.train_steps:
                run_checkpoints.save(loop.step, model)
    except tf.errors.DataLossError:
        raise data.BadInputError(f"train data: corrupt TFRecord data in {data.find_corrupt_file(train_list)}") from None
    finally:
        bar.close()
        writer.flush()
        if step_log:
            step_log.close()
    return loop


def _finite(out: dict, step: int, run_checkpoints: checkpoints.RunCheckpoints) -> dict:
    """The step's metrics as floats; a NaN/inf loss stops training before anything is saved."""
    loss = float(out["loss"])
    if not math.isfinite(loss):
        raise NonFiniteLossError(
            f"loss is {loss} at step {step} (mlm_loss {float(out['mlm_loss'])}, nsp_loss "
            f"{float(out['nsp_loss'])}); nothing saved after it, the last good checkpoint is "
            f"{run_checkpoints.manager.latest_checkpoint or 'none (no checkpoint written yet)'}; lower the "
            f"learning rate or check the input")
    return {k: float(v) for k, v in out.items()}
