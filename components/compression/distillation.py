"""Distillation: a smaller student learns the fine-tuned classifier's (the teacher's) predictions.

Knowledge distillation as Hinton et al. (2015) and DistilBERT (Sanh et al., 2019) do it: the
student is trained on the teacher's class distribution softened by a temperature T, mixed with
the gold labels where a row has one,

    loss = soft_weight * T^2 * KL(softmax(teacher / T) || softmax(student / T))
           + (1 - soft_weight) * cross_entropy(label, student)

(T^2 keeps the soft term's gradients on the hard term's scale). Rows without a label (text of the
pretraining corpus, when configured) carry only the soft term: the teacher labels them.

The student has the teacher's vocabulary, tokenizer, pooling and labels; its encoder is smaller
(`student_config`) and starts from the teacher's embeddings and lower layers wherever the shapes
allow (`init_from_teacher`), as DistilBERT starts from BERT's layers. The kept weights are those of
the evaluation with the best eval accuracy (ties: the lower KL divergence to the teacher), or with
the lowest KL (`keep_by: kl`). Measured (notes/compression.md): the untrained copy of the teacher's
lower layers is often the closest to the teacher in KL while training on soft + hard labels makes
the student more accurate than that copy, so "kl" can keep a student that never trained.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from components import progress
from components.compression.config import CompressionConfig
from components.finetuning import data
from components.pretraining.schedule import make_optimizer
from models.classifier import build_classifier, encoder_of
from models.encoder import build_encoder
from models.encoder_config import EncoderConfig
from models.serving import LABELS_FILE, ServingModule, load_classifier

SUMMARY_FILE = "distillation_summary.json"


def _rank(evaluation: dict, keep_by: str) -> tuple:
    """Larger is better: the key the kept weights are chosen by."""
    if keep_by == "kl":
        return (-evaluation["eval_kl"],)
    return (evaluation["eval_accuracy"], -evaluation["eval_kl"])


def student_config(teacher: EncoderConfig, overrides: dict) -> EncoderConfig:
    """The student's encoder shape: the teacher's, smaller where `overrides` say
    (CompressionConfig.student(): a key left out means num_layers = half the teacher's, at least
    1, the others the teacher's own; num_heads and intermediate_dim scale with a changed
    hidden_dim: 64 per head, 4x hidden)."""
    hidden = overrides.get("hidden_dim") or teacher.hidden_dim
    same_width = hidden == teacher.hidden_dim
    return EncoderConfig.from_dict({
        **teacher.to_dict(),
        "num_layers": overrides.get("num_layers") or max(1, teacher.num_layers // 2),
        "hidden_dim": hidden,
        "num_heads": overrides.get("num_heads") or (teacher.num_heads if same_width else max(1, hidden // 64)),
        "intermediate_dim": overrides.get("intermediate_dim") or (
            teacher.intermediate_dim if same_width else 4 * hidden),
    }, where="compression student")


def init_from_teacher(student: keras.Model, teacher: keras.Model) -> list[str]:
    """Copies every teacher layer whose name and weight shapes the student shares.

    The encoder's embeddings and `transformer_layer_<i>` for the student's i (the teacher's lower
    layers), the pooler, and the classification head. Returns the names of the copied layers.
    """
    copied = []
    pairs = [(encoder_of(student), encoder_of(teacher)), (student, teacher)]
    for student_part, teacher_part in pairs:
        teacher_layers = {layer.name: layer for layer in teacher_part.layers}
        for layer in student_part.layers:
            source = teacher_layers.get(layer.name)
            if source is None or not layer.weights or source is encoder_of(teacher):
                continue
            weights = source.get_weights()
            if [w.shape for w in weights] == [tuple(w.shape) for w in layer.weights]:
                layer.set_weights(weights)
                copied.append(layer.name)
    return copied


def kl_to_teacher(teacher_logits: tf.Tensor, student_logits: tf.Tensor,
                  temperature: float = 1.0) -> tf.Tensor:
    """KL(softmax(teacher / T) || softmax(student / T)) per row, float [batch]."""
    teacher_p = tf.nn.softmax(teacher_logits / temperature, axis=-1)
    student_log_p = tf.nn.log_softmax(student_logits / temperature, axis=-1)
    return tf.reduce_sum(teacher_p * (tf.math.log(teacher_p + 1e-12) - student_log_p), axis=-1)


def distillation_loss(teacher_logits: tf.Tensor, student_logits: tf.Tensor, labels: tf.Tensor,
                      temperature: float, soft_weight: float) -> tf.Tensor:
    """The loss of the module docstring, averaged over the batch.

    Args:
      teacher_logits, student_logits: float [batch, classes].
      labels: int32 [batch], -1 where the row has no label (soft term only).
    """
    soft = tf.reduce_mean(kl_to_teacher(teacher_logits, student_logits, temperature)) * temperature ** 2
    labelled = labels >= 0
    hard_ce = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.maximum(labels, 0), logits=student_logits)
    hard = tf.math.divide_no_nan(tf.reduce_sum(tf.where(labelled, hard_ce, 0.0)),
                                 tf.reduce_sum(tf.cast(labelled, tf.float32)))
    return soft_weight * soft + (1.0 - soft_weight) * hard


def _rows(train_files: Sequence[str], unlabelled_files: Sequence[str], labels: list[str],
          params: CompressionConfig) -> tuple[np.ndarray, np.ndarray, dict]:
    """(text, label id or -1) of the training rows, and their counts."""
    train = data.filter_languages(data.read_split(train_files), params.languages, "train")
    text, ids = list(train.text), list(data.label_ids(train, labels))
    counts = {"labelled": train.counts_by_language(), "unlabelled": 0}
    if unlabelled_files and params.unlabelled_rows:
        corpus = data.read_split(unlabelled_files)
        order = np.random.default_rng(params.seed).permutation(len(corpus))[:params.unlabelled_rows]
        text += [corpus.text[i] for i in order]
        ids += [-1] * len(order)
        counts["unlabelled"] = int(len(order))
    return np.array(text, dtype=object), np.array(ids, dtype=np.int32), counts


class _Evaluation:
    """Student against teacher on the eval split: KL divergence (T=1), accuracy, agreement."""

    def __init__(self, teacher: keras.Model, module: ServingModule, split: data.LabelledSplit,
                 labels: list[str], batch_size: int):
        self.batches = []
        for x, y in data.text_dataset(module.featurize, split.text, data.label_ids(split, labels),
                                      batch_size, None):
            self.batches.append((x, y, teacher(x, training=False)))
        self.teacher_accuracy = self._mean([tf.cast(tf.argmax(t, -1, tf.int32) == y, tf.float32)
                                            for _, y, t in self.batches])

    @staticmethod
    def _mean(parts) -> float:
        return float(tf.reduce_mean(tf.concat(parts, 0)))

    def __call__(self, student: keras.Model) -> dict[str, float]:
        kl, right, agree = [], [], []
        for x, y, teacher_logits in self.batches:
            logits = student(x, training=False)
            kl.append(kl_to_teacher(teacher_logits, logits))
            predicted = tf.argmax(logits, -1, tf.int32)
            right.append(tf.cast(predicted == y, tf.float32))
            agree.append(tf.cast(predicted == tf.argmax(teacher_logits, -1, tf.int32), tf.float32))
        return {"eval_kl": self._mean(kl), "eval_accuracy": self._mean(right),
                "eval_agreement": self._mean(agree)}


def distil(teacher_dir: str, train_files: Sequence[str], eval_files: Sequence[str],
           run_dir: str, params: CompressionConfig,
           unlabelled_files: Sequence[str] = ()) -> tuple[keras.Model, ServingModule, dict]:
    """Trains the student; returns (student classifier, its ServingModule, summary).

    Args:
      teacher_dir: the teacher's serving SavedModel (models/serving.py, with its
        classifier_config.json).
      train_files, eval_files: labelled Examples globs (`<uri>/Split-train/*`, ...).
      run_dir: where the summary (SUMMARY_FILE) and the teacher's labels go.
      params: see CompressionConfig.
      unlabelled_files: Examples globs of more text for the soft term (the pretraining corpus).
    """
    keras.utils.set_random_seed(params.seed)
    run = pathlib.Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    teacher, teacher_info = load_classifier(teacher_dir)
    assets = pathlib.Path(teacher_dir) / "assets"
    labels = (assets / LABELS_FILE).read_text(encoding="utf-8").splitlines()
    teacher_encoder = EncoderConfig.from_dict(teacher_info["encoder"])
    config = student_config(teacher_encoder, params.student())
    student = build_classifier(build_encoder(config, dtype="float32"), len(labels),
                               seed=params.seed, pooling=teacher_info["pooling"])
    copied = init_from_teacher(student, teacher)
    module = ServingModule(student, assets, assets / LABELS_FILE, teacher_info["seq_len"])

    text, ids, counts = _rows(train_files, unlabelled_files, labels, params)
    evaluation = _Evaluation(teacher, module, data.filter_languages(
        data.read_split(eval_files), params.languages, "eval"), labels, params.batch_size)
    optimizer = make_optimizer(params.learning_rate, params.train_steps // 10, params.train_steps)

    @tf.function
    def train_step(x, y):
        teacher_logits = teacher(x, training=False)
        with tf.GradientTape() as tape:
            loss = distillation_loss(teacher_logits, student(x, training=True), y,
                                     params.temperature, params.soft_weight)
        optimizer.apply_gradients(zip(tape.gradient(loss, student.trainable_variables),
                                      student.trainable_variables))
        return loss

    history = [{"step": 0, "train_loss": None, **evaluation(student)}]
    best = (_rank(history[0], params.keep_by), 0, student.get_weights())
    reporter = progress.ProgressReporter("distillation", params.train_steps)
    losses = []
    batches = iter(data.text_dataset(module.featurize, text, ids, params.batch_size,
                                     params.seed).repeat())
    for step in range(1, params.train_steps + 1):
        losses.append(float(train_step(*next(batches))))
        reporter.update(step, losses[-1])
        if step % params.eval_every == 0 or step == params.train_steps:
            history.append({"step": step, "train_loss": float(np.mean(losses)), **evaluation(student)})
            losses = []
            if _rank(history[-1], params.keep_by) > best[0]:
                best = (_rank(history[-1], params.keep_by), step, student.get_weights())
            logging.info("distillation: %s", history[-1])
    student.set_weights(best[2])
    summary = {
        "teacher": teacher_info, "student_encoder": config.to_dict(),
        "copied_from_teacher": copied, "rows": counts, "labels": labels,
        "teacher_eval_accuracy": evaluation.teacher_accuracy,
        "kept_step": best[1],
        "history": history, "params": dataclasses.asdict(params),
    }
    (run / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    return student, module, summary
