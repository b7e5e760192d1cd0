"""BERT's optimiser: AdamW with linear warm-up then linear decay, and gradient clipping."""

from __future__ import annotations

import keras
from keras import ops

# Layer-norm scales/offsets and biases are not decayed (google-research/bert optimization.py).
NO_DECAY_NAMES = ("bias", "gamma", "beta")


@keras.saving.register_keras_serializable(package="mbert")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Learning rate rising linearly from 0 to `peak` over `warmup_steps`, then falling linearly to
    `end_fraction * peak` at `total_steps` (and staying there).

    Args:
        peak: Learning rate reached at the end of warm-up.
        warmup_steps: Steps of linear warm-up (0 = start at `peak`).
        total_steps: Step at which the decay ends.
        end_fraction: Final learning rate as a fraction of `peak`.
    """

    def __init__(self, peak: float, warmup_steps: int, total_steps: int, end_fraction: float = 0.0):
        if total_steps <= 0 or warmup_steps < 0 or warmup_steps > total_steps:
            raise ValueError(
                f"need 0 <= warmup_steps <= total_steps and total_steps > 0; got "
                f"warmup_steps={warmup_steps}, total_steps={total_steps}"
            )
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)
        self.end_fraction = float(end_fraction)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        # Step 0 trains at peak/warmup, not 0, so the first update is not wasted.
        warm = self.peak * (step + 1.0) / max(self.warmup_steps, 1)
        decay_steps = max(self.total_steps - self.warmup_steps, 1)
        progress = ops.minimum((step - self.warmup_steps) / decay_steps, 1.0)
        decayed = self.peak * (1.0 - (1.0 - self.end_fraction) * progress)
        return ops.where(step < self.warmup_steps, warm, decayed)

    def get_config(self):
        return dict(
            peak=self.peak,
            warmup_steps=self.warmup_steps,
            total_steps=self.total_steps,
            end_fraction=self.end_fraction,
        )


def make_optimizer(
    learning_rate: float,
    warmup_steps: int,
    total_steps: int,
    weight_decay: float = 0.01,
    clip_norm: float = 1.0,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-6,
) -> keras.optimizers.AdamW:
    """AdamW as BERT used it: decoupled weight decay 0.01 except on biases and layer norms,
    global-norm clipping at 1.0, epsilon 1e-6.

    Clipping happens on each replica's gradients before they are summed across replicas, as in
    google-research/bert on TPU (clip, then CrossShardOptimizer), which is Keras' order too.
    """
    optimizer = keras.optimizers.AdamW(
        learning_rate=WarmupLinearDecay(learning_rate, warmup_steps, total_steps),
        weight_decay=weight_decay,
        beta_1=beta_1,
        beta_2=beta_2,
        epsilon=epsilon,
        global_clipnorm=clip_norm if clip_norm and clip_norm > 0 else None,
    )
    optimizer.exclude_from_weight_decay(var_names=list(NO_DECAY_NAMES))
    return optimizer
