"""`mbert bench base-finetune-step`: size, memory and time per fine-tuning step of bert-base-multilingual.

The fine-tuning Trainer's model and optimizer (`build_classifier` on a BertBackbone of
bert-base-multilingual-cased's shape: 12 layers, hidden 768, 12 heads, 119,547 tokens, 512
positions; AdamW, clip norm 1.0), random weights (the step costs the same) and random token ids,
`train_on_batch` timed after two warm-up steps. Prints one JSON line: parameters, float32 size,
median seconds per step, sequences/s and the process's peak resident memory.
"""

from __future__ import annotations

import json
import resource
import statistics
import time

import click

# bert-base-multilingual-cased's config.json.
MBERT_BASE = dict(vocab_size=119_547, num_layers=12, hidden_dim=768, num_heads=12,
                  intermediate_dim=3072, max_sequence_length=512, dropout=0.1)


@click.command("base-finetune-step")
@click.option("--batch-size", default=32, show_default=True)
@click.option("--seq-len", default=128, show_default=True)
@click.option("--steps", default=5, show_default=True, help="Timed steps (after 2 warm-up steps).")
@click.option("--mixed-precision/--float32", default=False, show_default=True)
def base_finetune_step(batch_size: int, seq_len: int, steps: int, mixed_precision: bool) -> None:
    """Time per fine-tuning step of an M-BERT-base classifier (one JSON line)."""
    import keras
    import numpy as np

    from models.classifier import build_classifier
    from models.encoder import build_encoder
    from models.encoder_config import EncoderConfig

    keras.utils.set_random_seed(0)
    encoder = build_encoder(EncoderConfig(**MBERT_BASE),
                            dtype="mixed_bfloat16" if mixed_precision else "float32")
    model = build_classifier(encoder, num_classes=7)
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=3e-5, weight_decay=0.01, clipnorm=1.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    batch = {"token_ids": rng.integers(1000, MBERT_BASE["vocab_size"], (batch_size, seq_len)).astype("int32"),
             "segment_ids": np.zeros((batch_size, seq_len), "int32"),
             "padding_mask": np.ones((batch_size, seq_len), bool)}
    labels = rng.integers(0, 7, batch_size)
    for _ in range(2):
        model.train_on_batch(batch, labels)
    seconds = []
    for _ in range(steps):
        started = time.perf_counter()
        model.train_on_batch(batch, labels)
        seconds.append(time.perf_counter() - started)
    params = int(sum(np.prod(w.shape) for w in encoder.weights))
    median = statistics.median(seconds)
    click.echo(json.dumps({
        "benchmark": "base-finetune-step", "batch_size": batch_size, "seq_len": seq_len,
        "mixed_precision": mixed_precision, "backend": keras.backend.backend(),
        "encoder_parameters": params, "encoder_float32_mb": round(params * 4 / 2**20, 1),
        "seconds_per_step_median": round(median, 3), "sequences_per_second": round(batch_size / median, 2),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "steps": steps}))
