"""TFX Trainer module for fine-tuning: pretrained encoder + classifier head -> serving SavedModel.

Settings: one `FinetuningConfig` (components/finetuning/config.py), the YAML `finetuning:`
section, as one JSON value in `fn_args.custom_config["config"]`, checked by the same rules as the
YAML; `custom_config["vocab_dir"]` is the Vocabulary artifact (components/trainer.py sets it).
`fn_args.train_steps` (TrainArgs.num_steps), when set, caps the total number of training steps.
Early stopping watches the eval split restricted to `train_languages`, so a zero-shot run never
looks at the target languages. The exported model is `models.serving` (components/contracts.py);
`<model_run_dir>/finetuning_summary.json` records labels, counts and the training history.
"""

from __future__ import annotations

import json
import math
import pathlib
import tempfile
from typing import Any

import keras
import tensorflow as tf
from absl import logging

from components import contracts, progress, settings
from components.finetuning import data
from components.finetuning.config import FinetuningConfig
from components.pretraining.schedule import WarmupLinearDecay
from models.classifier import build_classifier
from components.vocabulary import files
from components.vocabulary.files import check_vocab_matches
from components.trainer import VOCAB_DIR_KEY, read_custom_config
from models.encoder import build_encoder, config_from_backbone, freeze_embeddings, load_pretrained_encoder
from models.serving import LABELS_FILE, ServingModule, write_labels

def finetuning_config(values: dict[str, Any] | None = None) -> FinetuningConfig:
    """FinetuningConfig from a mapping of `finetuning:` keys; ConfigError names each bad key."""
    return settings.parse(FinetuningConfig, values, "finetuning")


def _write_preset_vocab(preset_dir: pathlib.Path, out_dir: pathlib.Path) -> pathlib.Path:
    """Writes the Vocabulary files (`vocab.txt` + `tokenizer.json`) of a keras-nlp BERT preset folder."""
    vocab_path = preset_dir / "assets" / "tokenizer" / "vocabulary.txt"
    if not vocab_path.exists():
        raise FileNotFoundError(f"{vocab_path}: not found; is {preset_dir} a keras-nlp BERT preset?")
    vocab = vocab_path.read_text("utf-8").splitlines()
    lower_case = False
    config_path = preset_dir / "tokenizer.json"
    if config_path.exists():
        lower_case = bool(json.loads(config_path.read_text("utf-8"))
                          .get("config", {}).get("lowercase", False))
    files.write_vocabulary(str(out_dir), vocab, files.tokenizer_settings(
        vocab, lower_case=lower_case, max_chars_per_word=100))
    return out_dir


def _check_same_vocabulary(vocab_dir: pathlib.Path, encoder_dir: pathlib.Path) -> None:
    """The encoder export carries the vocabulary it was trained with: it must be the Trainer's."""
    if vocab_dir == encoder_dir or not (encoder_dir / contracts.VOCAB_FILE).is_file():
        return
    if files.read_vocab(str(vocab_dir)) != files.read_vocab(str(encoder_dir)):
        raise ValueError(f"{encoder_dir / contracts.VOCAB_FILE}: the encoder was trained with another "
                         f"vocabulary than the Trainer's ({vocab_dir / contracts.VOCAB_FILE})")


def resolve_encoder(params: FinetuningConfig, base_model: str | None, work_dir: pathlib.Path,
                    vocab_dir: str | None = None) -> tuple[keras.Model, pathlib.Path]:
    """Returns (encoder, vocab_dir) from the preset folder or the pretraining artifact; the
    Trainer's Vocabulary (`vocab_dir`) when given, else the one the encoder export carries."""
    if params.pretrained_preset_dir:
        preset_dir = pathlib.Path(params.pretrained_preset_dir)
        if not preset_dir.is_dir():
            raise FileNotFoundError(f"pretrained_preset_dir {preset_dir}: no such folder")
        encoder = load_pretrained_encoder(preset_dir)
        vocab_dir = _write_preset_vocab(preset_dir, work_dir / "preset_vocab")
    elif base_model:
        encoder = load_pretrained_encoder(base_model)
        vocab_dir = pathlib.Path(vocab_dir or base_model)
        _check_same_vocabulary(vocab_dir, pathlib.Path(base_model))
    else:
        raise ValueError("no encoder: give the Trainer a base_model (the pretraining Model "
                         "artifact) or custom_config pretrained_preset_dir")
    if params.random_init:
        # Same architecture, fresh weights: the "no pretraining" control of the benchmark.
        encoder = build_encoder(config_from_backbone(encoder))
    config = config_from_backbone(encoder)
    check_vocab_matches(vocab_dir, config.vocab_size)
    encoder_len = config.max_sequence_length
    if params.max_seq_length > encoder_len:
        raise ValueError(f"finetuning.max_seq_length: {params.max_seq_length} "
                         f"exceeds the encoder's max_sequence_length {encoder_len}")
    return encoder, vocab_dir


