"""The WordPiece learner's logic: plain functions over the (word, weighted count) table.

The Beam pipeline (`beam_pipeline.py`) calls these; tests call them directly. The algorithm is
the one of tensor2tensor's SubwordTextEncoder and TF Text's `wordpiece_tokenizer_learner_lib`,
re-organised so that its cost grows with the number of distinct words and its heavy part is
data parallel:

1. Alphabet (`alphabet_tokens`): every character seen at least `min_char_count` times (the most
   frequent first, at most `max_characters`), as a word-initial token and, unless the basic
   tokeniser always isolates it (punctuation, CJK ideographs), as a `##` suffix token too. So
   every word made of known characters can be tokenised and UNK stays rare in every script.
2. Rounds. Each round splits every distinct word with the current vocabulary (longest match
   first) and counts, weighted by the word's smoothed count, every substring of at most
   `max_token_chars` characters that starts at one of the current piece boundaries
   (`count_candidates`; Beam runs it per shard of words and sums the shards).
3. Selection (`select_tokens`, numpy): for a threshold t, walk the candidates from the longest to
   the shortest; a candidate whose count, less the counts of its selected extensions, is >= t is
   selected. (When "abc" is selected, the occurrences it covers no longer count for "ab" and
   "a": longest-match tokenisation uses "abc" there.) A bisection on t finds the threshold that
   gives at least the number of tokens wanted; the surplus with the lowest counts is dropped, so
   the vocabulary has exactly the requested size whenever the corpus has enough candidates.

Two refinements of that rule (`notes/vocabulary.md` has the measurements):
- A candidate is scored by its adjusted count times the pieces it saves, to the power
  `savings_exponent` (`piece_savings`): a string the previous round's vocabulary splits into k
  pieces saves k - 1 pieces per occurrence. The plain rule (exponent 0) values "ab" over "##c",
  which saves one piece, exactly like a long word that saves four.
- A candidate ending in a Thai or Lao preposed vowel (Unicode's Logical_Order_Exception: the
  vowel is written before the consonant it follows in speech) is never selected: greedy
  longest-match would take the vowel away from its syllable ("##งเ" + "##รียน" instead of
  "##ง" + "##เรียน"), and Thai text has no spaces to stop it.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np

from components.sampling import language_multipliers
from components.vocabulary import basic_tokenizer
from components.vocabulary.wordpiece import SUFFIX, longest_match_ends, piece_starts, split_word

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

# Logical_Order_Exception (Unicode PropList.txt): Thai, Lao, New Tai Lue and Tai Viet vowels
# that are written before the consonant they follow; a piece never ends with one.
PREPOSED_VOWELS = frozenset(
    [chr(c) for c in range(0x0E40, 0x0E45)] + [chr(c) for c in range(0x0EC0, 0x0EC5)]
    + [chr(c) for c in (0x19B5, 0x19B6, 0x19B7, 0x19BA, 0xAAB5, 0xAAB6, 0xAAB9, 0xAABB, 0xAABC)])


class VocabularyError(ValueError):
    """Input the learner cannot make a vocabulary from; the message says what and where."""


def reserved_tokens(num_unused: int) -> list[str]:
    """`[PAD] [UNK] [CLS] [SEP] [MASK]` (ids 0..4) then `[unused0]`..`[unused{N-1}]`."""
    if num_unused < 0:
        raise VocabularyError(f"num_unused must be >= 0, got {num_unused}")
    return list(SPECIAL_TOKENS) + [f"[unused{i}]" for i in range(num_unused)]


def smoothing_weights(word_totals: Mapping[str, float], exponent: float) -> dict[str, float]:
    """Per-language multipliers so that each language's share of all words becomes p_l^a / sum.

    M-BERT's recipe: with p_l = n_l / N the share of language l, the smoothed share is
    q_l = p_l^a / sum_k p_k^a. Multiplying every count of l by q_l * N / n_l keeps the total N
    and gives l exactly the share q_l (a = 1: unchanged; a = 0: every language equal).

    Args:
      word_totals: language -> number of words (basic-tokenised) in the training text.
      exponent: a, in [0, 1].

    Returns:
      language -> multiplier.
    """
    if not 0.0 <= exponent <= 1.0:
        raise VocabularyError(f"smoothing exponent must be in [0, 1], got {exponent}")
    totals = {lang: float(n) for lang, n in word_totals.items() if n > 0}
    return language_multipliers(totals, exponent)


def count_characters(word_table: Iterable[tuple[str, tuple[float, float]]]) -> dict[str, list]:
    """Character occurrences from (word, (raw count, weighted count)) pairs.

    Returns:
      char -> [raw occurrences, smoothed occurrences, raw occurrences inside a word (not
      first)]; the last one decides whether the character needs a `##` form.
    """
    chars: dict[str, list] = {}
    for word, (raw, weighted) in word_table:
        for i, ch in enumerate(word):
            inner = raw if i else 0
            entry = chars.get(ch)
            if entry is None:
                chars[ch] = [raw, weighted, inner]
            else:
                entry[0] += raw
                entry[1] += weighted
                entry[2] += inner
    return chars


def alphabet_tokens(char_counts: Mapping[str, Sequence[float]], min_char_count: float = 2,
                    max_characters: int = 5000, seeds: Sequence[str] = (),
                    suffix_if_inner_only: bool = False) -> list[str]:
    """The character tokens: frequent characters, word-initial and (when needed) `##` forms.

    Args:
      char_counts: char -> (raw occurrences, smoothed occurrences[, raw inner occurrences]).
      min_char_count: raw occurrences needed; rarer characters stay out (their words are UNK).
      max_characters: at most this many distinct seen characters, the highest smoothed counts
        first, so small languages' scripts are not crowded out by big ones.
      seeds: unseen characters to add after the seen ones (see `seeds.select_seeds`); they get
        both forms unless isolated, since where they will occur is unknown.
      suffix_if_inner_only: give a seen character its `##` form only when it occurred inside a
        word (needs the third count); characters only ever seen word-initially (capitals,
        some syllables) then leave that room to learned subwords.

    Returns:
      Tokens in order: each kept character, then `##` + it unless it is always a word of its own
      (or, with `suffix_if_inner_only`, never seen inside a word); then the seeds likewise.
    """
    kept = [(ch, c[1]) for ch, c in char_counts.items() if c[0] >= min_char_count]
    kept.sort(key=lambda item: (-item[1], item[0]))
    tokens = []
    for ch, _ in kept[:max_characters]:
        tokens.append(ch)
        counts = char_counts[ch]
        inner = counts[2] > 0 if suffix_if_inner_only and len(counts) > 2 else True
        if inner and not basic_tokenizer.is_isolated(ord(ch)):
            tokens.append(SUFFIX + ch)
    for ch in seeds:
        if ch in char_counts:
            continue
        tokens.append(ch)
        if not basic_tokenizer.is_isolated(ord(ch)):
            tokens.append(SUFFIX + ch)
    return tokens


def alphabet_size(char_counts: Mapping[str, Sequence[float]], min_char_count: float,
                  max_characters: int, suffix_if_inner_only: bool) -> int:
    """Tokens `alphabet_tokens` gives without seeds (to size the seed budget)."""
    return len(alphabet_tokens(char_counts, min_char_count, max_characters,
                               suffix_if_inner_only=suffix_if_inner_only))


def count_candidates(word_table: Iterable[tuple[str, float]], vocab: Optional[set],
                     alphabet: set, max_token_chars: int, max_bytes: int,
                     max_piece_chars: int, prefixes: Optional[tuple[dict, dict]] = None
                     ) -> tuple[dict[str, float], dict[str, float]]:
    """Counts the candidate subwords of one shard of words: the data-parallel step.

    Candidates are all prefixes (up to `max_token_chars` characters) of the text that starts at
    each piece boundary. Only the longest one per boundary is stored ("maximal" strings); their
    prefixes are counted later, vectorised, by `prefix_levels`. That keeps the Python work at one
    dictionary update per boundary instead of one per candidate.

    Args:
      word_table: (word, weighted count) pairs.
      vocab: the current vocabulary (None in the first round: every position is a boundary).
      alphabet: the character tokens (words with characters outside it are skipped: they stay
        UNK whatever is learned).
      max_token_chars: longest candidate in characters.
      max_bytes: words longer than this (UTF-8) are UNK for the tokenizer, so they are skipped.
      max_piece_chars: longest token of `vocab` in characters.
      prefixes: `wordpiece.token_prefixes(vocab)` (faster splitting), or None.

    Returns:
      (word-initial, suffix) maximal strings -> summed weighted counts; suffix strings carry
      no `##`.
    """
    initial: dict[str, float] = {}
    suffix: dict[str, float] = {}
    init_get, suf_get = initial.get, suffix.get
    for word, count in word_table:
        n = len(word)
        if vocab is None:
            if len(word.encode("utf-8")) > max_bytes or not alphabet.issuperset(word):
                continue
            starts = range(n)
        else:
            starts = piece_starts(word, vocab, max_bytes, max_piece_chars, prefixes=prefixes)
            if starts is None:
                continue
        for start in starts:
            key = word[start:start + max_token_chars]
            if start == 0:
                initial[key] = init_get(key, 0.0) + count
            else:
                suffix[key] = suf_get(key, 0.0) + count
    return initial, suffix


# One level of candidates (all of one length): token strings (without `##`), is_suffix flags,
# counts, and the index of each one's one-character-shorter prefix in the next shorter level.
Level = tuple  # (tokens: str [k], is_suffix: bool [k], counts: float64 [k], parent: int64 [k])


def prefix_levels(maximal: Mapping[str, float], max_token_chars: int, min_count: float,
                  is_suffix: bool) -> dict[int, Level]:
    """Counts every prefix of the maximal strings, vectorised: length -> Level.

    The strings are sorted; the prefixes of length d are then runs of neighbours whose common
    prefix is >= d, so a prefix's count is a segment sum (`np.add.reduceat`) and its parent is
    the run of length d - 1 that contains it. Candidates counted less than `min_count` are
    dropped (exact for thresholds >= min_count: see `CandidateTable.select`).
    """
    if not maximal:
        return {}
    width = max_token_chars
    keys = np.array(list(maximal.keys()), dtype=f"U{width}")
    weights = np.fromiter(maximal.values(), dtype=np.float64, count=len(maximal))
    order = np.argsort(keys, kind="stable")
    keys, weights = keys[order], weights[order]
    # codes: uint32 [n, width], code points padded with 0 (which sorts first).
    codes = keys.view(np.uint32).reshape(len(keys), width)
    common = np.zeros(len(keys), dtype=np.int64)  # common prefix length with the previous key
    if len(keys) > 1:
        same = codes[1:] == codes[:-1]
        common[1:] = np.where(same.all(axis=1), width, same.argmin(axis=1))
    levels: dict[int, Level] = {}
    kept_starts = None
    for d in range(1, width + 1):
        starts = np.flatnonzero(common < d)
        counts = np.add.reduceat(weights, starts)
        # A run whose first key is shorter than d is that one key alone: no prefix of length d.
        keep = (codes[starts, d - 1] != 0) & (counts >= min_count)
        if not keep.any():
            break  # runs of length d + 1 lie inside these, so none of them is kept either
        starts, counts = starts[keep], counts[keep]
        if kept_starts is None:
            parents = np.full(len(starts), -1, dtype=np.int64)
        else:
            parents = np.searchsorted(kept_starts, starts, side="right").astype(np.int64) - 1
        tokens = keys[starts].astype(f"U{d}")  # truncates to the prefix of length d
        levels[d] = (tokens, np.full(len(starts), is_suffix), counts, parents)
        kept_starts = starts
    return levels


def merge_levels(parts: Iterable[dict[int, Level]]) -> dict[int, Level]:
    """Concatenates the levels of several shards, shifting parent indexes to match."""
    merged: dict[int, list] = {}
    for part in parts:
        offsets = {d: sum(len(p[0]) for p in merged.get(d, [])) for d in part}
        for d, (tokens, flags, counts, parents) in part.items():
            shift = offsets.get(d - 1, 0) if d > 1 else 0
            merged.setdefault(d, []).append(
                (tokens, flags, counts, np.where(parents >= 0, parents + shift, parents)))
    out = {}
    for d, pieces in merged.items():
        out[d] = (np.concatenate([p[0].astype(object) for p in pieces]),
                  np.concatenate([p[1] for p in pieces]),
                  np.concatenate([p[2] for p in pieces]),
                  np.concatenate([p[3] for p in pieces]))
    return out


@dataclasses.dataclass
class CandidateTable:
    """Candidates as flat arrays, longest first, for the level-wise selection.

    Attributes:
      tokens: object [n] token strings (without `##`).
      is_suffix: bool [n] whether the token is a `##` continuation.
      counts: float64 [n] weighted occurrence counts.
      lengths: int64 [n] length in characters.
      levels: (start, end) slices, one per length, longest first (lengths contiguous).
      parent_local: int64 [n] index of the one-character-shorter prefix inside the next
        level's slice, -1 for single characters.
      allowed: bool [n] false for candidates that may never be selected (ending in a
        preposed vowel).
    """

    tokens: np.ndarray
    is_suffix: np.ndarray
    counts: np.ndarray
    lengths: np.ndarray
    levels: list
    parent_local: np.ndarray
    allowed: np.ndarray = None

    def __post_init__(self):
        if self.allowed is None:
            self.allowed = np.fromiter((t[-1] not in PREPOSED_VOWELS for t in self.tokens),
                                       dtype=bool, count=len(self.tokens))

    @classmethod
    def from_levels(cls, levels: Mapping[int, Level]) -> "CandidateTable":
        lengths = sorted(levels, reverse=True)
        # Every prefix of a kept candidate is kept, so lengths run from the longest down to 1.
        assert not lengths or lengths == list(range(lengths[0], 0, -1)), lengths[:5]
        spans, start = [], 0
        for d in lengths:
            spans.append((start, start + len(levels[d][0])))
            start += len(levels[d][0])
        def cat(i, dtype):
            if not lengths:
                return np.zeros(0, dtype=dtype)
            return np.concatenate([np.asarray(levels[d][i]).astype(dtype) for d in lengths])
        return cls(tokens=cat(0, object), is_suffix=cat(1, bool), counts=cat(2, np.float64),
                   lengths=np.concatenate([np.full(len(levels[d][0]), d) for d in lengths])
                   if lengths else np.zeros(0, dtype=np.int64),
                   levels=spans, parent_local=cat(3, np.int64))

    @classmethod
    def from_counts(cls, initial: Mapping[str, float], suffix: Mapping[str, float],
                    max_token_chars: int, min_count: float = 0.0) -> "CandidateTable":
        """From the maximal-string counts of `count_candidates` (one machine, for tests)."""
        return cls.from_levels(merge_levels([
            prefix_levels(initial, max_token_chars, min_count, False),
            prefix_levels(suffix, max_token_chars, min_count, True)]))

    def token_strings(self, index: np.ndarray) -> list[str]:
        return [(SUFFIX + t) if s else t for t, s in zip(self.tokens[index], self.is_suffix[index])]

    def select(self, threshold: float,
               savings: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
        """Selected mask (bool [n]) and adjusted counts (float64 [n]) at one threshold.

        Longest first, a candidate's adjusted count is its count less what its selected
        extensions took; it is selected when that (times its `savings` weight, if given) is
        >= threshold and it is allowed, and then its own adjusted count is taken from all of
        its prefixes too.
        """
        n = len(self.tokens)
        adjusted = np.empty(n, dtype=np.float64)
        selected = np.zeros(n, dtype=bool)
        if not self.levels:
            return selected, adjusted
        # covered: float64 [level size], counts taken by selected extensions of each candidate.
        covered = np.zeros(self.levels[0][1] - self.levels[0][0])
        for i, (start, end) in enumerate(self.levels):
            adj = self.counts[start:end] - covered
            score = adj if savings is None else adj * savings[start:end]
            sel = (score >= threshold) & self.allowed[start:end]
            adjusted[start:end] = adj
            selected[start:end] = sel
            if i + 1 < len(self.levels):
                next_size = self.levels[i + 1][1] - self.levels[i + 1][0]
                taken = covered + np.where(sel, adj, 0.0)
                parents = self.parent_local[start:end]
                covered = np.bincount(parents, weights=taken, minlength=next_size)
        return selected, adjusted


def count_pieces(text: str, is_suffix: bool, prefixes: Optional[tuple[dict, dict]]) -> int:
    """Pieces of `text` (a word-initial or `##` string, given without `##`), longest match first.

    Args:
      text: the string.
      is_suffix: whether it continues a word (its first piece is a `##` token).
      prefixes: `wordpiece.token_prefixes(vocabulary)`; None in the first round, where every
        character is a piece.

    Returns:
      The number of pieces; text with a position no token matches counts one per character.
    """
    if prefixes is None:
        return len(text)
    ends = longest_match_ends(text, prefixes, is_suffix)
    return len(text) if ends is None else len(ends)


def piece_savings(table: CandidateTable, prefixes: Optional[tuple[dict, dict]],
                  exponent: float) -> Optional[np.ndarray]:
    """float64 [n]: (pieces each candidate saves per occurrence) ** exponent; None if exponent 0.

    A candidate the previous round's vocabulary splits into k pieces saves k - 1 (at least 1:
    a candidate already in the vocabulary saves what it saved before).
    """
    if not exponent:
        return None
    if prefixes is None:  # first round: every character is a piece
        return np.maximum(table.lengths - 1.0, 1.0) ** exponent
    pieces = np.fromiter((count_pieces(t, f, prefixes) for t, f in zip(table.tokens, table.is_suffix)),
                         dtype=np.float64, count=len(table.tokens))
    return np.maximum(pieces - 1.0, 1.0) ** exponent


def select_tokens(table: CandidateTable, num_tokens: int, exclude: set,
                  min_count: float = 0.0, savings: Optional[np.ndarray] = None) -> list[str]:
    """Picks `num_tokens` candidates by the threshold rule (see the module docstring).

    Args:
      table: the round's candidates.
      num_tokens: how many tokens to learn (besides `exclude`).
      exclude: tokens already in the vocabulary; never counted nor returned.
      min_count: the lowest threshold allowed (the table was pruned at it).
      savings: optional weight per candidate (`piece_savings`) multiplying its adjusted count.

    Returns:
      At most `num_tokens` tokens, highest score first (ties by token).
    """
    if num_tokens <= 0 or not len(table.tokens):
        return []
    # Single characters are the alphabet's business (rare ones stay out on purpose).
    eligible = table.lengths > 1

    def size(threshold: float) -> int:
        selected, adjusted = table.select(threshold, savings)
        return int(np.count_nonzero(selected & eligible & (adjusted > 0)))

    # Bisection in log space: counts are weighted (floats) and span several decades.
    lo = max(float(min_count), 1e-9)
    hi = float(table.counts.max()) * 2.0
    if size(lo) < num_tokens:
        threshold = lo  # the corpus has fewer candidates than asked: keep them all
    else:
        for _ in range(40):
            mid = float(np.sqrt(lo * hi))
            if size(mid) >= num_tokens:
                lo = mid
            else:
                hi = mid
            if hi / lo < 1.0 + 1e-6:
                break
        threshold = lo
    logging.info("selection: %d candidates, threshold %.4g", len(table.tokens), threshold)
    selected, adjusted = table.select(threshold, savings)
    chosen = np.flatnonzero(selected & eligible & (adjusted > 0))
    tokens = np.asarray(table.token_strings(chosen), dtype=object)
    keep = np.fromiter((t not in exclude for t in tokens), dtype=bool, count=len(tokens))
    score = adjusted if savings is None else adjusted * savings
    tokens, scores = tokens[keep], score[chosen][keep]
    order = np.lexsort((tokens.astype(str), -scores))
    return [str(t) for t in tokens[order][:num_tokens]]


def assemble_vocab(reserved: Sequence[str], alphabet: Sequence[str], learned: Sequence[str]) -> list[str]:
    """The final vocab.txt order: reserved, then characters, then learned tokens; no duplicates."""
    seen = set()
    out = []
    for token in list(reserved) + list(alphabet) + list(learned):
        if token not in seen:
            seen.add(token)
            out.append(token)
    return out


def max_piece_chars(vocab: Iterable[str]) -> int:
    """Longest token in characters, `##` not counted (bounds the longest-match search)."""
    return max((len(t) - (len(SUFFIX) if t.startswith(SUFFIX) else 0) for t in vocab), default=1)


@dataclasses.dataclass
class LanguageStats:
    """Per-language counters for vocab_stats.json, additive across shards."""

    words: float = 0
    unk: float = 0
    pieces: float = 0

    def to_json(self) -> dict:
        words = int(self.words)
        return {"words": words,
                "unk_rate": round(self.unk / words, 6) if words else 0.0,
                "fertility": round(self.pieces / words, 4) if words else 0.0}


def measure(word_counts: Iterable[tuple[str, float]], vocab: set, max_bytes: int,
            longest: int, prefixes: Optional[tuple[dict, dict]] = None) -> LanguageStats:
    """Words, UNK words and pieces of one language's (word, count) table under a vocabulary.

    WordPiece turns an unknown word into one `[UNK]`, so an UNK word counts one piece.
    """
    stats = LanguageStats()
    for word, count in word_counts:
        pieces = split_word(word, vocab, max_bytes, longest, prefixes=prefixes)
        stats.words += count
        if pieces is None:
            stats.unk += count
            stats.pieces += count
        else:
            stats.pieces += count * len(pieces)
    return stats


def log_summary(vocab_size: int, requested: int) -> None:
    if vocab_size < requested * 0.98:
        logging.warning("vocabulary has %d tokens, fewer than the %d requested: the corpus has "
                        "too few distinct subwords", vocab_size, requested)
