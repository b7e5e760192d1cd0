"""Alphabet seeding: common characters of a script that the training text happens not to show.

Learning on the train split leaves out every character that occurs only in held-out text; for
scripts with thousands of characters (Hangul syllables, hanzi/kanji) that makes held-out UNK
rates of about 1 % on NTREX (ko, zh-Hans, zh-Hant). The national standard character sets hold
the characters in common use, and Python ships them as codecs, so no list is downloaded:

- KS X 1001 Hangul: the 2,350 common syllables (EUC-KR rows 0xB0..0xC8).
- GB 2312 level 1: 3,755 common simplified hanzi (rows 0xB0..0xD7 in 'gb2312').
- Big5 level 1: 5,401 frequent traditional hanzi (0xA440..0xC67E in 'big5').
- JIS X 0208 level 1: 2,965 common kanji (EUC-JP rows 0xB0..0xCF).

A set is used only when the corpus shows that its script variety is there: at least
`MIN_EVIDENCE` characters (and `EVIDENCE_SHARE` of the seen characters of the script) that are in
this set and in no other set of the same script. Simplified-only characters show a Chinese
(PRC) corpus, traditional-only ones a Taiwanese/Hong Kong one, kanji outside both a Japanese
one; a corpus with Japanese alone does not get 5,000 traditional hanzi.

Unseen characters are ranked by a frequency proxy, since there is no frequency list offline:
- Hangul: a unigram jamo model estimated on the corpus's own syllables (a syllable made of the
  leading consonant, vowel and final that the language uses most is likely common);
- hanzi: in how many of the four East Asian standards (the three above and KS X 1001's hanja)
  it is, then Big5's order (by stroke count: simpler characters are the frequent ones).
The budget is split between scripts in proportion to their (smoothed) occurrences in the
corpus, because the held-out UNK mass of a script grows with how much of the text it is.
All of this costs O(size of the sets), independent of the corpus.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Mapping, Sequence

from components.vocabulary import basic_tokenizer

MIN_EVIDENCE = 20
EVIDENCE_SHARE = 0.02

_HANGUL_FIRST, _HANGUL_LAST = 0xAC00, 0xD7A3


def _decode_rows(codec: str, rows: range, cells: Sequence[int], last: bytes | None = None) -> list[str]:
    """Characters of a double-byte code page, in code order; undefined cells skipped."""
    out = []
    for row in rows:
        for cell in cells:
            raw = bytes([row, cell])
            if last is not None and raw > last:
                return out
            try:
                out.append(raw.decode(codec))
            except UnicodeDecodeError:
                continue
    return out


_EUC_CELLS = range(0xA1, 0xFF)
_BIG5_CELLS = list(range(0x40, 0x7F)) + list(range(0xA1, 0xFF))


@functools.lru_cache(maxsize=None)
def character_sets() -> dict[str, tuple[str, ...]]:
    """The standard sets, each in its code order (decoded once per process)."""
    return {
        "ksx1001_hangul": tuple(_decode_rows("euc_kr", range(0xB0, 0xC9), _EUC_CELLS)),
        "gb2312_level1": tuple(_decode_rows("gb2312", range(0xB0, 0xD8), _EUC_CELLS)),
        "big5_level1": tuple(_decode_rows("big5", range(0xA4, 0xC7), _BIG5_CELLS, last=b"\xc6\x7e")),
        "jisx0208_level1": tuple(_decode_rows("euc_jp", range(0xB0, 0xD0), _EUC_CELLS)),
        "ksx1001_hanja": tuple(_decode_rows("euc_kr", range(0xCA, 0xFE), _EUC_CELLS)),
    }


# Script -> the sets that may seed it. KS X 1001's hanja only vote in the hanzi ranking: modern
# Korean text rarely uses them, so they are no evidence of common use on their own.
SCRIPT_SETS = {
    "hangul": ("ksx1001_hangul",),
    "han": ("gb2312_level1", "big5_level1", "jisx0208_level1"),
}
_HAN_VOTERS = ("gb2312_level1", "big5_level1", "jisx0208_level1", "ksx1001_hanja")


def script_of(ch: str) -> str | None:
    """'hangul' for precomposed Hangul syllables, 'han' for CJK ideographs, else None."""
    cp = ord(ch)
    if _HANGUL_FIRST <= cp <= _HANGUL_LAST:
        return "hangul"
    if basic_tokenizer.is_cjk(cp):
        return "han"
    return None


@dataclasses.dataclass
class SeedGroup:
    """The seed candidates of one script: unseen characters, best first, and their weight."""

    script: str
    sets: list  # names of the sets the corpus shows evidence for
    ranked: list  # str: unseen characters, most likely first
    weight: float  # smoothed occurrences of the script in the corpus
    token_cost: int  # vocabulary tokens per character (2 when it needs a `##` form too)


def active_sets(seen: Mapping[str, float], script: str) -> list[str]:
    """The sets of `script` that the seen characters give evidence for (see module docstring)."""
    sets = character_sets()
    members = {name: set(sets[name]) for name in SCRIPT_SETS[script]}
    seen_script = [ch for ch in seen if script_of(ch) == script]
    needed = max(MIN_EVIDENCE, EVIDENCE_SHARE * len(seen_script))
    active = []
    for name, chars in members.items():
        others = set().union(*(c for n, c in members.items() if n != name))
        evidence = sum(1 for ch in seen_script if ch in chars and ch not in others)
        if evidence >= needed:
            active.append(name)
    return active


def _hangul_ranked(candidates: list[str], seen: Mapping[str, float]) -> list[str]:
    # Syllable = 0xAC00 + (lead * 21 + vowel) * 28 + tail; a unigram model of the three jamo.
    lead, vowel, tail = [0.0] * 19, [0.0] * 21, [0.0] * 28
    for ch, count in seen.items():
        s = ord(ch) - _HANGUL_FIRST
        if 0 <= s <= _HANGUL_LAST - _HANGUL_FIRST:
            lead[s // 588] += count
            vowel[(s % 588) // 28] += count
            tail[s % 28] += count
    logs = [[math.log((c + 1.0) / (sum(table) + len(table))) for c in table] for table in (lead, vowel, tail)]

    def score(ch: str) -> float:
        s = ord(ch) - _HANGUL_FIRST
        return logs[0][s // 588] + logs[1][(s % 588) // 28] + logs[2][s % 28]

    return sorted(candidates, key=lambda ch: (-score(ch), ch))


def _han_ranked(candidates: list[str]) -> list[str]:
    sets = character_sets()
    voters = [set(sets[name]) for name in _HAN_VOTERS]
    big5_order = {ch: i for i, ch in enumerate(sets["big5_level1"])}
    last = len(big5_order)
    return sorted(candidates, key=lambda ch: (-sum(ch in v for v in voters), big5_order.get(ch, last), ch))


def seed_groups(char_counts: Mapping[str, Sequence[float]]) -> list[SeedGroup]:
    """The seed candidates per script the corpus uses (empty when it uses none of them).

    Args:
      char_counts: char -> (raw occurrences, smoothed occurrences, ...), as the learner counts.

    Returns:
      One group per script with at least one active set and unseen characters left.
    """
    seen = {ch: float(c[1]) for ch, c in char_counts.items()}
    sets = character_sets()
    groups = []
    for script in SCRIPT_SETS:
        active = active_sets(seen, script)
        if not active:
            continue
        candidates = sorted({ch for name in active for ch in sets[name] if ch not in seen})
        if not candidates:
            continue
        ranked = _hangul_ranked(candidates, seen) if script == "hangul" else _han_ranked(candidates)
        weight = sum(c for ch, c in seen.items() if script_of(ch) == script)
        cost = 1 if basic_tokenizer.is_isolated(ord(ranked[0])) else 2
        groups.append(SeedGroup(script, active, ranked, weight, cost))
    return groups


def _allocate(groups: list[SeedGroup], budget: int) -> list[int]:
    """Characters per group: shares of `budget` by weight, what a group cannot use goes on."""
    counts = [0] * len(groups)
    left = budget
    open_ = [i for i, g in enumerate(groups) if g.ranked]
    while left > 0 and open_:
        total = sum(groups[i].weight for i in open_) or float(len(open_))
        given = 0
        for i in open_:
            share = groups[i].weight / total if total else 1.0 / len(open_)
            take = min(len(groups[i].ranked) - counts[i], max(1, int(left * share)))
            take = min(take, left - given)
            counts[i] += take
            given += take
        left -= given
        open_ = [i for i in open_ if counts[i] < len(groups[i].ranked)]
        if given == 0:
            break
    return counts


def select_seeds(char_counts: Mapping[str, Sequence[float]], max_characters: int,
                 max_tokens: int) -> list[str]:
    """The seeded characters, group by group, within both budgets.

    Args:
      char_counts: the corpus's characters (see `seed_groups`).
      max_characters: at most this many seeded characters (the `seed_characters` parameter).
      max_tokens: at most this many vocabulary tokens for them (a Hangul syllable takes two:
        word-initial and `##`), so the learned subwords keep their room.

    Returns:
      Characters, the best of each script first; never one that `char_counts` holds.
    """
    if max_characters <= 0 or max_tokens <= 0:
        return []
    groups = seed_groups(char_counts)
    if not groups:
        return []
    budget = max_characters
    while True:
        counts = _allocate(groups, budget)
        tokens = sum(n * g.token_cost for n, g in zip(counts, groups))
        if tokens <= max_tokens or budget == 0:
            break
        # Shrink in proportion (costs are 1 or 2, so this converges in a few steps).
        budget = min(budget - 1, int(budget * max_tokens / tokens))
    return [ch for n, g in zip(counts, groups) for ch in g.ranked[:n]]
