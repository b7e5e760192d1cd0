"""BERT basic tokenisation in pure Python, character for character what the TF Text tokenizer does.

The learner counts words in Beam workers, so it needs the tokenizer's word splitting without a
TensorFlow graph per line. The TF Text side (`models/tokenizer.py`) is the reference: the
`FastBertNormalizer` replaces control and format characters by a space, and the end-to-end
`FastWordpieceTokenizer` splits on white space, on punctuation and around every CJK ideograph.
The character classes below reproduce those ops exactly; `tests/test_tokenizer_agreement.py`
checks every Unicode code point against TF Text, which is how the exceptions lists were found
(TF Text's ICU tables are not the Unicode 13 tables of Python 3.10's `unicodedata`).

Lower-casing (`lower_case=True`) is NFKC-like case folding in ICU, which Python cannot reproduce
exactly; the learner runs TF Text's normalizer on batches of lines in that mode instead (see
`normalize_batch`), and only the splitting below is Python.
"""

from __future__ import annotations

import collections
import functools
import re
import sys
import unicodedata
from typing import Iterable, Mapping, Sequence

# Code points TF Text's normalizer turns into a space although Python 3.10 (Unicode 13) calls them
# unassigned: newer format characters (Arabic pound/piastre marks, Egyptian hieroglyph controls).
_EXTRA_CONTROLS = frozenset([0x890, 0x891] + list(range(0x13439, 0x13440)))
# Punctuation in Unicode 13 that TF Text's tables do not know yet, so it does not split there.
_NOT_PUNCTUATION = frozenset([0x2E52, 0x10EAD, 0x1145A, 0x11944, 0x11945, 0x11946])

# CJK ideograph blocks, as in google-research/bert's _is_chinese_char (and TF Text's).
CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)


def is_cjk(cp: int) -> bool:
    """Whether a code point is a CJK ideograph, which BERT always makes a word of its own."""
    return any(lo <= cp <= hi for lo, hi in CJK_RANGES)


def is_punctuation(cp: int) -> bool:
    """BERT punctuation: every ASCII non-alphanumeric symbol and every Unicode P* character."""
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    if cp in _NOT_PUNCTUATION:
        return False
    return unicodedata.category(chr(cp)).startswith("P")


def is_control(cp: int) -> bool:
    """Characters the normalizer replaces by a space (Cc and Cf, tab and newline included)."""
    return cp in _EXTRA_CONTROLS or unicodedata.category(chr(cp)) in ("Cc", "Cf")


def is_isolated(cp: int) -> bool:
    """Characters that always form a one-character word (punctuation and CJK ideographs)."""
    return is_punctuation(cp) or is_cjk(cp)


def _ranges(flags: list) -> list[tuple[int, int]]:
    out, start = [], None
    for cp, inside in enumerate(flags + [False]):
        if inside and start is None:
            start = cp
        elif not inside and start is not None:
            out.append((start, cp - 1))
            start = None
    return out


def _char_class(ranges: Iterable[tuple[int, int]]) -> str:
    parts = []
    for lo, hi in ranges:
        parts.append(re.escape(chr(lo)) if lo == hi else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}")
    return "".join(parts)


@functools.lru_cache(maxsize=None)
def _patterns() -> tuple[re.Pattern, re.Pattern]:
    # Built once per process (one pass over all code points, ~0.5 s); a regex with character
    # classes runs the whole split in C, which is what makes counting 50 MB in Python affordable.
    category = unicodedata.category
    isolated, controls = [], []
    for cp in range(sys.maxunicode + 1):
        if 0xD800 <= cp <= 0xDFFF:
            isolated.append(False)
            controls.append(False)
            continue
        cat = category(chr(cp))
        controls.append(cat == "Cc" or cat == "Cf" or cp in _EXTRA_CONTROLS)
        isolated.append((cat[0] == "P" and cp not in _NOT_PUNCTUATION) or cp < 127 and is_punctuation(cp)
                        or 0x3400 <= cp and is_cjk(cp))
    isolated_class = _char_class(_ranges(isolated))
    control_re = re.compile(f"[{_char_class(_ranges(controls))}]")
    # A word is one isolated character, or a run of anything but white space and isolated ones.
    # After controls became spaces, Python's \s is exactly TF Text's white space (Zs, Zl, Zp).
    word_re = re.compile(f"[{isolated_class}]|[^\\s{isolated_class}]+")
    return control_re, word_re


def clean_text(text: str) -> str:
    """What `FastBertNormalizer(lower_case_nfd_strip_accents=False)` does: controls -> space."""
    control_re, _ = _patterns()
    return control_re.sub(" ", text)


def split_words(normalized: str) -> list[str]:
    """Splits already normalised text into BERT basic-tokeniser words."""
    _, word_re = _patterns()
    return word_re.findall(normalized)


def basic_tokenize(text: str) -> list[str]:
    """Cased BERT basic tokenisation: clean, then split on white space, punctuation and CJK.

    Args:
      text: one line or document.

    Returns:
      The words, in order; `"Grüße, 世界!"` -> `["Grüße", ",", "世", "界", "!"]`.
    """
    control_re, word_re = _patterns()
    if control_re.search(text):
        text = control_re.sub(" ", text)
    return word_re.findall(text)


def count_words(chunk_counts: Mapping[str, int]) -> collections.Counter:
    """Word counts from counts of white-space-separated chunks (`text.split()`).

    `str.split()` and the word pattern's `\\s` split on the same characters, and words never
    span white space, so tokenising each distinct chunk once and multiplying gives the counts
    of `basic_tokenize` on the whole text. Counting chunks runs in C at the speed of reading;
    the regular expression then runs once per distinct chunk, not once per occurrence.
    """
    words: collections.Counter = collections.Counter()
    for chunk, count in chunk_counts.items():
        for word in basic_tokenize(chunk):
            words[word] += count
    return words


def normalize_batch(texts: Sequence[str], lower_case: bool) -> list[str]:
    """Normalises lines exactly as the tokenizer does (TF Text's FastBertNormalizer).

    Cased mode is done in Python (`clean_text`); uncased mode needs ICU's folding, so it runs the
    TF Text op on the batch. Imported lazily: the cased path never loads TensorFlow.
    """
    if not lower_case:
        return [clean_text(t) for t in texts]
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    import tensorflow_text as tf_text  # pylint: disable=g-import-not-at-top

    normalizer = _uncased_normalizer(tf_text)
    out = normalizer.normalize(tf.constant(list(texts), dtype=tf.string)).numpy()
    return [b.decode("utf-8") for b in out]


@functools.lru_cache(maxsize=None)
def _uncased_normalizer(tf_text):
    return tf_text.FastBertNormalizer(lower_case_nfd_strip_accents=True)
