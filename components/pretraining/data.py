"""Input files of pretraining: finding them, refusing bad ones, turning them into masked batches."""

from __future__ import annotations

import json
from typing import Sequence

import numpy as np
import tensorflow as tf

from components import contracts as c
from components.pretraining_examples import layout
from components.pretraining import masking


class BadInputError(ValueError):
    """Pretraining input that cannot be trained on; the message names the file and the cause."""


def resolve_files(patterns: str | Sequence[str], what: str) -> list[str]:
    """Expands globs (TFX passes `<uri>/Split-train/*`); no match is an error naming the patterns."""
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    files = sorted({f for pattern in patterns for f in tf.io.gfile.glob(pattern)})
    files = [f for f in files if not tf.io.gfile.isdir(f)]
    if not files:
        raise BadInputError(f"{what}: no TFRecord files match {patterns}")
    return files


def _first_record(path: str):
    """Returns the first record of a GZIP TFRecord file, None when it holds none."""
    for record in tf.data.TFRecordDataset(path, compression_type="GZIP").take(1):
        return record
    return None


def check_record_files(files: Sequence[str], what: str, seq_len: int) -> None:
    """Fails fast on corrupt or empty input, naming the file.

    Reads the first record of every file (cheap: one GZIP block each): a file that is not GZIP
    TFRecords, or whose first record is not a pretraining-instance example of length `seq_len`, is named.
    Empty files are fine (Beam writes empty shards) unless every file is empty.

    Raises:
        BadInputError: naming the first bad file and why.
    """
    non_empty = 0
    for path in files:
        try:
            record = _first_record(path)
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError) as error:
            raise BadInputError(f"{what}: corrupt TFRecord file {path} (expected GZIP TFRecords): {error.message}") from None
        if record is None:
            continue
        non_empty += 1
        try:
            masking.parse_pretraining_examples(tf.reshape(record, [1]), seq_len)
        except tf.errors.InvalidArgumentError as error:
            raise BadInputError(
                f"{what}: {path} record 0 is not a pretraining instance of seq_len {seq_len}: {error.message}"
            ) from None
    if non_empty == 0:
        raise BadInputError(f"{what}: all {len(files)} TFRecord file(s) are empty: {files[:5]}")


def find_corrupt_file(files: Sequence[str]) -> str:
    """Scans files to say which one breaks mid-way (only called after a DataLossError)."""
    for path in files:
        count = 0
        try:
            for _ in tf.data.TFRecordDataset(path, compression_type="GZIP"):
                count += 1
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
            return f"{path} after record {count}: {error.message}"
    return "no single file fails to read on its own: " + ", ".join(files[:5])


def flatten(inputs: dict, labels: dict, language=None) -> dict:
    """(inputs, labels, language) of `make_pretraining_dataset` -> one flat batch dict."""
    batch = dict(inputs)
    batch.update(labels)
    if language is not None:
        batch["language"] = language
    return batch


def language_pools(files: Sequence[str]) -> dict[str, list[str]]:
    """{language: files} by file name (components/pretraining_examples/layout.py); files of
    another naming go to the pool "" (read as one mixed stream)."""
    pools: dict[str, list[str]] = {}
    for path in sorted(files):
        pools.setdefault(layout.language_of_file(path) or "", []).append(path)
    return pools


def _counted_records(files: Sequence[str]) -> int:
    dataset = tf.data.TFRecordDataset(list(files), compression_type="GZIP")
    return int(dataset.reduce(np.int64(0), lambda n, _: n + 1))


def pool_weights(pools: dict[str, list[str]]) -> dict[str, float]:
    """Records per pool: from counts.json beside the split folder (PretrainingExampleGen
    writes it), else counted by reading the files once."""
    first = next(iter(pools.values()))[0]
    split = layout.split_of(first)
    counts_file = layout.counts_path(first)
    if split and tf.io.gfile.exists(counts_file):
        with tf.io.gfile.GFile(counts_file) as f:
            by_language = json.load(f).get("splits", {}).get(split, {}).get("by_language", {})
        counted = {layout.file_language(language): float(n) for language, n in by_language.items()}
        if all(pool in counted for pool in pools):
            return {pool: counted[pool] for pool in pools}
    return {pool: float(_counted_records(paths)) for pool, paths in pools.items()}


