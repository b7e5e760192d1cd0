"""`PretrainingModel`: the encoder with BERT's masked-LM and next-sentence heads, and their losses.

Only `keras` and `keras.ops` here, so the same model runs with KERAS_BACKEND=jax.
"""

from __future__ import annotations

from typing import Any

import keras
import keras_hub
from keras import ops

from models.masked_lm_head import TiedMaskedLMHead
from models.next_sentence_head import NextSentenceHead

# Keys of a masked batch (see components/pretraining/masking.py `mask_batch`); `position_ids` is
# optional, and so is `parallel_ids` (aligned sentences for the alignment loss).
MODEL_INPUTS = ("token_ids", "segment_ids", "padding_mask", "mask_positions", "position_ids",
                "parallel_ids")


@keras.saving.register_keras_serializable(package="mbert")
class PretrainingModel(keras.Model):
    """BERT pretraining network: `BertBackbone` + tied masked-LM head + next-sentence head.

    Called on a dict with `token_ids` int32 [batch, seq_len], `segment_ids` int32
    [batch, seq_len], `padding_mask` bool/int [batch, seq_len], `mask_positions` int32
    [batch, predictions] and optionally `position_ids` int32 [batch, seq_len] (default
    0..seq_len-1; translation pairs restart them, components/pretraining/masking.py); returns `mlm_logits` float [batch, predictions, vocab] and
    `nsp_logits` float [batch, 2]. With `parallel_ids` int32 [groups, languages, pieces] (one
    sentence in several languages per group, 0-padded) it also returns `parallel_bags` float32
    [groups, languages, hidden]: each sentence's mean word-piece embedding (`alignment_loss`).

    With `sparse_last_layer` (the default), the last transformer layer computes its queries,
    attention output and feed-forward block only at the rows the losses read: `[CLS]` (for the
    next-sentence head) and the masked positions. Keys and values still cover every token, so the
    result equals the dense computation at those rows (a test checks it), but the last layer's
    cost drops by about (seq_len - predictions - 1) / seq_len. The weights are those of the
    backbone's own layers, so the exported encoder is an ordinary `BertBackbone`.

    Args:
        encoder: The `BertBackbone` to pretrain (post-layer-norm BERT layers).
        sparse_last_layer: Run the last layer only at the `[CLS]` and masked rows.
        **kwargs: Standard model arguments (name, dtype).
    """

    def __init__(self, encoder: keras_hub.models.BertBackbone, sparse_last_layer: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.sparse_last_layer = bool(sparse_last_layer)
        policy = encoder.dtype_policy
        self.masked_lm_head = TiedMaskedLMHead(
            vocabulary_size=encoder.vocabulary_size,
            hidden_dim=encoder.hidden_dim,
            dtype=policy,
            name="masked_lm_head",
        )
        self.next_sentence_head = NextSentenceHead(dtype=policy, name="next_sentence_head")

    def build(self, input_shape=None):
        self.masked_lm_head.build((None, None, self.encoder.hidden_dim))
        self.next_sentence_head.build((None, self.encoder.hidden_dim))
        self.built = True

    def _embed(self, token_ids, segment_ids, position_ids, training):
        encoder = self.encoder
        tokens = encoder.token_embedding(token_ids)
        # position_ids None = 0..T-1, as the backbone does; a translation pair restarts them.
        positions = encoder.position_embedding(tokens, positions=position_ids)
        segments = encoder.segment_embedding(segment_ids)
        x = encoder.embeddings_add((tokens, positions, segments))
        x = encoder.embeddings_layer_norm(x)
        return encoder.embeddings_dropout(x, training=training)

    @staticmethod
    def _sparse_layer(layer, x, query_positions, padding_mask, training):
        """One post-LN transformer layer evaluated only at `query_positions`.

        x: float [B, T, H]; query_positions: int32 [B, Q]; padding_mask: [B, T] -> float [B, Q, H].
        Mirrors keras-hub `TransformerEncoder.call` (normalize_first=False) with queries restricted.
        """
        query = ops.take_along_axis(x, ops.expand_dims(query_positions, -1), axis=1)  # (B, Q, H)
        # (B, 1, T) broadcast over the Q query rows: every query sees every real token.
        attention_mask = ops.expand_dims(ops.cast(padding_mask, "bool"), 1)
        attention_mask = ops.broadcast_to(
            attention_mask, (ops.shape(query)[0], ops.shape(query)[1], ops.shape(x)[1])
        )
        y = layer._self_attention_layer(
            query=query, value=x, key=x, attention_mask=attention_mask, training=training
        )
        y = layer._self_attention_dropout(y, training=training)
        y = layer._self_attention_layer_norm(y + query)
        residual = y
        y = layer._feedforward_intermediate_dense(y)
        y = layer._feedforward_output_dense(y)
        y = layer._feedforward_dropout(y, training=training)
        return layer._feedforward_layer_norm(y + residual)

    def call(self, inputs: dict[str, Any], training: bool = False) -> dict[str, Any]:
        token_ids = inputs["token_ids"]
        padding_mask = inputs["padding_mask"]
        mask_positions = ops.cast(inputs["mask_positions"], "int32")
        encoder = self.encoder
        x = self._embed(token_ids, inputs["segment_ids"], inputs.get("position_ids"),
                        training)  # (B, T, H)
        layers = encoder.transformer_layers
        if self.sparse_last_layer:
            for layer in layers[:-1]:
                x = layer(x, padding_mask=padding_mask, training=training)
            # Row 0 is [CLS] (pooled output), rows 1..P the masked positions.
            cls_position = ops.zeros_like(mask_positions[:, :1])
            query_positions = ops.concatenate([cls_position, mask_positions], axis=1)  # (B, 1+P)
            y = self._sparse_layer(layers[-1], x, query_positions, padding_mask, training)
            pooled = encoder.pooled_dense(y[:, 0, :])  # (B, H)
            masked_rows = y[:, 1:, :]  # (B, P, H), already at the masked positions
            head_positions = ops.broadcast_to(
                ops.expand_dims(ops.arange(ops.shape(mask_positions)[1], dtype="int32"), 0),
                ops.shape(mask_positions),
            )
        else:
            for layer in layers:
                x = layer(x, padding_mask=padding_mask, training=training)
            pooled = encoder.pooled_dense(x[:, 0, :])
            masked_rows, head_positions = x, mask_positions
        mlm_logits = self.masked_lm_head(masked_rows, head_positions, encoder.token_embedding.embeddings)
        nsp_logits = self.next_sentence_head(pooled)
        outputs = {"mlm_logits": mlm_logits, "nsp_logits": nsp_logits}
        if "parallel_ids" in inputs:
            outputs["parallel_bags"] = self.bags_of_pieces(inputs["parallel_ids"])
        return outputs

    def bags_of_pieces(self, ids):
        """Mean input embedding of each sentence's word pieces.

        ids: int [..., pieces], 0 = padding -> float32 [..., hidden] (zeros for an all-padding row).
        """
        weights = ops.cast(ops.not_equal(ids, 0), "float32")[..., None]  # (..., P, 1)
        vectors = ops.cast(self.encoder.token_embedding(ids), "float32")  # (..., P, H)
        return ops.sum(vectors * weights, axis=-2) / ops.maximum(ops.sum(weights, axis=-2), 1.0)

    def get_config(self):
        config = super().get_config()
        config.update(
            encoder=keras.saving.serialize_keras_object(self.encoder),
            sparse_last_layer=self.sparse_last_layer,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)


def alignment_loss(bags, valid, temperature: float) -> tuple[Any, Any, Any]:
    """Multi-way contrastive loss that puts a sentence's translations next to each other.

    Every sentence of the batch (a group = one sentence in several languages) is scored against
    every other by the cosine of their bags of word pieces: its own translations (same group)
    should come out above the other groups' sentences (supervised contrastive loss, Khosla et
    al. 2020, with in-batch softmax at `temperature`). It is Hermann & Blunsom's (2014) additive
    bilingual model trained multi-way: it aligns the word-piece embeddings themselves, so a
    classifier fine-tuned on English pieces with the embeddings frozen reads the other
    languages' pieces in the same place.

    Args:
        bags: float32 [groups, languages, hidden] (`PretrainingModel.bags_of_pieces`).
        valid: float32 [groups, languages], 1 for a real sentence, 0 for a missing language.
        temperature: softmax temperature (> 0).

    Returns:
        (loss, correct, count): float32 scalars; loss is the mean over the sentences that have
        a translation in the batch (0 without any), `correct` counts those whose most similar
        other sentence is one of their translations, `count` counts them.
    """
    groups, languages = ops.shape(bags)[0], ops.shape(bags)[1]
    vectors = ops.reshape(bags, (groups * languages, -1))  # (N, H)
    vectors = vectors / ops.maximum(ops.sqrt(ops.sum(ops.square(vectors), axis=-1, keepdims=True)), 1e-6)
    real = ops.reshape(ops.cast(valid, "float32"), (-1,))  # (N,)
    group = ops.repeat(ops.arange(groups), languages)  # (N,)
    not_self = 1.0 - ops.eye(groups * languages)
    candidates = not_self * real[None, :] * real[:, None]  # (N, N): real pairs, not oneself
    positives = candidates * ops.cast(ops.equal(group[:, None], group[None, :]), "float32")
    logits = ops.matmul(vectors, ops.transpose(vectors)) / temperature - 1e9 * (1.0 - candidates)
    log_prob = logits - ops.logsumexp(logits, axis=-1, keepdims=True)
    per_row = ops.sum(positives, axis=-1)  # translations of each sentence in the batch
    anchors = ops.cast(per_row > 0, "float32")  # sentences with a translation in the batch
    row_loss = -ops.sum(log_prob * positives, axis=-1) / ops.maximum(per_row, 1.0)
    count = ops.sum(anchors)
    loss = ops.sum(row_loss * anchors) / ops.maximum(count, 1.0)
    nearest = ops.argmax(logits, axis=-1)
    correct = ops.sum(ops.cast(ops.equal(ops.take(group, nearest), group), "float32") * anchors)
    return loss, correct, count


def pretraining_losses(outputs: dict[str, Any], batch: dict[str, Any],
                       next_sentence_prediction: bool = True, alignment_weight: float = 0.0,
                       alignment_temperature: float = 0.1) -> dict[str, Any]:
    """BERT's losses and accuracy counts for one batch (float32 whatever the compute dtype).

    Args:
        outputs: `PretrainingModel` outputs (`mlm_logits` [B, P, V], `nsp_logits` [B, 2]).
        batch: a masked batch with `mask_ids` int32 [B, P], `mask_weights` float32 [B, P]
            (0 for padding slots) and `next_sentence_label` int [B] (0 = b follows a,
            1 = b random, -1 = no next-sentence target: a translation pair).
        next_sentence_prediction: add the NSP loss (False: MLM only, as RoBERTa and XLM;
            the NSP figures are still counted).
        alignment_weight: weight of `alignment_loss` on the batch's aligned sentences
            (`parallel_bags` in outputs, `parallel_ids` in batch); 0: not added.
        alignment_temperature: its softmax temperature.

    Returns:
        dict of float32 scalars `loss` (= mlm_loss [+ nsp_loss] [+ alignment_weight x
        alignment_loss]), `mlm_loss` (weighted mean
        over real predictions), `nsp_loss` (mean over rows with a target), and float32 [B]
        per-example `mlm_correct`, `mlm_count` (for accuracy by language), `nsp_correct`,
        `nsp_count` (1 where the row has a next-sentence target) and `nsp_random` (1 where
        that target is "random": its mean is the majority baseline of NSP accuracy); and, with
        `parallel_bags` in outputs, `alignment_loss`, `alignment_correct`, `alignment_count`
        (float32 scalars, see `alignment_loss`; zeros without).
    """
    mlm_logits = ops.cast(outputs["mlm_logits"], "float32")
    nsp_logits = ops.cast(outputs["nsp_logits"], "float32")
    mask_ids = ops.cast(batch["mask_ids"], "int32")
    weights = ops.cast(batch["mask_weights"], "float32")
    nsp_labels = ops.cast(batch["next_sentence_label"], "int32")
    mlm_xent = ops.sparse_categorical_crossentropy(mask_ids, mlm_logits, from_logits=True)  # (B, P)
    # BERT's normaliser: the number of real predictions (+1e-5 so an all-padding batch is 0, not NaN).
    mlm_loss = ops.sum(mlm_xent * weights) / (ops.sum(weights) + 1e-5)
    nsp_weights = ops.cast(nsp_labels >= 0, "float32")  # (B,)
    nsp_targets = ops.maximum(nsp_labels, 0)
    nsp_xent = ops.sparse_categorical_crossentropy(nsp_targets, nsp_logits, from_logits=True)
    nsp_loss = ops.sum(nsp_xent * nsp_weights) / ops.maximum(ops.sum(nsp_weights), 1.0)
    mlm_hit = ops.cast(ops.equal(ops.cast(ops.argmax(mlm_logits, axis=-1), "int32"), mask_ids), "float32")
    nsp_hit = ops.cast(ops.equal(ops.cast(ops.argmax(nsp_logits, axis=-1), "int32"), nsp_targets), "float32")
    loss = mlm_loss + nsp_loss if next_sentence_prediction else mlm_loss
    if "parallel_bags" in outputs:
        valid = ops.cast(ops.any(ops.not_equal(batch["parallel_ids"], 0), axis=-1), "float32")
        align_loss, align_correct, align_count = alignment_loss(
            outputs["parallel_bags"], valid, alignment_temperature)
        if alignment_weight:
            loss = loss + alignment_weight * align_loss
    else:
        align_loss = align_correct = align_count = ops.zeros((), "float32")
    return {
        "loss": loss,
        "mlm_loss": mlm_loss,
        "nsp_loss": nsp_loss,
        "mlm_correct": ops.sum(mlm_hit * weights, axis=1),
        "mlm_count": ops.sum(weights, axis=1),
        "nsp_correct": nsp_hit * nsp_weights,
        "nsp_count": nsp_weights,
        "nsp_random": ops.cast(nsp_labels == 1, "float32"),
        "alignment_loss": align_loss,
        "alignment_correct": align_correct,
        "alignment_count": align_count,
    }
