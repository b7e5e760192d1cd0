"""Greedy longest-match-first WordPiece splitting in Python, as TF Text's FastWordpieceTokenizer.

The learner uses it to find the piece boundaries of every distinct word between rounds, and the
statistics use it to measure fertility and UNK rate; `tests/test_tokenizer_agreement.py` checks
that it splits every word of a real sample exactly as the TF Text tokenizer does.
"""

from __future__ import annotations

from typing import Collection, Optional

SUFFIX = "##"


def max_bytes_per_word(max_chars_per_word: int) -> int:
    """The byte limit given to TF Text for a character limit.

    FastWordpieceTokenizer limits words in UTF-8 bytes. Four bytes per character is the
    worst case, so every word of at most `max_chars_per_word` characters is always tokenised;
    the learner applies the same byte rule (`split_word`), so both sides agree on every word.
    """
    return 4 * max_chars_per_word


def split_word(word: str, vocab: Collection[str], max_bytes: int, max_piece_chars: int,
               suffix: str = SUFFIX) -> Optional[list[str]]:
    """Splits one basic-tokenised word into WordPiece tokens, longest match first.

    Args:
      word: one word as `basic_tokenizer` returns it.
      vocab: the tokens (a set; suffix pieces carry `suffix`).
      max_bytes: words longer than this in UTF-8 bytes are unknown (one `[UNK]`).
      max_piece_chars: the longest token of the vocabulary in characters (without `suffix`);
        bounds the search, any value >= the true maximum gives the same result.
      suffix: the continuation marker.

    Returns:
      The pieces, or None when the word is unknown (too long, or some position has no match):
      WordPiece then emits a single `[UNK]` for the whole word.
    """
    n = len(word)
    if len(word.encode("utf-8")) > max_bytes:
        return None
    pieces = []
    start = 0
    while start < n:
        end = min(n, start + max_piece_chars)
        prefix = suffix if start else ""
        while end > start:
            piece = prefix + word[start:end]
            if piece in vocab:
                break
            end -= 1
        if end == start:
            return None
        pieces.append(piece)
        start = end
    return pieces


def piece_starts(word: str, vocab: Collection[str], max_bytes: int, max_piece_chars: int,
                 suffix: str = SUFFIX) -> Optional[list[int]]:
    """The character offsets where the pieces of `word` start (None when the word is unknown)."""
    pieces = split_word(word, vocab, max_bytes, max_piece_chars, suffix)
    if pieces is None:
        return None
    starts, pos = [], 0
    for piece in pieces:
        starts.append(pos)
        pos += len(piece) - (len(suffix) if pos else 0)
    return starts
