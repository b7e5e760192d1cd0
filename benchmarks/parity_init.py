"""Initial weights that the project's model and the Hugging Face reference both start from.

numpy only: the reference (`benchmarks/hf_reference.py`) runs in the peer environment, which
has no TensorFlow or Keras. Weights are keyed by the Keras variable paths of
`models.pretraining_model.PretrainingModel` (e.g. `transformer_layer_0/self_attention_layer/
query/kernel`); the reference maps them onto `BertForPreTraining`'s parameters.

BERT's initialisation (google-research/bert `create_initializer`): every kernel and embedding
from a normal with stddev 0.02 truncated at two deviations (here: clipped, so that the values are
one simple function of the seed), biases and layer-norm offsets 0, layer-norm scales 1.
`numpy.random.RandomState` keeps its stream across numpy versions, so both environments get the
same numbers.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

STDDEV = 0.02


def initial_weights(shapes: Mapping[str, Sequence[int]], seed: int) -> dict[str, np.ndarray]:
    """{variable path: float32 array} for the given {variable path: shape}.

    Paths are visited in sorted order, so the values depend on the seed and the shapes only.
    """
    rng = np.random.RandomState(seed)
    weights = {}
    for path in sorted(shapes):
        shape = tuple(int(d) for d in shapes[path])
        name = path.rsplit("/", 1)[-1]
        if name in ("bias", "beta", "output_bias"):
            value = np.zeros(shape)
        elif name == "gamma":
            value = np.ones(shape)
        else:
            value = np.clip(rng.standard_normal(shape), -2.0, 2.0) * STDDEV
        weights[path] = value.astype(np.float32)
    return weights


def learning_rate(step: int, peak: float, warmup_steps: int, total_steps: int) -> float:
    """The project's schedule (components/pretraining/schedule.py `WarmupLinearDecay`) in plain
    Python: linear warm-up that trains at peak/warmup from step 0, then linear decay to 0."""
    if step < warmup_steps:
        return peak * (step + 1.0) / max(warmup_steps, 1)
    progress = min((step - warmup_steps) / max(total_steps - warmup_steps, 1), 1.0)
    return peak * (1.0 - progress)
