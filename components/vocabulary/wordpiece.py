"""Greedy longest-match-first WordPiece splitting in Python, as TF Text's FastWordpieceTokenizer.

The learner uses it to find the piece boundaries of every distinct word between rounds, and the
statistics use it to measure fertility and UNK rate; `tests/test_tokenizer_agreement.py` checks
that it splits every word of a real sample exactly as the TF Text tokenizer does.
"""

from __future__ import annotations

from typing import Collection, Optional

# The learner applies the tokenizer's byte rule (`split_word`), so both agree on every word.
from components.vocabulary.files import SUFFIX_INDICATOR as SUFFIX, max_bytes_per_word  # noqa: F401


def _too_long(word: str, max_bytes: int) -> bool:
    """Whether `word` is over `max_bytes` in UTF-8 (encoded only when it could be: <= 4 bytes a char)."""
    return len(word) * 4 > max_bytes and len(word.encode("utf-8")) > max_bytes


def token_prefixes(vocab: Collection[str], suffix: str = SUFFIX) -> tuple[dict, dict]:
    """Prefix maps for the forward longest-match scan: (word-initial, continuation).

    Each maps every prefix of a token's text (without `##` in the continuation map) to whether
    that prefix is itself a token. With them, `split_word` scans forward from each piece start
    and stops as soon as the text is no token's prefix, instead of trying every length from the
    longest token down: a few lookups per piece instead of about `max_piece_chars`.
    """
    initial: dict[str, bool] = {}
    continuation: dict[str, bool] = {}
    for token in vocab:
        if token.startswith(suffix) and len(token) > len(suffix):
            table, body = continuation, token[len(suffix):]
        else:
            table, body = initial, token
        for i in range(1, len(body)):
            table.setdefault(body[:i], False)
        table[body] = True
    return initial, continuation


def longest_match_ends(word: str, prefixes: tuple[dict, dict],
                       first_is_suffix: bool = False) -> Optional[list[int]]:
    """Where each piece of `word` ends, longest match first (None when a position has no match).

    Args:
      word: the text to split.
      prefixes: `token_prefixes(vocab)`.
      first_is_suffix: the first piece is a continuation too (the text starts inside a word).
    """
    initial, continuation = prefixes
    n = len(word)
    ends = []
    start = 0
    get = continuation.get if first_is_suffix else initial.get
    while start < n:
        best = -1
        end = start
        while end < n:
            end += 1
            found = get(word[start:end])
            if found is None:
                break
            if found:
                best = end
        if best < 0:
            return None
        ends.append(best)
        start = best
        get = continuation.get
    return ends


def split_word(word: str, vocab: Collection[str], max_bytes: int, max_piece_chars: int,
               suffix: str = SUFFIX, prefixes: Optional[tuple[dict, dict]] = None) -> Optional[list[str]]:
    """Splits one basic-tokenised word into WordPiece tokens, longest match first.

    Args:
      word: one word as `basic_tokenizer` returns it.
      vocab: the tokens (a set; suffix pieces carry `suffix`).
      max_bytes: words longer than this in UTF-8 bytes are unknown (one `[UNK]`).
      max_piece_chars: the longest token of the vocabulary in characters (without `suffix`);
        bounds the search, any value >= the true maximum gives the same result.
      suffix: the continuation marker.
      prefixes: `token_prefixes(vocab)`, for the faster forward scan (same result).

    Returns:
      The pieces, or None when the word is unknown (too long, or some position has no match):
      WordPiece then emits a single `[UNK]` for the whole word.
    """
    n = len(word)
    if _too_long(word, max_bytes):
        return None
    if prefixes is not None:
        return _split_forward(word, prefixes, suffix)
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


def _split_forward(word: str, prefixes: tuple[dict, dict], suffix: str) -> Optional[list[str]]:
    ends = longest_match_ends(word, prefixes)
    if ends is None:
        return None
    starts = [0] + ends[:-1]
    return [(suffix if a else "") + word[a:b] for a, b in zip(starts, ends)]


def piece_starts(word: str, vocab: Collection[str], max_bytes: int, max_piece_chars: int,
                 suffix: str = SUFFIX, prefixes: Optional[tuple[dict, dict]] = None) -> Optional[list[int]]:
    """The character offsets where the pieces of `word` start (None when the word is unknown)."""
    if prefixes is not None:
        if _too_long(word, max_bytes):
            return None
        ends = longest_match_ends(word, prefixes)
        return None if ends is None else [0] + ends[:-1]
    pieces = split_word(word, vocab, max_bytes, max_piece_chars, suffix)
    if pieces is None:
        return None
    starts, pos = [], 0
    for piece in pieces:
        starts.append(pos)
        pos += len(piece) - (len(suffix) if pos else 0)
    return starts
