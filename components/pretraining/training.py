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
import shutil
import time
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf
import tqdm

from components import progress
from components.base_model import initial_model
from components.pretraining import data, hardware
from components.pretraining.hparams import PretrainingHParams
from components.pretraining.schedule import make_optimizer
from components.pretraining.steps import make_eval_step, make_train_step
from models import masking
from models.encoder import build_encoder, check_vocab_matches, export_encoder
from models.encoder_config import EncoderConfig
from models.pretraining_model import PretrainingModel

_LOG = logging.getLogger(__name__)

STEP_LOG = "train_log.jsonl"  # one JSON line per logged step (chief only)


class NonFiniteLossError(FloatingPointError):
    """The loss (or a weight) became NaN/inf; the message names the step and the kept checkpoint."""


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


def encoder_config_for(hparams: PretrainingHParams, vocab_size: int) -> EncoderConfig:
    """The encoder shape: preset + overrides, vocab_size from the vocabulary (must agree)."""
    if hparams.initial_model_dir:
        return initial_model.initial_encoder_config(
            hparams.initial_model_dir, vocab_size, hparams.seq_len, dict(hparams.encoder))
    overrides = dict(hparams.encoder)
    declared = overrides.pop("vocab_size", None)
    if declared is not None and declared != vocab_size:
        raise ValueError(
            f"vocabulary size mismatch: encoder.vocab_size is {declared} but the vocabulary has "
            f"{vocab_size} tokens"
        )
    overrides.setdefault("max_sequence_length", max(hparams.seq_len, 512))
    config = EncoderConfig.preset(hparams.encoder_preset, vocab_size, **overrides)
    if config.max_sequence_length < hparams.seq_len:
        raise ValueError(
            f"encoder.max_sequence_length ({config.max_sequence_length}) is shorter than seq_len ({hparams.seq_len})"
        )
    return config


def weights_checksum(model: keras.Model) -> float:
    """Sum of |w| over all model weights in float64 (compares replicas/workers exactly)."""
    return float(sum(np.abs(np.asarray(w, dtype=np.float64)).sum() for w in model.get_weights()))


def _all_finite(variables) -> bool:
    return all(bool(tf.reduce_all(tf.math.is_finite(tf.convert_to_tensor(v)))) for v in variables)


def _checkpoint_dir_for(base: pathlib.Path, chief: bool, strategy) -> pathlib.Path:
    if chief:
        return base
    # Non-chief workers must take part in saving (variables may need their collectives) but
    # their copy is thrown away: write it next to the chief's, under a per-worker name.
    task_id = getattr(getattr(strategy, "cluster_resolver", None), "task_id", 0)
    return base / f".worker-{task_id}"


