"""The fine-tuning classifier: a BERT encoder with a dropout + dense head on the pooled output."""

from __future__ import annotations

import keras
import keras_hub

ENCODER_INPUTS = ("token_ids", "segment_ids", "padding_mask")


POOLINGS = ("cls", "mean")
# Layer names other code finds the parts by (models/serving.py, compression).
MEAN_POOLING_LAYER = "mean_pooling"
LOGITS_LAYER = "logits"


def build_classifier(encoder: keras.Model, num_classes: int, dropout: float = 0.1,
                     seed: int | None = None, pooling: str = "cls") -> keras.Model:
    """Puts a classification head on an encoder.

    With `pooling="cls"` the head reads `pooled_output` (the tanh-projected `[CLS]` vector that
    BERT's NSP head was trained on), as google-research/bert's `run_classifier.py` does. An
    encoder pretrained without NSP never trained `[CLS]` or the pooler: `pooling="mean"` then
    averages `sequence_output` over the real tokens (padding excluded) instead, the vectors
    masked-LM pretraining did train (Sentence-BERT's default).

    Args:
      encoder: a keras-nlp `BertBackbone` (inputs `token_ids` int32 [batch, seq_len],
        `segment_ids` int32 [batch, seq_len], `padding_mask` bool [batch, seq_len]; outputs
        `pooled_output` float [batch, hidden]).
      num_classes: number of labels, >= 2.
      dropout: dropout rate on the pooled output while training.
      seed: seed for the dropout and head initialiser (reproducible runs).
      pooling: "cls" (BERT's pooled [CLS]) or "mean" (masked mean of the token vectors).

    Returns:
      A `keras.Model` from the three encoder inputs to logits float32 [batch, num_classes].
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    inputs = {
        "token_ids": keras.Input(shape=(None,), dtype="int32", name="token_ids"),
        "segment_ids": keras.Input(shape=(None,), dtype="int32", name="segment_ids"),
        "padding_mask": keras.Input(shape=(None,), dtype="bool", name="padding_mask"),
    }
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    outputs = encoder(inputs)
    if pooling == "cls":
        pooled = outputs["pooled_output"]  # (B, H)
    else:
        pooled = keras.layers.GlobalAveragePooling1D(name=MEAN_POOLING_LAYER)(
            outputs["sequence_output"], mask=inputs["padding_mask"])  # (B, H)
    pooled = keras.layers.Dropout(dropout, seed=seed, name="classifier_dropout")(pooled)
    # BERT initialises its task heads with a truncated normal of stddev 0.02.
    logits = keras.layers.Dense(
        num_classes,
        kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02, seed=seed),
        dtype="float32",  # logits stay float32 under a mixed-precision policy
        name=LOGITS_LAYER,
    )(pooled)  # (B, num_classes)
    return keras.Model(inputs, logits, name="mbert_classifier")


def encoder_of(classifier: keras.Model) -> keras.Model:
    """The BERT encoder inside a `build_classifier` model (whatever name its source gave it)."""
    encoders = [layer for layer in classifier.layers if isinstance(layer, keras_hub.models.BertBackbone)]
    if len(encoders) != 1:
        raise ValueError(f"{classifier.name}: expected one BertBackbone layer, found {len(encoders)}")
    return encoders[0]
