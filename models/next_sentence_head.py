"""`NextSentenceHead`: BERT's next-sentence-prediction classifier (keras-nlp has none)."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="mbert")
class NextSentenceHead(keras.layers.Layer):
    """Two-way classifier on the pooled `[CLS]` output: 0 = segment B follows A, 1 = random.

    The pooled output already went through BERT's tanh pooler inside the backbone, so (as in
    google-research/bert `get_next_sentence_output`) this is a single dense layer to 2 logits.

    Args:
        kernel_initializer: Initializer of the output kernel (default: truncated normal, 0.02).
        **kwargs: Standard layer arguments (name, dtype).
    """

    def __init__(self, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        # BERT initialises every kernel from a truncated normal with stddev 0.02.
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer or keras.initializers.TruncatedNormal(stddev=0.02)
        )
        self.classifier = keras.layers.Dense(
            2, kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy, name="classifier"
        )

    def build(self, pooled_shape):
        self.classifier.build(pooled_shape)

    def call(self, pooled_output):
        """pooled_output: float [batch, hidden] -> float [batch, 2] logits."""
        return self.classifier(pooled_output)

    def compute_output_shape(self, pooled_shape):
        return tuple(pooled_shape[:-1]) + (2,)

    def get_config(self):
        config = super().get_config()
        config.update(kernel_initializer=keras.initializers.serialize(self.kernel_initializer))
        return config
