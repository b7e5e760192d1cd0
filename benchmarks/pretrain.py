"""`mbert bench pretrain`: MLM + NSP training throughput against Hugging Face transformers.

Times full training steps (forward, backward, gradient clipping, AdamW) of our
`PretrainingModel` on random token ids, exactly the batch the peer
(`../shared/bench/hf_pretrain_throughput.py`, BertForPreTraining on PyTorch CPU) trains on, and
runs the peer in the same invocation, alternating with ours, because this machine is shared and
absolute figures drift. Prints one JSON line: our median tokens/s, the peer's, their ratio.
"""

from __future__ import annotations

import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

import click

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
PEER_SCRIPT = REPO_ROOT.parent / "shared" / "bench" / "hf_pretrain_throughput.py"
PEER_PYTHON = pathlib.Path("/tmp/mbert-peers/bin/python")


def random_masked_batch(batch: int, seq_len: int, predictions: int, vocab_size: int, seed: int = 0) -> dict:
    """A masked batch of the `mask_batch` layout with random ids (as the peer trains on)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    positions = np.sort(
        np.stack([rng.choice(np.arange(1, seq_len), predictions, replace=False) for _ in range(batch)]), axis=1
    )
    return {
        "token_ids": rng.integers(5, vocab_size, (batch, seq_len)).astype("int32"),
        "segment_ids": np.zeros((batch, seq_len), "int32"),
        "padding_mask": np.ones((batch, seq_len), bool),
        "mask_positions": positions.astype("int32"),
        "mask_ids": rng.integers(5, vocab_size, (batch, predictions)).astype("int32"),
        "mask_weights": np.ones((batch, predictions), "float32"),
        "next_sentence_label": rng.integers(0, 2, (batch,)).astype("int32"),
    }


class _Ours:
    """Our model and compiled step, built once and timed in blocks."""

    def __init__(self, args: dict):
        import keras
        import tensorflow as tf

        from components.pretraining.schedule import make_optimizer
        from components.pretraining.steps import make_train_step
        from models.encoder import build_encoder
        from models.encoder_config import EncoderConfig
        from models.pretraining_model import PretrainingModel

        config = EncoderConfig(
            vocab_size=args["vocab_size"],
            num_layers=args["layers"],
            hidden_dim=args["hidden"],
            num_heads=args["heads"],
            intermediate_dim=args["intermediate"],
            max_sequence_length=max(512, args["seq_len"]),
            dropout=0.1,
        )
        keras.utils.set_random_seed(0)
        dtype = "mixed_bfloat16" if args["bf16"] else "float32"
        self.model = PretrainingModel(build_encoder(config, dtype=dtype), sparse_last_layer=bool(args["sparse_last_layer"]))
        self.model.build()
        optimizer = make_optimizer(1e-4, warmup_steps=10, total_steps=100_000)
        optimizer.build(self.model.trainable_variables)
        self.batch = {
            key: tf.constant(value)
            for key, value in random_masked_batch(
                args["batch"], args["seq_len"], args["predictions"], args["vocab_size"]
            ).items()
        }
        self.step = make_train_step(self.model, optimizer, tf.distribute.get_strategy(), jit_compile=bool(args["jit"]))
        self.tokens = args["batch"] * args["seq_len"]

    def time_block(self, steps: int, warmup: int) -> float:
        """Runs `warmup` then `steps` steps; returns seconds per step of the timed ones."""
        for _ in range(warmup):
            float(self.step(self.batch)["loss"])
        start = time.perf_counter()
        for _ in range(steps):
            # Fetching the loss each step is what a real loop does (logging, NaN check).
            float(self.step(self.batch)["loss"])
        return (time.perf_counter() - start) / steps


class _KerasHubBaseline(_Ours):
    """The plain keras-nlp recipe: BertBackbone + MaskedLMHead (tied) + a Dense NSP layer, the same
    optimiser and a tf.function step, mixed_bfloat16 policy with --bf16 1 (no XLA, dense last
    layer). What "go beyond" is measured against."""

    def __init__(self, args: dict):
        import keras
        import keras_hub
        import tensorflow as tf

        from components.pretraining.schedule import make_optimizer

        keras.utils.set_random_seed(0)
        dtype = "mixed_bfloat16" if args["bf16"] else "float32"
        backbone = keras_hub.models.BertBackbone(
            args["vocab_size"], args["layers"], args["heads"], args["hidden"], args["intermediate"],
            max_sequence_length=max(512, args["seq_len"]), dtype=dtype,
        )
        head = keras_hub.layers.MaskedLMHead(
            token_embedding=backbone.token_embedding, intermediate_activation="gelu", dtype=dtype
        )
        nsp = keras.layers.Dense(2, dtype=dtype)
        batch = random_masked_batch(args["batch"], args["seq_len"], args["predictions"], args["vocab_size"])
        self.batch = {key: tf.constant(value) for key, value in batch.items()}
        inputs = {key: self.batch[key] for key in ("token_ids", "segment_ids", "padding_mask")}
        out = backbone(inputs)
        head(out["sequence_output"], mask_positions=self.batch["mask_positions"])
        nsp(out["pooled_output"])
        variables = backbone.trainable_variables + head.trainable_variables + nsp.trainable_variables
        optimizer = make_optimizer(1e-4, warmup_steps=10, total_steps=100_000)
        optimizer.build(variables)

        @tf.function
        def step(batch):
            with tf.GradientTape() as tape:
                out = backbone({key: batch[key] for key in ("token_ids", "segment_ids", "padding_mask")}, training=True)
                logits = tf.cast(head(out["sequence_output"], mask_positions=batch["mask_positions"]), tf.float32)
                xent = tf.nn.sparse_softmax_cross_entropy_with_logits(batch["mask_ids"], logits)
                nsp_logits = tf.cast(nsp(out["pooled_output"]), tf.float32)
                loss = tf.reduce_sum(xent * batch["mask_weights"]) / tf.reduce_sum(batch["mask_weights"])
                loss += tf.reduce_mean(
                    tf.nn.sparse_softmax_cross_entropy_with_logits(batch["next_sentence_label"], nsp_logits)
                )
            grads = tape.gradient(loss, variables)
            optimizer.apply_gradients(zip(grads, variables))
            return {"loss": loss}

        self.step = step
        self.tokens = args["batch"] * args["seq_len"]


def _peer(args: dict) -> dict | None:
    if not PEER_PYTHON.exists() or not PEER_SCRIPT.exists():
        return None
    command = [str(PEER_PYTHON), str(PEER_SCRIPT)]
    for key in ("layers", "hidden", "heads", "intermediate", "vocab_size", "seq_len", "batch", "predictions", "steps", "bf16"):
        command += ["--" + key.replace("_", "-"), str(args[key])]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise click.ClickException(f"peer failed ({' '.join(command)}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@click.command("pretrain")
@click.option("--layers", default=4, show_default=True)
@click.option("--hidden", default=256, show_default=True)
@click.option("--heads", default=4, show_default=True)
@click.option("--intermediate", default=1024, show_default=True)
@click.option("--vocab-size", default=30000, show_default=True)
@click.option("--seq-len", default=128, show_default=True)
@click.option("--batch", default=32, show_default=True)
@click.option("--predictions", default=20, show_default=True)
@click.option("--bf16", default=0, show_default=True, help="1: mixed_bfloat16 (ours) / autocast bf16 (peer).")
@click.option("--jit", default=-1, show_default=True, help="XLA for our step: 1 on, 0 off, -1 auto (off on CPU).")
@click.option("--sparse-last-layer", default=1, show_default=True, help="Run the last layer only at [CLS] + masked rows.")
@click.option("--steps", default=10, show_default=True, help="Timed steps per block.")
@click.option("--warmup", default=3, show_default=True)
@click.option("--rounds", default=3, show_default=True, help="Alternating ours/peer rounds; medians reported.")
@click.option("--peer/--no-peer", default=True, show_default=True)
@click.option("--baseline/--no-baseline", default=True, show_default=True, help="Also time plain keras-nlp (BertBackbone + MaskedLMHead).")
def pretrain(**args):
    """Tokens/s of full MLM+NSP training steps, ours vs BertForPreTraining (PyTorch), same run."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from components.pretraining.hardware import default_jit_compile

    if args["jit"] < 0:
        args["jit"] = int(default_jit_compile(bool(args["bf16"])))
    ours = _Ours(args)
    baseline = _KerasHubBaseline(args) if args["baseline"] else None
    ours_seconds, baseline_seconds, peer_tokens, peer_info = [], [], [], None
    for round_index in range(args["rounds"]):
        warmup = args["warmup"] if round_index == 0 else 1
        ours_seconds.append(ours.time_block(args["steps"], warmup))
        if baseline is not None:
            baseline_seconds.append(baseline.time_block(args["steps"], warmup))
        if args["peer"]:
            peer_info = _peer(args)
            if peer_info is not None:
                peer_tokens.append(peer_info["tokens_per_s"])
    tokens_per_s = ours.tokens / statistics.median(ours_seconds)
    result = {
        "benchmark": "pretrain",
        "tokens_per_s": round(tokens_per_s),
        "step_seconds": round(statistics.median(ours_seconds), 4),
        "runs_tokens_per_s": [round(ours.tokens / s) for s in ours_seconds],
        "peer": peer_info["peer"] if peer_info else None,
        "peer_tokens_per_s": round(statistics.median(peer_tokens)) if peer_tokens else None,
        "peer_runs_tokens_per_s": peer_tokens,
        "ratio": round(tokens_per_s / statistics.median(peer_tokens), 2) if peer_tokens else None,
        "keras_hub_baseline_tokens_per_s": (
            round(ours.tokens / statistics.median(baseline_seconds)) if baseline_seconds else None
        ),
        "baseline_runs_tokens_per_s": [round(ours.tokens / s) for s in baseline_seconds],
        "ratio_to_keras_hub_baseline": (
            round(statistics.median(baseline_seconds) / statistics.median(ours_seconds), 2) if baseline_seconds else None
        ),
        "config": {k: v for k, v in args.items() if k not in ("peer", "baseline")},
        "precision": "mixed_bfloat16" if args["bf16"] else "float32",
    }
    click.echo(json.dumps(result))


if __name__ == "__main__":
    sys.exit(pretrain())