def _distributed_dataset(strategy, files, hparams, masking_kwargs, start_step: int = 0):
    def dataset_fn(context: tf.distribute.InputContext):
        # Each step takes one batch per replica; a pipeline feeds its share of the replicas.
        batches_per_step = context.num_replicas_in_sync // context.num_input_pipelines
        return data.make_dataset(
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

    if hparams.batch_size % strategy.num_replicas_in_sync:
        raise ValueError(
            f"batch_size {hparams.batch_size} is not divisible by the {strategy.num_replicas_in_sync} replicas"
        )
    return strategy.distribute_datasets_from_function(dataset_fn)


def evaluate(model, files, hparams, masking_kwargs, jit_compile: bool) -> dict:
    """MLM accuracy (overall and per language), MLM loss, NSP accuracy on the eval files."""
    dataset = data.make_dataset(
        files, hparams.eval_batch_size, hparams.seq_len, masking_kwargs, training=False, seed=hparams.seed
    )
    if hparams.eval_steps:
        dataset = dataset.take(hparams.eval_steps)
    step = make_eval_step(model, jit_compile=False)  # ragged last batch: no point compiling shapes
    correct, count, by_language = 0.0, 0.0, {}
    nsp_correct = nsp_count = nsp_random = examples = 0.0
    mlm_loss_sum = 0.0
    batches = 0
    try:
        for batch in dataset:
            languages = batch.pop("language").numpy()
            out = {k: v.numpy() for k, v in step(batch).items()}
            batches += 1
            mlm_loss_sum += float(out["mlm_loss"])
            nsp_correct += float(out["nsp_correct"].sum())
            nsp_count += float(out["nsp_count"].sum())
            nsp_random += float(out["nsp_random"].sum())
            examples += len(languages)
            for language, hit, seen in zip(languages, out["mlm_correct"], out["mlm_count"]):
                entry = by_language.setdefault(language.decode("utf-8") or "und", [0.0, 0.0])
                entry[0] += float(hit)
                entry[1] += float(seen)
            correct += float(out["mlm_correct"].sum())
            count += float(out["mlm_count"].sum())
    except tf.errors.DataLossError:
        raise data.BadInputError(f"eval data: corrupt TFRecord data in {data.find_corrupt_file(files)}") from None
    if batches == 0:
        raise data.BadInputError(f"eval data: no complete records in {files[:5]}")
    random_share = nsp_random / max(nsp_count, 1.0)
    return {
        "mlm_accuracy": correct / max(count, 1.0),
        "mlm_loss": mlm_loss_sum / batches,
        "nsp_accuracy": nsp_correct / max(nsp_count, 1.0),
        # What always answering the more frequent NSP label scores: NSP has learned something
        # only above it.
        "nsp_majority_accuracy": max(random_share, 1.0 - random_share),
        "examples": int(examples),
        "mlm_accuracy_by_language": {lang: hit / max(seen, 1.0) for lang, (hit, seen) in sorted(by_language.items())},
    }


def train(
    hparams: PretrainingHParams | dict,
    train_files: str | Sequence[str],
    eval_files: str | Sequence[str] | None,
    model_dir: str | os.PathLike,
    *,
    vocab_dir: str | os.PathLike | None = None,
    export_dir: str | os.PathLike | None = None,
    log_dir: str | os.PathLike | None = None,
    strategy: tf.distribute.Strategy | None = None,
) -> TrainResult:
    """Pretrains (or resumes pretraining of) an encoder with masked LM + next-sentence prediction.

    Args:
        hparams: PretrainingHParams or a dict of them (unknown keys rejected).
        train_files: Glob(s) of contract-4 TFRecords for training.
        eval_files: Glob(s) for evaluation; None skips evaluation.
        model_dir: Working folder: checkpoints (unless hparams.checkpoint_dir), step log,
            `train_result.json`.
        vocab_dir: Vocabulary folder (contract 2); defaults to hparams.vocab_dir.
        export_dir: Where to export the encoder (contract 3); None skips the export.
        log_dir: TensorBoard folder; default `<model_dir>/logs`.
        strategy: A tf.distribute strategy; None selects one from hparams and environment.

    Returns:
        TrainResult.

    Raises:
        BadInputError: missing, empty or corrupt TFRecords (naming the file).
        ValueError: vocabulary/model size mismatch, bad hyperparameters (naming the key).
        NonFiniteLossError: NaN/inf loss; the newest checkpoint is the last good one.
    """
    started = time.time()
    if not isinstance(hparams, PretrainingHParams):
        hparams = PretrainingHParams.from_dict(hparams)
    # First: MultiWorkerMirroredStrategy must configure collectives before any TF op runs.
    strategy = strategy or hardware.select_strategy(hparams.tpu)
    chief = hardware.is_chief(strategy)
    vocab_dir = vocab_dir or hparams.vocab_dir
    if not vocab_dir:
        raise ValueError("vocab_dir: the vocabulary folder is required (custom_config key 'vocab_dir')")
    model_dir = pathlib.Path(model_dir)
    masking_kwargs = masking.masking_kwargs_from_vocab(str(vocab_dir), whole_word=hparams.whole_word)
    masking_kwargs.update(mask_rate=hparams.mask_rate, max_predictions=hparams.max_predictions)
    config = encoder_config_for(hparams, masking_kwargs["vocab_size"])
    check_vocab_matches(vocab_dir, config.vocab_size)

    train_list = data.resolve_files(train_files, "train data")
    data.check_record_files(train_list, "train data", hparams.seq_len)
    eval_list = None
    if eval_files is not None and hparams.eval_steps is not None:
        eval_list = data.resolve_files(eval_files, "eval data")
        data.check_record_files(eval_list, "eval data", hparams.seq_len)

    mixed = hardware.resolve_flag(hparams.mixed_precision, hardware.default_mixed_precision(strategy), "mixed_precision")
    jit = hardware.resolve_flag(hparams.jit_compile, hardware.default_jit_compile(mixed), "jit_compile")
    _LOG.info("pretraining %s on %s (%d replicas), mixed_bfloat16=%s, jit_compile=%s",
              config, hardware.strategy_name(strategy), strategy.num_replicas_in_sync, mixed, jit)

    if hparams.seed is not None:
        keras.utils.set_random_seed(hparams.seed)
    with strategy.scope():
        encoder = build_encoder(config, dtype="mixed_bfloat16" if mixed else "float32")
        model = PretrainingModel(encoder, sparse_last_layer=hparams.sparse_last_layer)
        model.build()
        if hparams.initial_model_dir:
            initial_model.restore_initial_model(model, hparams.initial_model_dir)
        optimizer = make_optimizer(
            hparams.learning_rate,
            hparams.warmup_steps,
            hparams.train_steps,
            weight_decay=hparams.weight_decay,
            clip_norm=hparams.clip_norm,
        )
        optimizer.build(model.trainable_variables)

    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    checkpoint_base = pathlib.Path(hparams.checkpoint_dir or model_dir / "checkpoints")
    restore_manager = tf.train.CheckpointManager(checkpoint, str(checkpoint_base), max_to_keep=hparams.keep_checkpoints)
    resumed_from = restore_manager.latest_checkpoint
    if resumed_from:
        try:
            checkpoint.restore(resumed_from).assert_existing_objects_matched()
        except (ValueError, AssertionError, tf.errors.InvalidArgumentError) as error:
            raise ValueError(
                f"checkpoint {resumed_from} does not fit the model built from vocabulary {vocab_dir} "
                f"(vocab_size {config.vocab_size}) and hparams {config}: a different vocabulary size or "
                f"encoder shape? Use a new model_dir/checkpoint_dir to start afresh. Cause: {error}"
            ) from None
        _LOG.info("resumed from %s at step %d", resumed_from, int(optimizer.iterations))
    save_dir = _checkpoint_dir_for(checkpoint_base, chief, strategy)
    manager = restore_manager if chief else tf.train.CheckpointManager(checkpoint, str(save_dir), max_to_keep=1)

    start_step = int(optimizer.iterations.numpy())
    if start_step > hparams.train_steps:
        raise ValueError(
            f"checkpoint {resumed_from} is at step {start_step}, beyond train_steps={hparams.train_steps}"
        )

    log_dir = pathlib.Path(log_dir or model_dir / "logs")
    writer = tf.summary.create_file_writer(str(log_dir / "train")) if chief else tf.summary.create_noop_writer()
    model_dir.mkdir(parents=True, exist_ok=True)
    step_log = _open_step_log(model_dir / STEP_LOG, start_step) if chief else None

    first = last = None
    step = start_step
    if start_step < hparams.train_steps:
        iterator = iter(_distributed_dataset(strategy, train_list, hparams, masking_kwargs, start_step))
        train_step = make_train_step(model, optimizer, strategy, jit_compile=jit,
                                     next_sentence_prediction=hparams.next_sentence_prediction)
        window = {"mlm_correct": 0.0, "mlm_count": 0.0, "nsp_correct": 0.0, "nsp_count": 0.0}
        # A per-batch bar only on a terminal that asked for it; one progress line otherwise.
        bar = tqdm.tqdm(total=hparams.train_steps, initial=start_step, desc="pretraining",
                        unit="step", disable=not (chief and progress.per_batch_bars()))
        reporter = progress.ProgressReporter("pretraining", hparams.train_steps, start_step) if chief else None
        try:
            while step < hparams.train_steps:
                out = train_step(next(iterator))
                step += 1
                loss = float(out["loss"])
                if not math.isfinite(loss):
                    raise NonFiniteLossError(
                        f"loss is {loss} at step {step} (mlm_loss {float(out['mlm_loss'])}, nsp_loss "
                        f"{float(out['nsp_loss'])}); nothing saved after it, the last good checkpoint is "
                        f"{manager.latest_checkpoint or 'none (no checkpoint written yet)'}; lower the "
                        f"learning rate or check the input"
                    )
                last = {k: float(v) for k, v in out.items()}
                first = first or last
                for key in window:
                    window[key] += last[key]
                bar.update(1)
                if reporter:
                    reporter.update(step, loss)
                if step % hparams.log_every == 0 or step == hparams.train_steps:
                    bar.set_postfix(loss=f"{last['loss']:.3f}", mlm=f"{last['mlm_loss']:.3f}")
                    _log_step(writer, step_log, step, last, window, optimizer)
                    window = dict.fromkeys(window, 0.0)
                if step % hparams.checkpoint_every == 0 or step == hparams.train_steps:
                    _save(manager, step, model, chief)
        except tf.errors.DataLossError:
            raise data.BadInputError(f"train data: corrupt TFRecord data in {data.find_corrupt_file(train_list)}") from None
        finally:
            bar.close()
            writer.flush()
            if step_log:
                step_log.flush()
    if not chief and save_dir.exists():
        shutil.rmtree(save_dir, ignore_errors=True)

    eval_metrics = {}
    if eval_list is not None and chief:
        eval_metrics = evaluate(model, eval_list, hparams, masking_kwargs, jit)
        _log_eval(log_dir, step, eval_metrics)

    exported = None
    if export_dir is not None and chief:
        exported = str(export_encoder(model.encoder, export_dir, vocab_dir))

    result = TrainResult(
        start_step=start_step,
        final_step=step,
        steps_run=step - start_step,
        resumed_from=resumed_from,
        last_checkpoint=restore_manager.latest_checkpoint if chief else None,
        first_loss=first and first["loss"],
        last_loss=last and last["loss"],
        first_mlm_loss=first and first["mlm_loss"],
        last_mlm_loss=last and last["mlm_loss"],
        eval_metrics=eval_metrics,
        mixed_precision=mixed,
        jit_compile=jit,
        strategy=hardware.strategy_name(strategy),
        replicas=strategy.num_replicas_in_sync,
        weights_checksum=weights_checksum(model),
        export_dir=exported,
        seconds=round(time.time() - started, 2),
    )
    if chief:
        (model_dir / "train_result.json").write_text(json.dumps(dataclasses.asdict(result), indent=2) + "\n")
    if step_log:
        step_log.close()
    return result


def _save(manager: tf.train.CheckpointManager, step: int, model, chief: bool) -> None:
    if not _all_finite(model.trainable_variables):
        raise NonFiniteLossError(
            f"weights became non-finite by step {step}; not saving, the last good checkpoint is "
            f"{manager.latest_checkpoint or 'none'}"
        )
    path = manager.save(checkpoint_number=step)
    if chief:
        _LOG.info("checkpoint %s", path)


def _open_step_log(path: pathlib.Path, start_step: int):
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


def _log_step(writer, step_log, step, last, window, optimizer) -> None:
    learning_rate = float(optimizer.learning_rate)  # schedule value at the current iteration
    metrics = {
        "loss": last["loss"],
        "mlm_loss": last["mlm_loss"],
        "nsp_loss": last["nsp_loss"],
        "mlm_accuracy": window["mlm_correct"] / max(window["mlm_count"], 1.0),
        "nsp_accuracy": window["nsp_correct"] / max(window["nsp_count"], 1.0),
        "learning_rate": learning_rate,
    }
    with writer.as_default(step=step):
        for name, value in metrics.items():
            tf.summary.scalar(name, value)
    if step_log is not None:
        step_log.write(json.dumps({"step": step, **{k: round(v, 6) for k, v in metrics.items()}}) + "\n")
        step_log.flush()
    _LOG.info("step %d %s", step, " ".join(f"{k}={v:.4g}" for k, v in metrics.items()))


def _log_eval(log_dir: pathlib.Path, step: int, metrics: dict) -> None:
    writer = tf.summary.create_file_writer(str(log_dir / "eval"))
    with writer.as_default(step=step):
        for name in ("mlm_accuracy", "mlm_loss", "nsp_accuracy", "nsp_majority_accuracy"):
            tf.summary.scalar(name, metrics[name])
        for language, accuracy in metrics["mlm_accuracy_by_language"].items():
            tf.summary.scalar(f"mlm_accuracy_by_language/{language}", accuracy)
    writer.flush()
