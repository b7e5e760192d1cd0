"""Compiled training and evaluation steps (TensorFlow backend), shared by `train` and the benchmark."""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from models.pretraining_model import MODEL_INPUTS, PretrainingModel, pretraining_losses

# What a train step returns per call (summed over replicas; see make_train_step).
STEP_OUTPUTS = ("loss", "mlm_loss", "nsp_loss", "alignment_loss", "mlm_correct", "mlm_count",
                "nsp_correct", "nsp_count", "alignment_correct", "alignment_count", "examples")


def model_inputs(batch: dict) -> dict:
    """The keys of a masked batch that the model reads (position_ids only when present)."""
    return {key: batch[key] for key in MODEL_INPUTS if key in batch}


def _replica_stats(stats: dict, batch_size) -> dict:
    """Per-replica sums that add up across replicas into batch-level figures."""
    return {
        "mlm_correct": tf.reduce_sum(stats["mlm_correct"]),
        "mlm_count": tf.reduce_sum(stats["mlm_count"]),
        "nsp_correct": tf.reduce_sum(stats["nsp_correct"]),
        "nsp_count": tf.reduce_sum(stats["nsp_count"]),
        "alignment_correct": stats["alignment_correct"],
        "alignment_count": stats["alignment_count"],
        "examples": tf.cast(batch_size, tf.float32),
    }


def make_train_step(
    model: PretrainingModel,
    optimizer,
    strategy: tf.distribute.Strategy,
    jit_compile: bool = False,
    next_sentence_prediction: bool = True,
    alignment_weight: float = 0.0,
    alignment_temperature: float = 0.1,
) -> Callable[[dict], dict]:
    """Returns `step(batch) -> dict of float32 scalars` running one optimiser step.

    The batch is a masked batch (see components/pretraining/masking.py) or, under a distribution strategy, the
    per-replica value produced by `strategy.experimental_distribute_dataset`. Losses in the
    result are means over replicas; `mlm_correct`, `mlm_count`, `nsp_correct`, `nsp_count`,
    `examples` are sums over the global batch. Without `next_sentence_prediction` the loss is
    the MLM loss alone (the NSP head is still scored, untrained). With `parallel_ids` in the
    batch, the alignment loss on those sentences is added with `alignment_weight`
    (models/pretraining_model.py `alignment_loss`).

    With one replica the whole step (forward, backward, clipping, AdamW) is one XLA cluster when
    `jit_compile`; with several, XLA cannot hold the cross-replica all-reduce on every platform,
    so only the forward and backward pass are compiled and the update runs outside.
    """
    replicas = strategy.num_replicas_in_sync
    variables = model.trainable_variables

    def gradients(batch):
        with tf.GradientTape() as tape:
            outputs = model(model_inputs(batch), training=True)
            stats = pretraining_losses(outputs, batch, next_sentence_prediction,
                                       alignment_weight, alignment_temperature)
            # Replica gradients are summed by the optimiser: scale so the sum is the mean.
            scaled_loss = stats["loss"] / replicas
        grads = tape.gradient(scaled_loss, variables)
        return grads, stats

    def summarize(stats, batch):
        out = {key: stats[key] / replicas
               for key in ("loss", "mlm_loss", "nsp_loss", "alignment_loss")}
        out.update(_replica_stats(stats, tf.shape(batch["token_ids"])[0]))
        return out

    if replicas == 1 and not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):

        def single_step(batch):
            grads, stats = gradients(batch)
            optimizer.apply_gradients(zip(grads, variables))
            return summarize(stats, batch)

        return tf.function(single_step, jit_compile=jit_compile, reduce_retracing=True)

    compiled_gradients = tf.function(gradients, jit_compile=jit_compile, reduce_retracing=True)

    def replica_step(batch):
        grads, stats = compiled_gradients(batch)
        optimizer.apply_gradients(zip(grads, variables))
        return summarize(stats, batch)

    @tf.function(reduce_retracing=True)
    def distributed_step(batch):
        per_replica = strategy.run(replica_step, args=(batch,))
        return {
            key: strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
            for key, value in per_replica.items()
        }

    return distributed_step


def make_eval_step(model: PretrainingModel, jit_compile: bool = False) -> Callable[[dict], dict]:
    """Returns `step(batch) -> dict` of per-example float32 [B] `mlm_correct`, `mlm_count`,
    `nsp_correct`, `nsp_count`, `nsp_random` and scalar `mlm_loss`, `nsp_loss` (evaluation
    runs locally on each worker)."""

    def step(batch):
        stats = pretraining_losses(model(model_inputs(batch), training=False), batch)
        return {
            key: stats[key]
            for key in ("mlm_loss", "nsp_loss", "mlm_correct", "mlm_count", "nsp_correct",
                        "nsp_count", "nsp_random")
        }

    return tf.function(step, jit_compile=jit_compile, reduce_retracing=True)
