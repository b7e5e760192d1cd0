"""Reading labelled Examples (components/contracts.py) for fine-tuning: language filter, label vocabulary.

Fine-tuning sets are small next to pretraining corpora (SIB-200: 701 rows per language; GLUE-size
tasks: a few hundred thousand), so a split is read into memory once; that makes an exact label
vocabulary, a true label permutation and exact per-language counts cheap.
"""

from __future__ import annotations

import dataclasses
import glob
from typing import Iterable, Sequence

import numpy as np
import tensorflow as tf

TEXT, LANGUAGE, LABEL, SOURCE = "text", "language", "label", "source"
_FEATURE_SPEC = {
    TEXT: tf.io.FixedLenFeature([], tf.string),
    LANGUAGE: tf.io.FixedLenFeature([], tf.string),
    LABEL: tf.io.FixedLenFeature([], tf.string, default_value=""),
    SOURCE: tf.io.FixedLenFeature([], tf.string, default_value=""),
}


@dataclasses.dataclass
class LabelledSplit:
    """One split in memory; every array has one entry per example."""

    text: np.ndarray  # bytes [n]
    language: np.ndarray  # str [n]
    label: np.ndarray  # str [n]
    source: np.ndarray  # str [n], "file:line" of the original record

    def __len__(self) -> int:
        return len(self.text)

    def select(self, mask: np.ndarray) -> "LabelledSplit":
        return LabelledSplit(self.text[mask], self.language[mask], self.label[mask],
                             self.source[mask])

    def counts_by_language(self) -> dict[str, int]:
        tags, counts = np.unique(self.language, return_counts=True)
        return {str(t): int(c) for t, c in zip(tags, counts)}


def _expand(patterns: Iterable[str]) -> list[str]:
    files = []
    for pattern in patterns:
        matched = sorted(glob.glob(pattern)) or sorted(tf.io.gfile.glob(pattern))
        files.extend(matched)
    return files


def read_split(file_patterns: Sequence[str]) -> LabelledSplit:
    """Reads the GZIP TFRecords of one Examples split into memory.

    Args:
      file_patterns: globs such as `<uri>/Split-train/*` (TFX `fn_args.train_files`); a folder is
        read whole.

    Raises:
      FileNotFoundError: no file matches.
      ValueError: a record lacks `text` or `language`; the message names the file.
    """
    patterns = [p.rstrip("/") + "/*" if tf.io.gfile.isdir(p) else p for p in file_patterns]
    files = _expand(patterns)
    if not files:
        raise FileNotFoundError(f"no Examples files match {list(file_patterns)}")
    columns: dict[str, list] = {key: [] for key in _FEATURE_SPEC}
    for path in files:
        dataset = tf.data.TFRecordDataset(path, compression_type="GZIP").batch(1024)
        try:
            for batch in dataset:
                parsed = tf.io.parse_example(batch, _FEATURE_SPEC)
                for key in columns:
                    columns[key].extend(parsed[key].numpy().tolist())
        except tf.errors.InvalidArgumentError as error:
            raise ValueError(
                f"{path}: a record does not match the Examples contract "
                f"(needs bytes features 'text' and 'language'): {error.message.splitlines()[0]}"
            ) from None
    return LabelledSplit(
        text=np.array(columns[TEXT], dtype=object),
        language=np.array([v.decode("utf-8") for v in columns[LANGUAGE]], dtype=object),
        label=np.array([v.decode("utf-8") for v in columns[LABEL]], dtype=object),
        source=np.array([v.decode("utf-8", "replace") for v in columns[SOURCE]], dtype=object),
    )


def filter_languages(split: LabelledSplit, languages: Sequence[str] | str | None,
                     split_name: str) -> LabelledSplit:
    """Keeps the rows of the given languages; None, "all" or [] keep every language.

    Raises:
      ValueError: a requested language has no rows; the message lists the languages present.
    """
    if languages is None or languages == "all" or list(languages) == ["all"] or not languages:
        return split
    if isinstance(languages, str):
        languages = [languages]
    present = split.counts_by_language()
    missing = [tag for tag in languages if tag not in present]
    if missing:
        raise ValueError(
            f"train_languages {missing} have no rows in the {split_name} split "
            f"(languages present: {sorted(present)})")
    return split.select(np.isin(split.language, list(languages)))


def label_vocabulary(split: LabelledSplit, labels: Sequence[str] | None = None) -> list[str]:
    """The class list: `labels` when given (its order = class ids), else the sorted labels seen.

    Raises:
      ValueError: a row has no label, or a label outside `labels`; the message names the source
        record (file and line) and the label.
    """
    empty = np.flatnonzero(split.label == "")
    if len(empty):
        raise ValueError(
            f"{len(empty)} rows have no 'label' feature, first at {split.source[empty[0]]}")
    seen = sorted(set(split.label.tolist()))
    if labels is None:
        if len(seen) < 2:
            raise ValueError(f"need at least 2 labels to fine-tune a classifier, found {seen}")
        return seen
    labels = list(labels)
    unknown = [label for label in seen if label not in labels]
    if unknown:
        first = split.source[np.flatnonzero(split.label == unknown[0])[0]]
        raise ValueError(f"label {unknown[0]!r} at {first} is not in the given labels {labels}")
    return labels


def label_ids(split: LabelledSplit, labels: Sequence[str]) -> np.ndarray:
    """int32 [n] class ids; a label outside `labels` raises ValueError naming its source."""
    index = {label: i for i, label in enumerate(labels)}
    ids = np.empty(len(split), dtype=np.int32)
    for row, label in enumerate(split.label):
        if label not in index:
            raise ValueError(f"label {label!r} at {split.source[row]} is not in {list(labels)}")
        ids[row] = index[label]
    return ids


def shuffle_labels(ids: np.ndarray, seed: int) -> np.ndarray:
    """A seeded permutation of the label column: same label counts, text-label link broken.

    This makes the "deliberately worse candidate" of the push-gate test.
    """
    return np.random.default_rng(seed).permutation(ids)


def text_dataset(featurize, texts, ids: np.ndarray, batch_size: int,
                 shuffle_seed: int | None) -> tf.data.Dataset:
    """Batches of (encoder inputs, label ids) from texts: `featurize` (a ServingModule's, so
    training and serving tokenise alike) runs in the tf.data pipeline. With a seed, the rows are
    reshuffled every pass; without, they keep their order (evaluation).
    """
    # A list, not a fixed-width numpy bytes array: one long outlier text would pad every row.
    ds = tf.data.Dataset.from_tensor_slices((tf.constant(list(texts), tf.string), ids))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(ids), seed=shuffle_seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    ds = ds.map(lambda text, y: (featurize(text), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
