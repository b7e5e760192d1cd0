"""Pretraining hyperparameters: the Trainer's `custom_config`, checked key by key."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Union

Flag = Union[bool, str, None]  # True / False / "auto" (hardware default)


@dataclasses.dataclass
class PretrainingHParams:
    """Everything `train` needs besides file locations; built from TFX `custom_config`.

    Attributes:
        encoder_preset: `tiny`, `small` or `base` (models/encoder_config.py).
        encoder: Overrides of the preset's EncoderConfig fields (vocab_size comes from the
            vocabulary; giving a different one is an error).
        train_steps: Optimiser steps in total (training stops exactly there, resumed or not).
        batch_size: Global batch size (split evenly across replicas).
        seq_len: Length of the pretraining instances (`max_seq_length` of PretrainingExampleGen).
        max_predictions: Masked positions per sequence (P).
        mask_rate: Share of tokens to predict.
        whole_word: Whole-word masking.
        next_sentence_prediction: Train the NSP head (BERT); False = masked LM only (RoBERTa,
            XLM), for instances built with random_next_prob 0.
        learning_rate: Peak learning rate.
        warmup_steps: Linear warm-up steps.
        weight_decay: AdamW decoupled weight decay.
        clip_norm: Global gradient-norm clip (0 disables).
        checkpoint_every: Steps between checkpoints.
        keep_checkpoints: Checkpoints kept (the newest; the last good one is never deleted).
        log_every: Steps between training log lines and TensorBoard points.
        eval_steps: Batches evaluated at the end (0 = whole eval split, None = skip evaluation).
        eval_batch_size: Batch size of evaluation.
        mixed_precision: bfloat16 mixed precision: True, False or "auto".
        jit_compile: XLA compilation of the step: True, False or "auto".
        sparse_last_layer: Last layer only at [CLS] + masked rows (see PretrainingModel).
        tpu: TPU name/address; None reads TPU_NAME.
        seed: Seed of initialisation, shuffling and masking; a resumed run continues its data
            stream (None: nondeterministic data, a resumed run draws new batches).
        shuffle_buffer: Records in the shuffle buffer.
        vocab_dir: Vocabulary folder; MBertTrainer fills it from its vocabulary input.
        checkpoint_dir: Where checkpoints live; default `<model_dir>/checkpoints`. Point it at a
            stable path so a retried Trainer resumes.
        initial_model_dir: An encoder export (components/contracts.py; e.g. an imported base model) to start
            from: its encoder_config.json replaces the preset, its weights (and
            pretraining_heads.npz, when present) the random initialisation. run_fn fills it from
            the Trainer's base_model.
    """

    encoder_preset: str = "tiny"
    encoder: dict = dataclasses.field(default_factory=dict)
    train_steps: int = 1000
    batch_size: int = 32
    seq_len: int = 128
    max_predictions: int = 20
    mask_rate: float = 0.15
    whole_word: bool = False
    next_sentence_prediction: bool = True
    learning_rate: float = 1e-4
    warmup_steps: int = 100
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    log_every: int = 50
    eval_steps: Optional[int] = 0
    eval_batch_size: int = 32
    mixed_precision: Flag = "auto"
    jit_compile: Flag = "auto"
    sparse_last_layer: bool = True
    tpu: Optional[str] = None
    seed: Optional[int] = 0
    shuffle_buffer: int = 10_000
    vocab_dir: Optional[str] = None
    checkpoint_dir: Optional[str] = None
    initial_model_dir: Optional[str] = None

    def __post_init__(self):
        positive = ("train_steps", "batch_size", "seq_len", "max_predictions", "checkpoint_every",
                    "keep_checkpoints", "log_every", "eval_batch_size", "shuffle_buffer")
        for key in positive:
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"pretraining hparams: {key} must be a positive integer, got {value!r}")
        if not isinstance(self.warmup_steps, int) or not 0 <= self.warmup_steps <= self.train_steps:
            raise ValueError(
                f"pretraining hparams: warmup_steps must be an integer in [0, train_steps="
                f"{self.train_steps}], got {self.warmup_steps!r}"
            )
        for key in ("learning_rate", "weight_decay", "clip_norm", "mask_rate"):
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"pretraining hparams: {key} must be a non-negative number, got {value!r}")
        if not isinstance(self.encoder, dict):
            raise ValueError(f"pretraining hparams: encoder must be a mapping of EncoderConfig fields, got {self.encoder!r}")
        if self.eval_steps is not None and (not isinstance(self.eval_steps, int) or self.eval_steps < 0):
            raise ValueError(f"pretraining hparams: eval_steps must be None or an integer >= 0, got {self.eval_steps!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None, where: str = "custom_config") -> "PretrainingHParams":
        """Builds hparams from a dict; an unknown key raises ValueError naming it."""
        values = dict(values or {})
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{where}: unknown pretraining key {unknown[0]!r} (known keys: {sorted(known)})")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
