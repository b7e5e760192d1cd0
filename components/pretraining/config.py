"""PretrainingConfig: the pretraining stage's settings, the YAML `pretraining:` section.

The pipeline fills `seq_len` and `seed` from `pretraining_examples` and passes the whole object
to the pretraining Trainer as one JSON value (components/trainer.py); `trainer_module.run_fn`
and `training.train` read it back with the YAML's rules (components/settings.py). Paths (the
vocabulary, the checkpoint folder, an initial model) are wiring, arguments of `train`.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

from components.settings import SEED_MAX, learning_rate, setting
from models.encoder_config import PRESETS, EncoderConfig

# Encoder shape overrides above this are typos, not models (the base preset is 768 wide).
ENCODER_INT_MAX = 65536
FLAGS = ("auto", "true", "false")  # "auto": the hardware's default (bfloat16 / XLA where supported)


@dataclasses.dataclass
class PretrainingConfig:
    """Everything `training.train` needs besides file locations."""

    # tiny, compact, small or base (models/encoder_config.py).
    preset: str = setting("tiny", choices=sorted(PRESETS))
    # Optimiser steps in total (training stops exactly there, resumed or not).
    train_steps: int = setting(1000, minimum=1)
    # Batches evaluated at the end: 0 = the whole eval split, null = no evaluation.
    eval_steps: Optional[int] = setting(20, minimum=0)
    # Global batch size (split evenly across replicas).
    batch_size: int = setting(32, minimum=1, maximum=65536)
    eval_batch_size: int = setting(32, minimum=1, maximum=65536)
    # Peak AdamW rate, after a linear warm-up over warmup_steps, then linear decay.
    learning_rate: float = learning_rate(1e-4)
    warmup_steps: int = setting(100, minimum=0)
    weight_decay: float = setting(0.01, minimum=0.0, maximum=1.0)
    # Global gradient-norm clip; 0 = no clipping.
    clip_norm: float = setting(1.0, minimum=0.0)
    checkpoint_every: int = setting(500, minimum=1)
    # Checkpoints kept (the newest; the last good one is never deleted).
    keep_checkpoints: int = setting(3, minimum=1, maximum=1000)
    # Steps between training log lines and TensorBoard points.
    log_every: int = setting(50, minimum=1)
    mask_rate: float = setting(0.15, above=0.0, below=1.0)
    # Masked positions per sequence.
    max_predictions: int = setting(20, minimum=1, maximum=8192)
    whole_word_masking: bool = False
    # BERT's next-sentence prediction; false = masked LM only (RoBERTa, XLM), for instances
    # built with pretraining_examples.random_next_prob 0.
    next_sentence_prediction: bool = True
    # Weight of the alignment loss (models/pretraining_model.py `alignment_loss`: the bags of
    # word-piece embeddings of a sentence's translations pulled together, multi-way in-batch
    # contrastive), added to every step on `alignment_groups` aligned sentences; 0 = off.
    # Needs pretraining_examples.parallel_sentences.
    alignment_weight: float = setting(0.0, minimum=0.0, maximum=100.0)
    alignment_temperature: float = setting(0.1, above=0.0, maximum=10.0)
    # Aligned sentences (each in all its languages) per step, and pieces kept of each.
    alignment_groups: int = setting(32, minimum=2, maximum=65536)
    alignment_max_pieces: int = setting(64, minimum=1, maximum=8192)
    # Encoder shape overrides of the preset (num_layers, hidden_dim, num_heads,
    # intermediate_dim, max_sequence_length, dropout); vocab_size comes from the vocabulary.
    encoder: dict = dataclasses.field(default_factory=dict)
    # Last encoder layer only at [CLS] + the masked rows (see PretrainingModel).
    sparse_last_layer: bool = True
    shuffle_buffer: int = setting(10000, minimum=1, maximum=10_000_000)
    # bfloat16 mixed precision and XLA compilation of the step: "auto", "true" or "false".
    mixed_precision: str = setting("auto", choices=FLAGS)
    jit_compile: str = setting("auto", choices=FLAGS)
    # TPU name or address; None reads TPU_NAME.
    tpu: Optional[str] = None
    # Length of the pretraining instances.
    seq_len: int = setting(128, minimum=5, maximum=8192,
                           set_by="the pipeline from pretraining_examples.max_seq_length")
    # Seed of initialisation, shuffling and masking; a resumed run continues its data stream.
    # (null: nothing reproducible, a resumed run draws new batches).
    seed: Optional[int] = setting(0, minimum=0, maximum=SEED_MAX,
                                  set_by="the pipeline from pretraining_examples.seed")

    def encoder_config(self) -> EncoderConfig:
        """The encoder shape (vocab_size 1 stands in for the vocabulary's size, known only once
        it is built); ValueError names the bad override."""
        return EncoderConfig.preset(self.preset, 1, **self.encoder)

    def _cross_problems(self):
        if self.warmup_steps > self.train_steps:
            yield "warmup_steps", f"{self.warmup_steps} is more than train_steps {self.train_steps}"
        if "vocab_size" in self.encoder:
            yield "encoder.vocab_size", "comes from the vocabulary; set vocabulary.vocab_size instead"
            return
        for name, value in self.encoder.items():
            if isinstance(value, int) and not isinstance(value, bool) and value > ENCODER_INT_MAX:
                yield f"encoder.{name}", f"must be <= {ENCODER_INT_MAX}, got {value}"
                return
        try:
            self.encoder_config()
        except ValueError as e:
            yield "encoder", str(e)