def stratified_choices(weights: Sequence[float], batch_size: int, seed: int) -> tf.data.Dataset:
    """Pool indices (int64 scalars), `batch_size` per batch, each pool's share ~= its weight.

    Systematic sampling: batch k puts its slots j = 0..B-1 at (j + u_k) / B on the cumulative
    weights, u_k uniform from (seed, k). Every batch then holds floor or ceil of B * w_l rows
    of pool l (random sampling would leave a 1/16 language out of a batch of 32 one time in
    eight), and over many batches each pool gets exactly its share. The slots of a batch are
    then shuffled (same seed).
    """
    cumulative = np.cumsum(np.asarray(weights, np.float64))
    cumulative = tf.constant(cumulative / cumulative[-1], tf.float64)
    last = len(weights) - 1

    def batch_slots(index):
        batch_seed = tf.stack([tf.constant(seed, tf.int64), index])
        u = tf.random.stateless_uniform([], seed=batch_seed, dtype=tf.float64)
        points = (tf.range(batch_size, dtype=tf.float64) + u) / batch_size  # (B,)
        slots = tf.minimum(tf.cast(tf.searchsorted(cumulative, points, side="right"), tf.int64),
                           last)
        # Rows in random order: replicas that split a batch by rows each get every language.
        return tf.random.experimental.stateless_shuffle(slots, seed=batch_seed + 1)

    return tf.data.Dataset.range(2**62).map(batch_slots).unbatch()