def _compile(model: keras.Model, params: FinetuningConfig, total_steps: int) -> None:
    """AdamW on BERT's fine-tuning schedule: linear warm-up over the first 10% of steps, then
    linear decay to zero; cross-entropy on logits."""
    schedule = WarmupLinearDecay(params.learning_rate, max(1, total_steps // 10), max(1, total_steps))
    model.compile(
        optimizer=keras.optimizers.AdamW(
            learning_rate=schedule, weight_decay=params.weight_decay, clipnorm=1.0),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )


def _fit(model: keras.Model, train_ds, eval_ds, params: FinetuningConfig, steps_per_epoch: int,
         epochs: int, run_dir: pathlib.Path):
    """model.fit with early stopping on the eval split (best weights kept), TensorBoard, progress."""
    return model.fit(
        train_ds, epochs=epochs, steps_per_epoch=steps_per_epoch, validation_data=eval_ds,
        callbacks=[
            keras.callbacks.EarlyStopping(
                monitor=f"val_{params.early_stopping_metric}",
                mode="min" if params.early_stopping_metric == "loss" else "max",
                patience=params.early_stopping_patience, restore_best_weights=True),
            keras.callbacks.TensorBoard(log_dir=str(run_dir / "logs")),
            _ProgressCallback(steps_per_epoch, steps_per_epoch * epochs),
        ],
        # Per-batch bars only on a terminal that asked for them; one progress line otherwise.
        verbose=1 if progress.per_batch_bars() else 0,
    )


def finetune(train_files: list[str], eval_files: list[str], serving_model_dir: str,
             run_dir: str, params: FinetuningConfig, base_model: str | None = None,
             train_steps: int | None = None, vocab_dir: str | None = None) -> dict[str, Any]:
    """Fine-tunes and exports the serving model; returns the summary it also writes to run_dir."""
    keras.utils.set_random_seed(params.seed)
    run_dir_path = pathlib.Path(run_dir)
    run_dir_path.mkdir(parents=True, exist_ok=True)

    languages = params.train_languages
    train = data.filter_languages(data.read_split(train_files), languages, "train")
    evaluation = data.filter_languages(data.read_split(eval_files), languages, "eval")
    labels = data.label_vocabulary(train, params.labels)
    train_ids = data.label_ids(train, labels)
    eval_ids = data.label_ids(evaluation, labels)
    if params.shuffle_labels:
        train_ids = data.shuffle_labels(train_ids, params.seed)

    encoder, vocab_dir = resolve_encoder(params, base_model, run_dir_path, vocab_dir)
    if params.freeze_embeddings:
        logging.info("fine-tuning: %d embedding weights frozen", freeze_embeddings(encoder))
    model = build_classifier(encoder, len(labels), params.dropout, seed=params.seed,
                             pooling=params.pooling)
    labels_file = write_labels(labels, run_dir_path / LABELS_FILE)
    module = ServingModule(model, vocab_dir, labels_file, params.max_seq_length)

    batch_size = params.batch_size
    steps_per_epoch, epochs = _schedule_length(len(train), batch_size, params, train_steps)
    _compile(model, params, steps_per_epoch * epochs)
    train_ds = data.text_dataset(module.featurize, train.text, train_ids, batch_size,
                                 params.seed).repeat()
    eval_ds = data.text_dataset(module.featurize, evaluation.text, eval_ids, batch_size, None)
    history = _fit(model, train_ds, eval_ds, params, steps_per_epoch, epochs, run_dir_path)
    # A fresh functional model on the same layers: the SavedModel then holds the weights and
    # not the optimizer's slots (which would double or triple its size).
    serving_model = keras.Model(model.inputs, model.outputs, name="mbert_classifier_serving")
    ServingModule(serving_model, vocab_dir, labels_file, params.max_seq_length,
                  max_batch=params.max_serving_batch).save(serving_model_dir)
    summary = {
        "labels": labels,
        "train_languages": languages,
        "train_counts": train.counts_by_language(),
        "eval_counts": evaluation.counts_by_language(),
        "epochs_run": len(history.history["loss"]),
        "steps_per_epoch": steps_per_epoch,
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "shuffle_labels": bool(params.shuffle_labels),
        "random_init": bool(params.random_init),
    }
    (run_dir_path / "finetuning_summary.json").write_text(json.dumps(summary, indent=2))
    logging.info("fine-tuning summary: %s", summary)
    return summary


def _schedule_length(rows: int, batch_size: int, params: FinetuningConfig,
                     train_steps: int | None) -> tuple[int, int]:
    """(steps between evaluations, number of evaluations) of a fine-tuning run.

    With `train_steps` in params the run is that many steps, evaluated every `eval_every`
    (Keras' "epochs" are then evaluation intervals); otherwise `epochs` passes over the rows.
    TrainArgs.num_steps (`train_steps` argument), when set, caps the total either way.
    """
    if params.train_steps:
        total = min(params.train_steps, train_steps or params.train_steps)
        interval = min(params.eval_every, total)
        return interval, math.ceil(total / interval)
    steps_per_epoch = math.ceil(rows / batch_size)
    epochs = params.epochs
    if train_steps:
        steps_per_epoch = min(steps_per_epoch, train_steps)
        epochs = min(epochs, math.ceil(train_steps / steps_per_epoch))
    return steps_per_epoch, epochs


class _ProgressCallback(keras.callbacks.Callback):
    """Reports fine-tuning steps and training loss to the stage's progress line."""

    def __init__(self, steps_per_epoch: int, total_steps: int):
        super().__init__()
        self._steps_per_epoch = steps_per_epoch
        self._reporter = progress.ProgressReporter("fine-tuning", total_steps)
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        self._reporter.update(self._epoch * self._steps_per_epoch + batch + 1,
                              None if loss is None else float(loss))


# TFX Trainer calls this.
def run_fn(fn_args) -> None:
    """Fine-tunes on `fn_args.train_files`, early-stops on `fn_args.eval_files`, exports."""
    params, wiring = read_custom_config(FinetuningConfig, fn_args.custom_config, "finetuning")
    vocab_dir = wiring.get(VOCAB_DIR_KEY)
    run_dir = fn_args.model_run_dir or tempfile.mkdtemp(prefix="finetune-")
    finetune(fn_args.train_files, fn_args.eval_files, fn_args.serving_model_dir, run_dir, params,
             base_model=fn_args.base_model, train_steps=fn_args.train_steps, vocab_dir=vocab_dir)
