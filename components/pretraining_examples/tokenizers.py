"""The tokenizer as a plain function `list[str] -> list[list[int]]`, for the Beam builder.

`load_tokenizer_fn` is the shared tokenizer (models/tokenizer.py), so the instances are cut with
exactly the tokenizer the model is later served with; `char_tokenizer_fn` is a fast stand-in for
tests and benchmarks of the builder over `files.write_char_vocabulary` vocabularies.
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from components.vocabulary import files


def load_tokenizer_fn(vocab_dir: str) -> Callable[[list[str]], list[list[int]]]:
    """The shared WordPiece tokenizer as `list[str] -> list[list[int]]` (for Beam workers)."""
    from models.tokenizer import load_tokenizer  # Imported late: Beam workers load it in setup().

    tokenizer = load_tokenizer(vocab_dir)

    def tokenize(strings: list[str]) -> list[list[int]]:
        ragged = tokenizer.tokenize(tf.constant(strings, dtype=tf.string))
        if isinstance(ragged, tf.RaggedTensor) and ragged.ragged_rank > 1:
            ragged = ragged.merge_dims(1, -1)  # (batch, words, pieces) -> (batch, pieces)
        values = ragged.flat_values.numpy().tolist()
        splits = ragged.row_splits.numpy().tolist()
        return [values[splits[i]:splits[i + 1]] for i in range(len(strings))]

    return tokenize


def char_tokenizer_fn(vocab_dir: str):
    """A pure-Python character tokenizer over vocab.txt: whitespace words, one (##-)piece per
    character, [UNK] (id 1) for the rest. Fast to load; for tests and benchmarks of the builder
    that should not depend on the shared TF Text tokenizer."""
    ids = {token: i for i, token in enumerate(files.read_vocab(vocab_dir))}

    def tokenize(strings):
        out = []
        for text in strings:
            pieces = []
            for word in text.split():
                pieces.append(ids.get(word[0], 1))
                pieces.extend(ids.get("##" + c, 1) for c in word[1:])
            out.append(pieces)
        return out

    return tokenize
