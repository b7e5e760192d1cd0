"""The Vocabulary artifact's files, read and written here only.

    vocab.txt          one token per line, line number = id; reserved tokens first
    tokenizer.json     the settings of models.tokenizer.MBertTokenizer (casing, special tokens,
                       reserved tokens, word length limit, vocab_size)
    vocab_stats.json   how the vocabulary was made (per-language coverage, or the checkpoint)

Writers: the vocabulary stage (learned), BaseModelImport (a checkpoint's), fine-tuning from a
keras-nlp preset, and tests. Readers: the tokenizer, PretrainingExampleGen (special ids), both
Trainers. Paths may be local or any `tf.io.gfile` filesystem (gs://...).
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
from typing import Optional, Sequence

from components import contracts

SETTING_KEYS = ("lower_case", "strip_accents", "split_cjk", "suffix_indicator", "max_chars_per_word",
                "unk_token", "pad_token", "cls_token", "sep_token", "mask_token", "reserved_tokens",
                "vocab_size")
SUFFIX_INDICATOR = "##"
DEFAULT_MAX_CHARS_PER_WORD = 200
SPECIAL_TOKEN_KEYS = {"pad_token": contracts.PAD_TOKEN, "unk_token": contracts.UNK_TOKEN,
                      "cls_token": contracts.CLS_TOKEN, "sep_token": contracts.SEP_TOKEN,
                      "mask_token": contracts.MASK_TOKEN}


def max_bytes_per_word(max_chars_per_word: int) -> int:
    """TF Text limits words in UTF-8 bytes; 4 bytes per character is the worst case.

    So every word of at most `max_chars_per_word` characters is tokenised, by the learner
    (components/vocabulary/wordpiece.py) and by the tokenizer (models/tokenizer.py) alike.
    """
    return 4 * int(max_chars_per_word)


@dataclasses.dataclass(frozen=True)
class SpecialIds:
    """Ids of the special tokens, and the vocabulary size."""

    pad_id: int
    unk_id: int
    cls_id: int
    sep_id: int
    mask_id: int
    vocab_size: int


def leading_reserved(vocab: Sequence[str]) -> list[str]:
    """The leading run of bracketed tokens ([PAD], [unused..], [UNK], [CLS], [SEP], [MASK])."""
    reserved = []
    for token in vocab:
        if not (token.startswith("[") and token.endswith("]")):
            break
        reserved.append(token)
    return reserved


def tokenizer_settings(vocab: Sequence[str], lower_case: bool,
                       max_chars_per_word: int = DEFAULT_MAX_CHARS_PER_WORD,
                       reserved: Optional[Sequence[str]] = None) -> dict:
    """tokenizer.json for a vocabulary: uncased = lower case + strip accents (as BERT; TF Text's
    normalizer does both or neither), CJK ideographs split, the default special tokens."""
    return {
        "lower_case": bool(lower_case), "strip_accents": bool(lower_case), "split_cjk": True,
        "suffix_indicator": SUFFIX_INDICATOR, "max_chars_per_word": int(max_chars_per_word),
        **SPECIAL_TOKEN_KEYS,
        "reserved_tokens": list(leading_reserved(vocab) if reserved is None else reserved),
        "vocab_size": len(vocab),
    }


def _write_text(path: str, text: str) -> None:
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "w") as handle:
        handle.write(text)


def write_vocabulary(out_dir: str, vocab: Sequence[str], settings: dict,
                     stats: Optional[dict] = None) -> str:
    """Writes vocab.txt, tokenizer.json and (when given) vocab_stats.json under out_dir."""
    import tensorflow as tf

    out_dir = str(out_dir)
    tf.io.gfile.makedirs(out_dir)
    _write_text(posixpath.join(out_dir, contracts.VOCAB_FILE), "".join(f"{t}\n" for t in vocab))
    _write_text(posixpath.join(out_dir, contracts.TOKENIZER_FILE),
                json.dumps(settings, ensure_ascii=False, indent=2) + "\n")
    if stats is not None:
        _write_text(posixpath.join(out_dir, contracts.VOCAB_STATS_FILE),
                    json.dumps(stats, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
    return out_dir


def write_char_vocabulary(vocab_dir, texts, num_unused: int = 5) -> None:
    """A cased vocabulary of every character of `texts`, alone and as `##` piece (tests and
    benchmarks of stages that should not depend on a learned vocabulary)."""
    chars = sorted({c for text in texts for c in text if not c.isspace()})
    reserved = [contracts.PAD_TOKEN, contracts.UNK_TOKEN, contracts.CLS_TOKEN, contracts.SEP_TOKEN,
                contracts.MASK_TOKEN] + [f"[unused{i}]" for i in range(num_unused)]
    vocab = reserved + chars + [SUFFIX_INDICATOR + c for c in chars]
    write_vocabulary(vocab_dir, vocab, tokenizer_settings(vocab, lower_case=False, reserved=reserved))


def read_vocab_file(path: str) -> list[str]:
    """A vocabulary file as a list (line number = id; CRLF or LF line ends).

    Raises:
      FileNotFoundError naming the file; ValueError naming file and line of an empty token.
    """
    import tensorflow as tf

    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{path}: vocabulary file not found")
    with tf.io.gfile.GFile(path, "r") as handle:
        lines = handle.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    tokens = [line.rstrip("\r") for line in lines]
    if not tokens:
        raise ValueError(f"{path}: empty vocabulary")
    for number, token in enumerate(tokens, start=1):
        if not token.strip():
            raise ValueError(f"{path}:{number}: empty token")
    return tokens


def read_vocab(vocab_dir: str) -> list[str]:
    """vocab.txt of a Vocabulary folder (see read_vocab_file)."""
    return read_vocab_file(posixpath.join(str(vocab_dir), contracts.VOCAB_FILE))


def read_settings(vocab_dir: str) -> dict:
    """tokenizer.json, checked: unknown or missing keys are errors naming the key and file."""
    import tensorflow as tf

    path = posixpath.join(str(vocab_dir), contracts.TOKENIZER_FILE)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{path}: tokenizer settings not found")
    with tf.io.gfile.GFile(path, "r") as handle:
        try:
            settings = json.loads(handle.read())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON (line {err.lineno}: {err.msg})") from err
    unknown = sorted(set(settings) - set(SETTING_KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown key {unknown[0]!r}")
    missing = [k for k in SETTING_KEYS if k not in settings]
    if missing:
        raise ValueError(f"{path}: missing key {missing[0]!r}")
    return settings


def read_vocabulary(vocab_dir: str) -> tuple[list[str], dict]:
    """vocab.txt and tokenizer.json, checked against each other (size, reserved tokens)."""
    settings = read_settings(vocab_dir)
    vocab = read_vocab(vocab_dir)
    vocab_path = posixpath.join(str(vocab_dir), contracts.VOCAB_FILE)
    if settings["vocab_size"] != len(vocab):
        raise ValueError(f"{posixpath.join(str(vocab_dir), contracts.TOKENIZER_FILE)}: "
                         f"vocab_size={settings['vocab_size']} but {contracts.VOCAB_FILE} has "
                         f"{len(vocab)} tokens")
    for i, token in enumerate(settings["reserved_tokens"]):
        if i >= len(vocab) or vocab[i] != token:
            raise ValueError(f"{vocab_path}:{i + 1}: expected reserved token {token!r}")
    return vocab, settings


def check_vocab_matches(vocab_dir: str, vocab_size: int) -> None:
    """Raises ValueError naming the file when a vocabulary's size differs from the model's.

    A mismatch means ids the embedding cannot look up (or rows never trained): fail before any
    training step instead of with an index error deep inside a gather.
    """
    vocab_path = posixpath.join(str(vocab_dir), contracts.VOCAB_FILE)
    tokens = len(read_vocab_file(vocab_path))
    if tokens != vocab_size:
        raise ValueError(f"vocabulary size mismatch: {vocab_path} has {tokens} tokens but the "
                         f"encoder's vocab_size is {vocab_size}")
    settings_path = posixpath.join(str(vocab_dir), contracts.TOKENIZER_FILE)
    if _has_settings(vocab_dir):
        declared = read_settings(vocab_dir)["vocab_size"]
        if declared != vocab_size:
            raise ValueError(f"vocabulary size mismatch: {settings_path} declares vocab_size "
                             f"{declared} but the encoder's vocab_size is {vocab_size}")


def _has_settings(vocab_dir: str) -> bool:
    import tensorflow as tf

    return tf.io.gfile.exists(posixpath.join(str(vocab_dir), contracts.TOKENIZER_FILE))


def suffix_indicator(vocab_dir: str) -> str:
    """tokenizer.json's continuation mark; `##` for a folder with vocab.txt only."""
    return read_settings(vocab_dir)["suffix_indicator"] if _has_settings(vocab_dir) else SUFFIX_INDICATOR


def read_special_ids(vocab_dir: str) -> SpecialIds:
    """Looks the special tokens named in tokenizer.json (defaults without it) up in vocab.txt.

    Raises:
      FileNotFoundError / ValueError naming the file and key when a file or token is missing.
    """
    vocab = read_vocab(vocab_dir)
    names = dict(SPECIAL_TOKEN_KEYS)
    if _has_settings(vocab_dir):
        settings = read_settings(vocab_dir)
        names = {key: settings[key] for key in SPECIAL_TOKEN_KEYS}
    ids = {token: i for i, token in enumerate(vocab)}
    found = {}
    for key, token in names.items():
        if token not in ids:
            raise ValueError(f"{posixpath.join(str(vocab_dir), contracts.VOCAB_FILE)}: special "
                             f"token {token!r} ({key}) is not in the vocabulary")
        found[key.replace("_token", "_id")] = ids[token]
    return SpecialIds(vocab_size=len(vocab), **found)
