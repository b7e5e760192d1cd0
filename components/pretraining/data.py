"""Input files of pretraining: finding them, refusing bad ones, turning them into masked batches."""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from models import masking


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
    TFRecords, or whose first record is not a contract-4 example of length `seq_len`, is named.
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
) -> tf.data.Dataset:
    """Masked, flat batches (models/masking.py) for one input pipeline.

    Args:
        files: TFRecord files (already checked).
        batch_size: Batch size of this pipeline (per worker under multi-worker training).
        seq_len, masking_kwargs: see `masking.make_pretraining_dataset`.
        training: shuffle + repeat forever (training) or one ordered pass (evaluation).
        seed: Data seed; each shard derives its own so workers draw different masks.
        shuffle_buffer: Records in the shuffle buffer.
        shard: (index, count) of this input pipeline among all of them; files are split between
            pipelines when there are enough, else every pipeline reads all and keeps every
            count-th batch.
    """
    index, count = shard
    if count > 1 and len(files) >= count:
        files, batch_shard = list(files)[index::count], None
    else:
        batch_shard = (index, count) if count > 1 else None
    shard_seed = None if seed is None else seed * 1000 + index
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
    )
    if batch_shard is not None:
        dataset = dataset.shard(batch_shard[1], batch_shard[0])
    dataset = dataset.map(flatten)
    if training:
        # The language strings are for evaluation; keep them out of the compiled train step.
        dataset = dataset.map(lambda batch: {k: v for k, v in batch.items() if k != "language"})
    return dataset
