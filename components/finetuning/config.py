"""FinetuningConfig: the fine-tuning stage's settings, the YAML `finetuning:` section.

The pipeline passes it whole to the fine-tuning Trainer (`custom_config["config"]`, one JSON
value); `trainer_module.run_fn` reads it back with the same rules (components/settings.py).
"""

from __future__ import annotations

import dataclasses
from typing import Optional

from components.ingestion.languages import normalize_language
from components.settings import SEED_MAX, learning_rate, setting


def language_tag(code: str) -> str | None:
    """Problem with a language code as the ingested data spells it (a normalised tag), or None."""
    if code == "all":
        return None
    tag = normalize_language(code)
    if tag is None:
        return f"unknown language code {code!r}"
    if tag != code:
        return f"{code!r} is spelled {tag!r} in the ingested data (normalised tags)"
    return None


@dataclasses.dataclass
class FinetuningConfig:
    """Settings of `trainer_module.finetune` (classifier on the pretrained encoder)."""

    # Normalised language tags as the ingested data has them (`en`, `zh-Hans`), or "all";
    # ["en"] = English rows only, zero-shot to the others (M-BERT's question).
    train_languages: list[str] = setting(default_factory=lambda: ["en"], check=language_tag)
    # The class list (its order = class ids); None = the sorted labels of the train rows.
    labels: Optional[list[str]] = None
    # Packed length (<= the encoder's positions).
    max_seq_length: int = setting(128, minimum=8, maximum=8192)
    batch_size: int = setting(32, minimum=1, maximum=65536)
    # Peak AdamW rate after a linear warm-up over 10% of the steps, then linear decay.
    learning_rate: float = learning_rate(5e-5)
    weight_decay: float = setting(0.01, minimum=0.0, maximum=1.0)
    # Passes over the rows when train_steps is 0 (early stopping may end sooner).
    epochs: int = setting(3, minimum=1, maximum=100_000)
    # Length in optimiser steps (0 = `epochs` passes over the rows), evaluated every eval_every
    # steps for early stopping and the best weights.
    train_steps: int = setting(0, minimum=0)
    eval_every: int = setting(100, minimum=1)
    # Classifier head dropout.
    dropout: float = setting(0.1, minimum=0.0, below=1.0)
    # "cls": BERT's pooled [CLS]; "mean": token vectors averaged (for an encoder pretrained
    # without next-sentence prediction, whose [CLS] and pooler never trained).
    pooling: str = setting("cls", choices=("cls", "mean"))
    # Keep the encoder's embedding layers as pretrained: fine-tuned on one language, the other
    # languages' word pieces then stay where pretraining put them (zero-shot transfer).
    freeze_embeddings: bool = False
    # Evaluations without improvement before stopping.
    early_stopping_patience: int = setting(2, minimum=0)
    # What early stopping and the kept weights follow on the eval split: "loss" or "accuracy"
    # (on a few hundred rows the loss can rise from over-confidence while accuracy still climbs).
    early_stopping_metric: str = setting("loss", choices=("loss", "accuracy"))
    # A local keras-nlp preset directory (e.g. a downloaded bert_base_multi) to fine-tune instead
    # of the encoder this pipeline pretrained; relative to the config file.
    pretrained_preset_dir: Optional[str] = None
    # Same architecture, fresh weights (the no-pretraining control).
    random_init: bool = False
    # Permute the training labels (a deliberately worse model, for the gate's tests).
    shuffle_labels: bool = False
    seed: int = setting(0, minimum=0, maximum=SEED_MAX)
    # Most rows one call to the exported model may send; it bounds a request's memory.
    max_serving_batch: int = setting(1024, minimum=1, maximum=1_000_000)
