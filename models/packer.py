"""Packs one or two segments of token ids into fixed-length BERT inputs."""

from __future__ import annotations

from typing import Optional

import keras
import tensorflow as tf


def truncate_longest_first(len_a: tf.Tensor, len_b: tf.Tensor, budget: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Lengths after google-research/bert's `_truncate_seq_pair`, in closed form.

    That loop pops the last token of the longer segment (of b on a tie) until both fit. It
    leaves a shorter segment that fits in half the budget alone, and otherwise splits the budget
    ceil/floor between a and b.

    Args:
      len_a: int32 [batch] lengths of segment a.
      len_b: int32 [batch] lengths of segment b.
      budget: tokens available for both.

    Returns:
      (new len_a, new len_b), int32 [batch] each.
    """
    fits = len_a + len_b <= budget
    half_up = (budget + 1) // 2
    new_a = tf.minimum(len_a, tf.maximum(budget - len_b, half_up))
    new_b = budget - new_a
    return tf.where(fits, len_a, new_a), tf.where(fits, len_b, new_b)


def _keep_first(ids: tf.RaggedTensor, lengths: tf.Tensor) -> tf.RaggedTensor:
    positions = tf.ragged.range(tf.cast(ids.row_lengths(), lengths.dtype))
    return tf.ragged.boolean_mask(ids, positions < tf.expand_dims(lengths, 1))


class SegmentPacker(keras.layers.Layer):
    """`[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`, truncated longest-first, padded to seq_len.

    Args:
      seq_len: output length T.
      cls_id, sep_id, pad_id: special token ids.

    Call with `a` (and optionally `b`): int RaggedTensor [batch, (tokens)]; returns
    `token_ids` int32 [batch, seq_len], `segment_ids` int32 [batch, seq_len] (0 for [CLS] a
    [SEP], 1 for b [SEP], 0 on padding), `padding_mask` bool [batch, seq_len].
    """

    def __init__(self, seq_len: int, cls_id: int, sep_id: int, pad_id: int, **kwargs):
        kwargs.setdefault("trainable", False)
        kwargs.setdefault("dtype", "int32")
        super().__init__(**kwargs)
        if seq_len < 3:
            raise ValueError(f"seq_len must be >= 3 for [CLS] a [SEP] b [SEP], got {seq_len}")
        self.seq_len = int(seq_len)
        self.cls_id, self.sep_id, self.pad_id = int(cls_id), int(sep_id), int(pad_id)

    def pack(self, a: tf.RaggedTensor, b: Optional[tf.RaggedTensor] = None) -> dict:
        a = tf.cast(a, tf.int32)
        batch = a.nrows(out_type=tf.int32)
        cls = tf.fill([batch, 1], self.cls_id)
        sep = tf.fill([batch, 1], self.sep_id)
        len_a = tf.cast(a.row_lengths(), tf.int32)
        if b is None:
            a = _keep_first(a, tf.minimum(len_a, self.seq_len - 2))
            tokens = tf.concat([cls, a, sep], axis=1)
            segments = tf.zeros_like(tokens)
        else:
            b = tf.cast(b, tf.int32)
            len_b = tf.cast(b.row_lengths(), tf.int32)
            keep_a, keep_b = truncate_longest_first(len_a, len_b, self.seq_len - 3)
            a, b = _keep_first(a, keep_a), _keep_first(b, keep_b)
            first = tf.concat([cls, a, sep], axis=1)
            second = tf.concat([b, sep], axis=1)
            tokens = tf.concat([first, second], axis=1)
            segments = tf.concat([tf.zeros_like(first), tf.ones_like(second)], axis=1)
        shape = [None, self.seq_len]
        token_ids = tokens.to_tensor(default_value=self.pad_id, shape=shape)
        segment_ids = segments.to_tensor(default_value=0, shape=shape)
        padding_mask = tf.ones_like(tokens, dtype=tf.bool).to_tensor(default_value=False, shape=shape)
        return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}

    def call(self, a, b=None):
        return self.pack(a, b)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"seq_len": self.seq_len, "cls_id": self.cls_id, "sep_id": self.sep_id,
                       "pad_id": self.pad_id})
        return config
