"""Reading the Vocabulary artifact (contract 2): special ids, and the shared tokenizer as a function.

Only the file layout of contract 2 is assumed here (`vocab.txt`, `tokenizer.json` at the root of
the artifact); tokenization itself is `models.tokenizer.load_tokenizer`, so the instances are cut
with exactly the tokenizer the model is later served with.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Callable

import tensorflow as tf

VOCAB_FILE = "vocab.txt"
TOKENIZER_FILE = "tokenizer.json"


@dataclasses.dataclass(frozen=True)
class SpecialIds:
    """Ids of the special tokens, and the vocabulary size."""

    pad_id: int
    unk_id: int
    cls_id: int
    sep_id: int
    mask_id: int
    vocab_size: int


def read_vocab(vocab_dir: str) -> list[str]:
    """vocab.txt as a list (line number = id); an error names the file when it is missing."""
    path = os.path.join(vocab_dir, VOCAB_FILE)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{path}: vocabulary file not found (is {vocab_dir} a Vocabulary "
                                f"artifact?)")
    with tf.io.gfile.GFile(path, "r") as f:
        tokens = [line.rstrip("\n") for line in f]
    if not tokens:
        raise ValueError(f"{path}: empty vocabulary")
    return tokens


def read_special_ids(vocab_dir: str) -> SpecialIds:
    """Looks the special tokens named in tokenizer.json up in vocab.txt.

    Raises:
      FileNotFoundError / ValueError naming the file and key when a file or token is missing.
    """
    vocab = read_vocab(vocab_dir)
    config_path = os.path.join(vocab_dir, TOKENIZER_FILE)
    names = {"pad_id": "[PAD]", "unk_id": "[UNK]", "cls_id": "[CLS]", "sep_id": "[SEP]",
             "mask_id": "[MASK]"}
    if tf.io.gfile.exists(config_path):
        with tf.io.gfile.GFile(config_path, "r") as f:
            try:
                config = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"{config_path}: not valid JSON ({e})") from e
        for key in names:
            config_key = key.replace("_id", "_token")
            if config_key in config:
                names[key] = config[config_key]
    ids = {token: i for i, token in enumerate(vocab)}
    found = {}
    for key, token in names.items():
        if token not in ids:
            raise ValueError(f"{os.path.join(vocab_dir, VOCAB_FILE)}: special token {token!r} "
                             f"({key.replace('_id', '_token')}) is not in the vocabulary")
        found[key] = ids[token]
    return SpecialIds(vocab_size=len(vocab), **found)


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
    with open(os.path.join(vocab_dir, "vocab.txt"), encoding="utf-8") as f:
        ids = {token: i for i, token in enumerate(line.rstrip("\n") for line in f)}

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


def write_vocabulary(vocab_dir, vocab: list, reserved: list) -> None:
    """Writes `vocab.txt` and a cased contract-2 `tokenizer.json` for a hand-made vocabulary
    (tests and benchmarks; the learner writes its own from its parameters)."""
    import pathlib

    vocab_dir = pathlib.Path(vocab_dir)
    vocab_dir.mkdir(parents=True, exist_ok=True)
    (vocab_dir / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (vocab_dir / "tokenizer.json").write_text(json.dumps({
        "lower_case": False, "strip_accents": False, "split_cjk": True, "suffix_indicator": "##",
        "max_chars_per_word": 100, "unk_token": "[UNK]", "pad_token": "[PAD]",
        "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]",
        "reserved_tokens": list(reserved), "vocab_size": len(vocab)}), encoding="utf-8")


def write_char_vocabulary(vocab_dir, texts, num_unused: int = 5) -> None:
    """Writes a contract-2 vocabulary covering every character of `texts`, alone and as `##`
    piece (for char_tokenizer_fn, tests and benchmarks)."""
    chars = sorted({c for text in texts for c in text if not c.isspace()})
    reserved = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"[unused{i}]" for i in range(num_unused)]
    write_vocabulary(vocab_dir, reserved + chars + ["##" + c for c in chars], reserved)
