"""Dynamic masking for masked-LM pretraining, as a tf.data map (a new mask each time it is seen).

The pretraining instances on disk (components/contracts.py) are NOT masked: masking here, per
batch, means every epoch sees different masks (RoBERTa's dynamic masking) instead of BERT's
`dupe_factor` fixed copies. This is an input-pipeline function, not a Keras layer, so it uses `tf.*` ops; it
runs on the host in tf.data and never inside the model graph.

`mask_batch` on batched dense features (`token_ids: int [batch, seq_len]`) adds

    masked_token_ids  int32   [batch, seq_len]          the model input
    mask_positions    int32   [batch, max_predictions]  ascending; padding entries are 0
    mask_ids          int32   [batch, max_predictions]  original ids there; padding entries 0
    mask_weights      float32 [batch, max_predictions]  1.0 for a prediction, 0.0 for padding

Which tokens: never one of `special_ids` (`[CLS]`, `[SEP]`, `[PAD]`); of the n other tokens of
a row, min(round(mask_rate * n), max_predictions) are chosen uniformly at random (Python/TF
round, half to even). Each chosen token becomes `[MASK]` with probability mask_token_rate, a
random id with probability random_token_rate (uniform over the vocabulary minus the special ids
and `[MASK]`), and stays itself otherwise (80/10/10 by default).

Whole-word masking (`whole_word=True`): a word is a non-special token plus the `##`
continuation pieces that follow it, and words are chosen whole, in random order, while the
running total stays within the row's budget; a word that would overflow ends the choice
(google-research/bert skipped it and kept looking, so rows here can get slightly fewer
predictions). A continuation piece right after a special token starts a word (it lost its head
to truncation).

`make_pretraining_dataset` reads the instances' TFRecords and yields, per batch,

    (inputs, labels, language)
    inputs = {"token_ids":      int32   [batch, seq_len]   masked ids,
              "segment_ids":    int32   [batch, seq_len],
              "padding_mask":   bool    [batch, seq_len]   True on real tokens,
              "mask_positions": int32   [batch, max_predictions],
              "position_ids":   int32   [batch, seq_len]   restart in a translation pair}
    labels = {"mask_ids":            int32   [batch, max_predictions],
              "mask_weights":        float32 [batch, max_predictions],
              "next_sentence_label": int32   [batch]   0 = b follows a, 1 = b random,
                                                        -1 = b translates a (no NSP target)}
    language: tf.string [batch]

or `(inputs, labels)` with `with_language=False`. Keras reads a 3-tuple as (x, y, sample_weight),
so pass `with_language=False` to `model.fit` and keep the 3-tuple for per-language evaluation.
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
import tensorflow as tf

from components import contracts as c
from components.vocabulary import files

SeedLike = Union[None, int, tf.Tensor]


def _seed_pair(seed: SeedLike) -> Optional[tf.Tensor]:
    if seed is None:
        return None
    seed = tf.convert_to_tensor(seed)
    if seed.shape.rank == 0:
        seed = tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)])
    return tf.cast(seed, tf.int64)


class _Randomness:
    """Uniform draws, stateless (a function of `seed` and a salt) when a seed is given."""

    def __init__(self, seed: SeedLike):
        self._seed = _seed_pair(seed)

    def _stream(self, salt: int) -> tf.Tensor:
        return tf.random.experimental.stateless_fold_in(self._seed, salt)

    def uniform(self, shape, salt: int) -> tf.Tensor:
        if self._seed is None:
            return tf.random.uniform(shape)
        return tf.random.stateless_uniform(shape, seed=self._stream(salt))

    def integers(self, shape, maxval: int, salt: int) -> tf.Tensor:
        if self._seed is None:
            return tf.random.uniform(shape, maxval=maxval, dtype=tf.int32)
        return tf.random.stateless_uniform(shape, seed=self._stream(salt), maxval=maxval,
                                           dtype=tf.int32)


def _check_rates(mask_rate: float, max_predictions: int, mask_token_rate: float,
                 random_token_rate: float) -> None:
    for name, value in (("mask_rate", mask_rate), ("mask_token_rate", mask_token_rate),
                        ("random_token_rate", random_token_rate)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name}: must be in [0, 1], got {value}")
    if mask_token_rate + random_token_rate > 1.0 + 1e-9:
        raise ValueError(f"mask_token_rate + random_token_rate: must be <= 1, got "
                         f"{mask_token_rate} + {random_token_rate}")
    if max_predictions < 1:
        raise ValueError(f"max_predictions: must be >= 1, got {max_predictions}")


def _replacement_ids(vocab_size: int, excluded: Sequence[int]) -> tf.Tensor:
    allowed = np.setdiff1d(np.arange(vocab_size, dtype=np.int32),
                           np.asarray(sorted(excluded), dtype=np.int32))
    if allowed.size == 0:
        raise ValueError(f"vocab_size: {vocab_size} leaves no non-special id for random "
                         f"replacement")
    return tf.constant(allowed, tf.int32)


def mask_batch(features: dict, *, mask_token_id: int, vocab_size: int,
               special_ids: Sequence[int], mask_rate: float = 0.15, max_predictions: int = 20,
               mask_token_rate: float = 0.8, random_token_rate: float = 0.1,
               whole_word: bool = False, word_start_mask=None, seed: SeedLike = None) -> dict:
    """Chooses and replaces the tokens to predict; see the module docstring for the outputs.

    Args:
      features: dict with `token_ids` int32/int64 [batch, seq_len] (other keys pass through).
      mask_token_id: id of `[MASK]`.
      vocab_size: random replacements are drawn from [0, vocab_size).
      special_ids: ids never chosen and never used as replacements (`[CLS] [SEP] [PAD]`).
      mask_rate: share of non-special tokens to predict, rounded.
      max_predictions: P, the most predictions per row and the width of the outputs.
      mask_token_rate: share of chosen tokens replaced by `[MASK]`.
      random_token_rate: share replaced by a random non-special id; the rest stay unchanged.
      whole_word: choose whole words (a token and its following `##` pieces).
      word_start_mask: with whole_word, bool [vocab_size] (True where a vocab id is NOT a
        continuation piece, see `word_start_mask_from_vocab`) or bool [batch, seq_len] per token.
      seed: None for fresh randomness on every call; an int or an int [2] tensor for masks that
        are a function of the seed (make_pretraining_dataset passes a new one per batch).

    Returns:
      A new dict: `features` plus masked_token_ids, mask_positions, mask_ids, mask_weights.
    """
    _check_rates(mask_rate, max_predictions, mask_token_rate, random_token_rate)
    if whole_word and word_start_mask is None:
        raise ValueError("word_start_mask: required when whole_word=True")
    if mask_token_id in set(special_ids):
        raise ValueError(f"mask_token_id: {mask_token_id} is also in special_ids")
    random = _Randomness(seed)
    token_ids = tf.cast(features["token_ids"], tf.int32)  # (B, T)
    special = tf.constant(sorted(set(special_ids)), tf.int32)
    candidate = tf.reduce_all(token_ids[:, :, tf.newaxis] != special, axis=-1)  # (B, T)
    real_count = tf.reduce_sum(tf.cast(candidate, tf.int32), axis=1)  # (B,)
    # float64 so the rounding matches Python's round(mask_rate * n) exactly.
    budget = tf.cast(tf.round(tf.cast(real_count, tf.float64) * mask_rate), tf.int32)
    budget = tf.minimum(budget, max_predictions)  # (B,)

    starts = _word_starts(token_ids, candidate, word_start_mask) if whole_word else candidate
    chosen = _choose_words(token_ids, candidate, starts, budget, random)  # (B, T)
    mask_positions, weights, mask_ids = _prediction_slots(token_ids, chosen, max_predictions)

    draw = random.uniform(tf.shape(token_ids), salt=2)
    to_mask_token = chosen & (draw < mask_token_rate)
    to_random = chosen & (draw >= mask_token_rate) & (draw < mask_token_rate + random_token_rate)
    replacements = _replacement_ids(vocab_size, list(special_ids) + [mask_token_id])
    random_ids = tf.gather(replacements, random.integers(
        tf.shape(token_ids), int(replacements.shape[0]), salt=3))
    masked = tf.where(to_mask_token, mask_token_id, tf.where(to_random, random_ids, token_ids))

    out = dict(features)
    out.update(masked_token_ids=masked, mask_positions=mask_positions, mask_ids=mask_ids,
               mask_weights=tf.cast(weights, tf.float32))
    return out


def _word_starts(token_ids: tf.Tensor, candidate: tf.Tensor, word_start_mask) -> tf.Tensor:
    """bool [B, T]: tokens that start a word (a candidate not continuing the previous one)."""
    starts_table = tf.convert_to_tensor(word_start_mask, tf.bool)
    if starts_table.shape.rank == 1:
        is_start = tf.gather(starts_table, token_ids)  # vocab lookup -> (B, T)
    else:
        is_start = starts_table
    previous = tf.pad(candidate[:, :-1], [[0, 0], [1, 0]], constant_values=False)
    return candidate & (is_start | ~previous)


def _choose_words(token_ids, candidate, starts, budget, random: "_Randomness") -> tf.Tensor:
    """bool [B, T]: the tokens of whole words taken in random order while they fit the budget."""
    batch, length = tf.shape(token_ids)[0], tf.shape(token_ids)[1]
    # Word w of row b gathers its tokens in segment b * T + w; other tokens go to a dump segment.
    word_id = tf.cumsum(tf.cast(starts, tf.int32), axis=1) - 1  # (B, T)
    segments = batch * length
    segment = tf.where(candidate & (word_id >= 0),
                       tf.range(batch)[:, tf.newaxis] * length + word_id, segments)
    word_length = tf.reshape(tf.math.unsorted_segment_sum(
        tf.cast(candidate, tf.int32), segment, segments + 1)[:-1], [batch, length])  # (B, W=T)
    keys = random.uniform(tf.shape(token_ids), salt=1)
    word_key = tf.reshape(tf.math.unsorted_segment_max(
        tf.where(starts, keys + 1.0, 0.0), segment, segments + 1)[:-1], [batch, length])
    word_key = tf.where(word_length > 0, word_key, -1.0)  # empty segments come out as -max
    order = tf.argsort(word_key, axis=1, direction="DESCENDING", stable=True)  # (B, W)
    sorted_length = tf.gather(word_length, order, batch_dims=1)
    chosen_sorted = ((tf.cumsum(sorted_length, axis=1) <= budget[:, tf.newaxis])
                     & (sorted_length > 0))
    chosen_word = tf.gather(chosen_sorted, tf.argsort(order, axis=1), batch_dims=1)  # (B, W)
    return tf.gather(chosen_word, tf.maximum(word_id, 0), batch_dims=1) & candidate  # (B, T)


def _prediction_slots(token_ids: tf.Tensor, chosen: tf.Tensor, max_predictions: int):
    """Positions (ascending), weights and original ids of the chosen tokens, padded to P."""
    length = tf.shape(token_ids)[1]
    positions = tf.broadcast_to(tf.range(length)[tf.newaxis, :], tf.shape(token_ids))  # (B, T)
    # Positions of the chosen tokens, ascending: top_k on (T - position) over chosen tokens.
    k = tf.minimum(length, max_predictions)
    score = tf.where(chosen, length - positions, 0)
    top_score, top_index = tf.math.top_k(score, k=k, sorted=True)
    weights = top_score > 0
    mask_positions = tf.where(weights, top_index, 0)
    width = [[0, 0], [0, max_predictions - k]]
    mask_positions = tf.ensure_shape(tf.pad(mask_positions, width), [None, max_predictions])
    weights = tf.ensure_shape(tf.pad(weights, width), [None, max_predictions])
    mask_ids = tf.where(weights, tf.gather(token_ids, mask_positions, batch_dims=1), 0)
    return mask_positions, weights, mask_ids  # (B, P) each


def word_start_mask_from_vocab(vocab: Sequence[str], suffix_indicator: str = "##") -> np.ndarray:
    """bool [vocab_size]: True where a token starts a word (is not a `##` continuation)."""
    return np.array([not token.startswith(suffix_indicator) for token in vocab], dtype=bool)


def masking_kwargs_from_vocab(vocab_dir: str, *, whole_word: bool = False) -> dict:
    """mask_token_id, vocab_size, special_ids (and word_start_mask) of a Vocabulary folder.

    Raises:
      FileNotFoundError / ValueError naming the file and the missing token.
    """
    special = files.read_special_ids(vocab_dir)
    kwargs = dict(mask_token_id=special.mask_id, vocab_size=special.vocab_size,
                  special_ids=(special.pad_id, special.cls_id, special.sep_id),
                  whole_word=whole_word)
    if whole_word:
        kwargs["word_start_mask"] = word_start_mask_from_vocab(
            files.read_vocab(vocab_dir), files.suffix_indicator(vocab_dir))
    return kwargs


def parse_pretraining_examples(serialized: tf.Tensor, seq_len: int) -> dict:
    """Batch of serialized pretraining-instance tf.Examples -> dense features (int32 ids, string language).

    A record whose `token_ids` is not `seq_len` long fails here with an error naming the key.
    """
    spec = {
        c.TOKEN_IDS: tf.io.FixedLenFeature([seq_len], tf.int64),
        c.SEGMENT_IDS: tf.io.FixedLenFeature([seq_len], tf.int64),
        c.NEXT_SENTENCE_LABEL: tf.io.FixedLenFeature([], tf.int64),
        c.LANGUAGE: tf.io.FixedLenFeature([], tf.string, default_value=""),
        c.SECOND_LANGUAGE: tf.io.FixedLenFeature([], tf.string, default_value=""),
    }
    parsed = tf.io.parse_example(serialized, spec)
    return {
        c.TOKEN_IDS: tf.cast(parsed[c.TOKEN_IDS], tf.int32),  # (B, T)
        c.SEGMENT_IDS: tf.cast(parsed[c.SEGMENT_IDS], tf.int32),  # (B, T)
        c.NEXT_SENTENCE_LABEL: tf.cast(parsed[c.NEXT_SENTENCE_LABEL], tf.int32),  # (B,)
        c.LANGUAGE: parsed[c.LANGUAGE],  # (B,)
        c.SECOND_LANGUAGE: parsed[c.SECOND_LANGUAGE],  # (B,) "" unless a translation pair
    }


def position_ids(segment_ids: tf.Tensor, next_sentence_label: tf.Tensor) -> tf.Tensor:
    """int32 [B, T] positions: 0..T-1, restarting in segment b of a translation pair.

    In a translation pair (next_sentence_label < 0, XLM's TLM) the translation's first token
    takes position 1, as the sentence's first token does after `[CLS]`: both sentences are
    read from their start, so aligning them is not a matter of position (XLM resets positions
    the same way). Other rows keep 0..T-1, what the encoder sees in fine-tuning and serving.
    """
    length = tf.shape(segment_ids)[1]
    positions = tf.broadcast_to(tf.range(length)[tf.newaxis, :], tf.shape(segment_ids))  # (B, T)
    in_b = segment_ids == 1
    first_b = tf.argmax(tf.cast(in_b, tf.int32), axis=1, output_type=tf.int32)  # (B,)
    restarted = positions - first_b[:, tf.newaxis] + 1
    is_pair = (next_sentence_label < 0)[:, tf.newaxis]
    return tf.where(is_pair & in_b, restarted, positions)


def make_pretraining_dataset(file_pattern: Union[str, Sequence[str]], batch_size: int,
                             seq_len: int, masking: dict, *, shuffle: bool = True,
                             repeat: bool = True, shuffle_buffer: int = 10_000,
                             pad_id: int = 0, seed: Optional[int] = None,
                             drop_remainder: bool = True,
                             with_language: bool = True,
                             skip_batches: int = 0) -> tf.data.Dataset:
    """pretraining-instance TFRecords (GZIP) -> masked batches; structure in the module docstring.

    Args:
      file_pattern: glob(s) such as `<uri>/Split-train/data_tfrecord-*.gz`.
      batch_size: rows per batch.
      seq_len: the instances' max_seq_length (checked when parsing).
      masking: keyword arguments of mask_batch except `seed` (see masking_kwargs_from_vocab).
      shuffle: shuffle files and records (reshuffled every epoch).
      repeat: repeat forever (one iterator over many epochs).
      shuffle_buffer: records in the shuffle buffer.
      pad_id: `padding_mask` is `token_ids != pad_id` on the unmasked ids.
      seed: None = nondeterministic; an int makes file order, shuffling and masks reproducible,
        while each epoch (and each new iterator) still gets new masks.
      drop_remainder: static batch size (needed on TPU and for XLA).
      with_language: yield (inputs, labels, language) if True, else (inputs, labels).
      skip_batches: batches to leave out at the start (see masked_batches).

    Raises:
      FileNotFoundError: when nothing matches `file_pattern`.
    """
    patterns = [file_pattern] if isinstance(file_pattern, str) else list(file_pattern)
    files = sorted(f for pattern in patterns for f in tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no pretraining records match {patterns}")
    dataset = tf.data.Dataset.from_tensor_slices(files)
    if shuffle:
        dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    dataset = tf.data.TFRecordDataset(dataset, compression_type="GZIP",
                                      num_parallel_reads=min(len(files), 8))
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    return masked_batches(dataset, batch_size, seq_len, masking, pad_id=pad_id, seed=seed,
                          drop_remainder=drop_remainder, with_language=with_language,
                          skip_batches=skip_batches)


def masked_batches(records: tf.data.Dataset, batch_size: int, seq_len: int, masking: dict, *,
                   pad_id: int = 0, seed: Optional[int] = None, drop_remainder: bool = True,
                   with_language: bool = True, skip_batches: int = 0) -> tf.data.Dataset:
    """Serialized pretraining-instance records (in the order they come) -> masked batches.

    Same arguments as `make_pretraining_dataset`, whose record reading this follows; the
    trainer also feeds it records interleaved language by language. `skip_batches` leaves out
    the first batches, records and mask seeds alike, without parsing or masking them: with a
    seed, batch `skip_batches + k` is the one a fresh pass would yield at that index (how a
    resumed training run continues the data where it stopped).
    """
    if "seed" in masking:
        raise ValueError("masking: pass `seed` to make_pretraining_dataset, not in masking")
    autotune = tf.data.AUTOTUNE
    dataset = records.skip(skip_batches * batch_size).batch(batch_size, drop_remainder=drop_remainder)
    dataset = dataset.map(lambda records: parse_pretraining_examples(records, seq_len),
                          num_parallel_calls=autotune, deterministic=seed is not None)
    if seed is None:
        dataset = dataset.map(lambda features: mask_batch(features, **masking),
                              num_parallel_calls=autotune, deterministic=False)
    else:
        # One stateless seed pair per batch; rerandomize_each_iteration gives every epoch (and
        # every new iterator) a new stream, so masks change between epochs yet are reproducible.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        seeds = seeds.skip(skip_batches)
        dataset = tf.data.Dataset.zip((dataset, seeds)).map(
            lambda features, pair: mask_batch(features, seed=pair, **masking),
            num_parallel_calls=autotune, deterministic=True)

    def to_structure(features):
        inputs = {"token_ids": features["masked_token_ids"],
                  "segment_ids": features["segment_ids"],
                  "padding_mask": features["token_ids"] != pad_id,
                  "mask_positions": features["mask_positions"],
                  "position_ids": position_ids(features["segment_ids"],
                                               features["next_sentence_label"])}
        labels = {"mask_ids": features["mask_ids"], "mask_weights": features["mask_weights"],
                  "next_sentence_label": features["next_sentence_label"]}
        if with_language:
            return inputs, labels, features["language"]
        return inputs, labels

    return dataset.map(to_structure, num_parallel_calls=autotune).prefetch(autotune)