def mixed_language_records(pools: dict[str, list[str]], batch_size: int, *, seed: int,
                           shuffle_buffer: int) -> tf.data.Dataset:
    """Records of every language pool interleaved at the pools' shares (XLM-style sampling,
    with the weights PretrainingExampleGen's smoothing already gave the pools), each pool
    shuffled and repeated on its own."""
    names = sorted(pools)
    weights = pool_weights(pools)
    names = [name for name in names if weights[name] > 0]
    per_pool_buffer = max(256, shuffle_buffer // max(len(names), 1))
    datasets = []
    for number, name in enumerate(names):
        paths = pools[name]
        pool_seed = seed * 1009 + number
        files = tf.data.Dataset.from_tensor_slices(paths).shuffle(
            len(paths), seed=pool_seed, reshuffle_each_iteration=True)
        records = tf.data.TFRecordDataset(files, compression_type="GZIP",
                                          num_parallel_reads=min(len(paths), 4))
        datasets.append(records.shuffle(per_pool_buffer, seed=pool_seed,
                                        reshuffle_each_iteration=True).repeat())
    choices = stratified_choices([weights[name] for name in names], batch_size, seed)
    return tf.data.Dataset.choose_from_datasets(datasets, choices)


def make_parallel_dataset(files: Sequence[str], groups: int, max_pieces: int, *,
                          seed: int | None) -> tf.data.Dataset:
    """Batches of aligned sentences for the alignment loss, forever, shuffled.

    Args:
        files: the `parallel/` records of PretrainingExampleGen (components/contracts.py).
        groups: sentences (each in all its languages) per batch.
        max_pieces: word pieces kept of each sentence (its start).
        seed: shuffle seed (None: unseeded).

    Returns:
        int32 [groups, languages, max_pieces] batches, 0-padded (a language a sentence lacks
        is an all-zero row; languages = the most any sentence of the batch has).
    """
    features = {c.TOKEN_IDS: tf.io.VarLenFeature(tf.int64),
                c.PIECE_COUNTS: tf.io.VarLenFeature(tf.int64)}

    def parse(record):
        parsed = tf.io.parse_single_example(record, features)
        pieces = tf.RaggedTensor.from_row_lengths(tf.sparse.to_dense(parsed[c.TOKEN_IDS]),
                                                  tf.sparse.to_dense(parsed[c.PIECE_COUNTS]))
        return tf.cast(pieces[:, :max_pieces].to_tensor(shape=[None, max_pieces]), tf.int32)

    records = tf.data.TFRecordDataset(list(files), compression_type="GZIP").cache()
    # Shuffled pass after pass (not across passes): a sentence is not twice in one batch,
    # except where a batch spans the end of a pass.
    return (records.shuffle(10_000, seed=seed, reshuffle_each_iteration=True).repeat().map(parse)
            .padded_batch(groups, padded_shapes=[None, max_pieces], drop_remainder=True)
            .prefetch(2))


def parallel_files_for(train_files: Sequence[str]) -> list[str]:
    """The aligned-sentence records beside the training instances, checked non-empty.

    Raises:
        BadInputError: none there, naming the place and the setting that writes them.
    """
    pattern = layout.parallel_pattern(train_files[0])
    files = [f for f in tf.io.gfile.glob(pattern) if not tf.io.gfile.isdir(f)]
    if not files or all(_first_record(f) is None for f in files):
        raise BadInputError(
            f"alignment data: no aligned sentences at {pattern} (pretraining.alignment_weight > 0 "
            f"needs pretraining_examples.parallel_sentences: true and a corpus whose sentences "
            f"two or more languages share)")
    return sorted(files)


def make_dataset(
    files: Sequence[str],
    batch_size: int,
    seq_len: int,
    masking_kwargs: dict,
    *,
    training: bool,
    seed: int | None,
    shuffle_buffer: int = 10_000,
    shard: tuple[int, int] = (0, 1),
    keep_language: bool = False,
    skip_batches: int = 0,
) -> tf.data.Dataset:
    """Masked, flat batches (components/pretraining/masking.py) for one input pipeline.

    Args:
        files: TFRecord files (already checked).
        batch_size: Batch size of this pipeline (per worker under multi-worker training).
        seq_len, masking_kwargs: see `masking.make_pretraining_dataset`.
        training: shuffle + repeat forever (training) or one ordered pass (evaluation).
        seed: Data seed; each shard derives its own so workers draw different masks.
        shuffle_buffer: Records in the shuffle buffer.
        shard: (index, count) of this input pipeline among all of them; files are split between
            pipelines when there are enough, else (and always for per-language files) every
            pipeline reads all and keeps every count-th batch.
        keep_language: keep the `language` strings in training batches (evaluation batches
            always have them; the compiled train step does not take them).
        skip_batches: Batches of this pipeline already used (a resumed run: steps done times
            batches per step). With a seed, the dataset then yields exactly what a fresh one
            would after that many batches; the skipped ones are read but not parsed or masked.
            Without a seed nothing repeats anyway, and nothing is skipped.
    """
    index, count = shard
    pools = language_pools(files)
    mixed = training and len(pools) > 1
    if count > 1 and len(files) >= count and not mixed:
        files, batch_shard = list(files)[index::count], None
    else:
        # Splitting per-language files between pipelines could leave one without a language.
        batch_shard = (index, count) if count > 1 else None
    shard_seed = None if seed is None else seed * 1000 + index
    if seed is None:
        skip_batches = 0
    elif batch_shard is not None:
        skip_batches *= count  # this pipeline keeps every count-th batch of the full stream
    if mixed:
        # One pool per language: batches hold every language at its share from the first
        # step (a shuffle buffer over files written language by language does not).
        mix_seed = shard_seed if shard_seed is not None else int(np.random.randint(2**31))
        records = mixed_language_records(pools, batch_size, seed=mix_seed,
                                         shuffle_buffer=shuffle_buffer)
        dataset = masking.masked_batches(records, batch_size, seq_len, masking_kwargs,
                                         seed=shard_seed, drop_remainder=True, with_language=True,
                                         skip_batches=skip_batches)
    else:
        dataset = masking.make_pretraining_dataset(
            list(files),
            batch_size,
            seq_len,
            masking_kwargs,
            shuffle=training,
            repeat=training,
            shuffle_buffer=shuffle_buffer,
            seed=shard_seed,
            drop_remainder=training,
            with_language=True,
            skip_batches=skip_batches,
        )
    if batch_shard is not None:
        dataset = dataset.shard(batch_shard[1], batch_shard[0])
    dataset = dataset.map(flatten)
    if training and not keep_language:
        # The language strings are for evaluation; keep them out of the compiled train step.
        dataset = dataset.map(lambda batch: {k: v for k, v in batch.items() if k != "language"})
    return dataset
