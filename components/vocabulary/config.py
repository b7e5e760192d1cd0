"""VocabularyConfig: the vocabulary stage's settings, the YAML `vocabulary:` section.

VocabularyGen receives it as one JSON value (`config`) and reads it back with the YAML's rules
(components/settings.py); the Beam graph and `mbert-vocab` take the same object.
"""

from __future__ import annotations

import dataclasses

from components.settings import fraction, setting
from components.vocabulary.learner import SPECIAL_TOKENS


@dataclasses.dataclass(frozen=True)
class VocabularyConfig:
    """Everything that shapes the vocabulary (M-BERT recipe: smoothed counts, cased, CJK split)."""

    # Tokens wanted in vocab.txt, reserved ones included.
    vocab_size: int = setting(8000, minimum=len(SPECIAL_TOKENS) + 1, maximum=2_000_000)
    # Language smoothing exponent (M-BERT: 0.7; 1 = none, 0 = equal shares).
    smoothing: float = fraction(0.7)
    # Uncased vocabulary (lower case, NFD, accents stripped); cased by default.
    lower_case: bool = False
    # `[unusedN]` tokens after the five special ones.
    num_unused: int = setting(100, minimum=0, maximum=100_000)
    # Cap on distinct characters in the alphabet.
    max_characters: int = setting(10000, minimum=1, maximum=1_000_000)
    # Occurrences a character needs to enter the alphabet.
    min_char_count: int = setting(1, minimum=1)
    # Lowest (smoothed) count a learned token may have.
    min_token_count: float = setting(2.0, above=0.0)
    # The same as a share of all words; the larger of the two applies. Counts grow with the
    # corpus, so an absolute floor alone would keep ever more candidates (the 8x NTREX set keeps
    # every substring); this floor keeps the table, and the learning cost, a function of the
    # distinct words (2.5e-6 of NTREX's 814k words is 2).
    min_token_rate: float = setting(2.5e-6, minimum=0.0, below=1.0)
    # Longest learned token, in characters.
    max_token_chars: int = setting(16, minimum=2, maximum=1000)
    # Longest word always tokenised (see `files.max_bytes_per_word`).
    max_chars_per_word: int = setting(200, minimum=1, maximum=100_000)
    # Learning rounds (each re-splits every word with the current vocabulary).
    num_rounds: int = setting(3, minimum=1, maximum=100)
    # Word-table and candidate shards (parallelism of the Beam steps).
    num_shards: int = setting(16, minimum=1, maximum=100_000)
    # At most this many unseen common characters of the scripts the corpus uses (Hangul,
    # hanzi/kanji; see `seeds.py`) join the alphabet, so held-out text in those scripts is not
    # UNK; -1 = vocab_size // 25, 0 = none. Never more tokens than half of the room left after
    # the reserved tokens and the seen characters.
    seed_characters: int = setting(-1, minimum=-1, maximum=1_000_000)
    # A seen character gets its `##` form only when it occurred inside a word in the training
    # text (frees room for subwords).
    suffix_if_inner_only: bool = True
    # Candidates are scored by count x (pieces saved) ** this (see `learner.piece_savings`);
    # 0 = count alone (the T2T / TF Text rule).
    savings_exponent: float = setting(0.5, minimum=0.0, maximum=2.0)

    def min_count(self, total_words: float) -> float:
        """The candidate floor for a corpus of `total_words` (see `min_token_rate`)."""
        return max(self.min_token_count, self.min_token_rate * total_words)

    def seed_budget(self) -> int:
        """`seed_characters`, with -1 resolved to a twenty-fifth of the vocabulary.

        On NTREX (16 languages, 30k tokens, learned on train) 1,200 seeds bring held-out UNK
        from 1.2 % to under 0.44 % for ko/zh/ja; every seed is a token learned subwords do not
        get (1,500 seeds cost about 1 % more pieces per word, see notes/vocabulary.md).
        """
        return self.vocab_size // 25 if self.seed_characters == -1 else self.seed_characters

    def _cross_problems(self):
        # The special tokens, the [unusedN] ones and at least one character.
        if self.vocab_size < len(SPECIAL_TOKENS) + self.num_unused + 1:
            yield "vocab_size", (f"{self.vocab_size} leaves no room for text after the "
                                 f"{len(SPECIAL_TOKENS)} special tokens and num_unused={self.num_unused}")
