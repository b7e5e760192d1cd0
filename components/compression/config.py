"""CompressionConfig: the compression stage's settings, the YAML `compression:` section.

StudentDistillation receives it as one JSON value (`config`) and reads it back with the YAML's
rules (components/settings.py); the pipeline reads the gate's and the push's keys from it.
"""

from __future__ import annotations

import dataclasses

from components.finetuning.config import language_tag
from components.settings import SEED_MAX, folder_name, fraction, learning_rate, setting

QUANTIZE_MODES = ("int8", "none")
# Read by the pipeline for the compression Evaluator, CompressionGate and Pusher.
GATE_AND_PUSH_KEYS = ("max_language_drop", "max_latency_ratio", "model_name")


@dataclasses.dataclass
class CompressionConfig:
    """Distil the fine-tuned classifier into a smaller student, quantise it, and push it under its
    own model name when no language drops more than max_language_drop against the teacher and it
    answers faster (components/compression)."""

    # The student's encoder; 0 = half the teacher's layers (at least 1), the teacher's width.
    num_layers: int = setting(0, minimum=0, maximum=1000)
    hidden_dim: int = setting(0, minimum=0, maximum=65536)
    num_heads: int = setting(0, minimum=0, maximum=1024)
    intermediate_dim: int = setting(0, minimum=0, maximum=262144)
    # Softening of the teacher's distribution and the soft term's share of the loss.
    temperature: float = setting(2.0, above=0.0, maximum=100.0)
    soft_weight: float = fraction(0.5)
    train_steps: int = setting(1000, minimum=1)
    batch_size: int = setting(32, minimum=1, maximum=65536)
    learning_rate: float = learning_rate(5e-4)
    eval_every: int = setting(100, minimum=1)
    # Which evaluation's student is kept: "accuracy" (best eval accuracy) or "kl" (closest to
    # the teacher's distribution).
    keep_by: str = setting("accuracy", choices=("accuracy", "kl"))
    # Rows of the pretraining corpus's text the teacher labels for the soft term (0 = none).
    unlabelled_rows: int = setting(0, minimum=0)
    # Languages of the labelled rows the student trains on (tags, or "all").
    languages: list[str] = setting(default_factory=lambda: ["all"], check=language_tag)
    # "int8": weights (and per-call activations) of dense layers and embeddings in int8.
    quantize: str = setting("int8", choices=QUANTIZE_MODES)
    # No language may lose more accuracy than this (absolute, 0.02 = 2 points) against the teacher.
    max_language_drop: float = fraction(0.02)
    # The compressed model's p50 latency must be below this share of the teacher's.
    max_latency_ratio: float = setting(1.0, above=0.0, maximum=1.0)
    # TF Serving name of the compressed model ("" = push.model_name + "_compressed").
    model_name: str = setting("", check=lambda value: folder_name(value) if value else None)
    seed: int = setting(0, minimum=0, maximum=SEED_MAX)

    def _cross_problems(self):
        if self.hidden_dim and self.num_heads and self.hidden_dim % self.num_heads:
            yield "hidden_dim", f"{self.hidden_dim} is not a multiple of num_heads {self.num_heads}"

    def for_distillation(self) -> "CompressionConfig":
        """These settings with the gate's and the push's keys at their defaults: what
        StudentDistillation receives, so a new threshold or model name re-runs the gate and the
        push, not the distillation (TFX caches by the component's parameters)."""
        defaults = CompressionConfig()
        return dataclasses.replace(self, **{key: getattr(defaults, key) for key in GATE_AND_PUSH_KEYS})

    def student(self) -> dict:
        """The student's EncoderConfig overrides (keys left at 0 are left out)."""
        return {key: getattr(self, key) for key in ("num_layers", "hidden_dim", "num_heads",
                                                    "intermediate_dim") if getattr(self, key)}
