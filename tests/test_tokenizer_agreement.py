"""The learner's Python splitting and the TF Text tokenizer agree, character and word."""

import itertools
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text as tf_text

from components.vocabulary import basic_tokenizer, learner
from components.vocabulary.wordpiece import max_bytes_per_word, split_word
from models.tokenizer import MBertTokenizer

NTREX_CODES = {"eng": "en", "deu": "de", "rus": "ru", "zho-CN": "zh-Hans", "zho-TW": "zh-Hant", "jpn": "ja",
               "kor": "ko", "arb": "ar", "hin": "hi", "ben": "bn", "tha": "th", "ell": "el", "swa": "sw",
               "tur": "tr", "fra": "fr", "spa": "es"}


def test_every_code_point_is_classified_as_tf_text_does():
    # "a<c>a" through TF Text: one word (other), "a" "a" (white space/control) or "a" x "a" (isolated).
    cps = [c for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF and c != ord("a")]
    texts = ["a" + chr(c) + "a" for c in cps]
    wordpiece = tf_text.FastWordpieceTokenizer(["[UNK]", "a", "##a"], token_out_type=tf.int32)
    normalized = tf_text.FastBertNormalizer().normalize(tf.constant(texts))
    lengths = wordpiece.tokenize(normalized).row_lengths().numpy()
    python = np.array([len(basic_tokenizer.basic_tokenize(t)) for t in texts])
    bad = [hex(cps[i]) for i in np.flatnonzero(lengths != python)]
    assert not bad, f"{len(bad)} code points split differently, first: {bad[:10]}"


def _sample(ntrex_dir, per_language):
    lines = []
    for code in sorted(NTREX_CODES):
        path = next(ntrex_dir.glob(f"newstest2019-*.{code}.txt"))
        with open(path, encoding="utf-8") as handle:
            lines += [(NTREX_CODES[code], line.rstrip("\n")) for line in itertools.islice(handle, per_language)]
    return lines


def test_learner_and_tokenizer_split_every_word_of_a_real_sample_alike(ntrex_dir):
    lines = _sample(ntrex_dir, 60)
    words = {}
    for _, line in lines:
        for word in basic_tokenizer.basic_tokenize(line):
            words[word] = words.get(word, 0) + 1
    # A small vocabulary learned from the sample itself: plenty of multi-piece and UNK words.
    chars = learner.count_characters((w, (c, c)) for w, c in words.items())
    alphabet = learner.alphabet_tokens(chars, min_char_count=2, max_characters=5000)
    mb = max_bytes_per_word(30)
    initial, suffix = learner.count_candidates(words.items(), None, set(alphabet), 12, mb, 1)
    table = learner.CandidateTable.from_counts(initial, suffix, 12, 2.0)
    vocab = learner.assemble_vocab(learner.reserved_tokens(3), alphabet,
                                   learner.select_tokens(table, 1500, set(alphabet), 2.0))
    tokenizer = MBertTokenizer(vocab, max_chars_per_word=30)
    got = tokenizer.tokenize(tf.constant([t for _, t in lines])).to_list()
    vocab_set, longest = set(vocab), learner.max_piece_chars(vocab)
    index = {t: i for i, t in enumerate(vocab)}
    unk_words = multi_piece = 0
    for (language, line), ids in zip(lines, got):
        want = []
        for word in basic_tokenizer.basic_tokenize(line):
            pieces = split_word(word, vocab_set, mb, longest)
            unk_words += pieces is None
            multi_piece += pieces is not None and len(pieces) > 1
            want += [index["[UNK]"]] if pieces is None else [index[p] for p in pieces]
        assert ids == want, f"{language}: {line!r}"
    # The sample exercises both UNK and multi-piece words (Thai runs exceed 30 characters).
    assert unk_words > 0 and multi_piece > 100
