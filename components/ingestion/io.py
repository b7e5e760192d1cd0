"""Reading ingested Examples back (tests and later stages)."""

from __future__ import annotations

import os

import tensorflow as tf

from components.contracts import SPLIT_DIR_PREFIX, split_dir


def _split_names(examples_dir: str) -> list[str]:
    return sorted(name.rstrip("/")[len(SPLIT_DIR_PREFIX):] for name in tf.io.gfile.listdir(examples_dir)
                  if name.startswith(SPLIT_DIR_PREFIX))


def _decode(feature: tf.train.Feature):
    kind = feature.WhichOneof("kind")
    values = list(getattr(feature, kind).value) if kind else []
    if kind == "bytes_list":
        values = [value.decode("utf-8") for value in values]
    return values[0] if len(values) == 1 else values


def read_examples(examples_dir: str, split: str | None = None) -> list[dict]:
    """Decodes every tf.Example of one split (or all splits) of an Examples folder.

    Args:
      examples_dir: the folder holding `Split-<split>/data_tfrecord-*.gz` (an artifact uri or
        the CLI's --output).
      split: `train`, `eval`, `test`; None reads every split present.

    Returns:
      One dict per example: feature name -> str / int (lists for multi-valued features),
      plus `split`. File order, not document order: sort by (doc_id, sentence_index).

    Raises:
      FileNotFoundError: naming the split folder when it does not exist.
    """
    splits = [split] if split is not None else _split_names(examples_dir)
    rows = []
    for name in splits:
        folder = split_dir(examples_dir, name)
        if not tf.io.gfile.isdir(folder):
            raise FileNotFoundError(f"{folder}: no such split folder (splits: {_split_names(examples_dir)})")
        files = sorted(tf.io.gfile.glob(os.path.join(folder, "*.gz")))
        if not files:
            continue
        for serialized in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator():
            example = tf.train.Example.FromString(serialized)
            row = {key: _decode(feature) for key, feature in example.features.feature.items()}
            row["split"] = name
            rows.append(row)
    return rows
