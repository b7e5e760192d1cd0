"""The vocabulary learner: its numpy core, the Beam pipeline on ingested Examples, bad input."""

import collections
import gzip
import json
import logging
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from components.vocabulary import beam_pipeline, learner
from components.settings import ConfigError
from components.vocabulary.config import VocabularyConfig
from components.vocabulary.component import run_vocabulary
from components.vocabulary.wordpiece import split_word, token_prefixes
from models.tokenizer import load_tokenizer


def test_smoothing_weights_give_the_smoothed_shares():
    weights = learner.smoothing_weights({"en": 900, "sw": 100}, 0.7)
    share_en = 0.9 ** 0.7 / (0.9 ** 0.7 + 0.1 ** 0.7)
    assert weights["en"] * 900 / 1000 == pytest.approx(share_en)
    assert weights["sw"] * 100 / 1000 == pytest.approx(1 - share_en)
    assert learner.smoothing_weights({"en": 900, "sw": 100}, 1.0) == pytest.approx({"en": 1.0, "sw": 1.0})
    with pytest.raises(learner.VocabularyError, match="smoothing exponent must be in \\[0, 1\\], got 1.5"):
        learner.smoothing_weights({"en": 1}, 1.5)


def test_alphabet_both_forms_except_isolated_characters():
    chars = {"a": [5, 5], "世": [3, 3], "!": [2, 2], "z": [1, 1]}
    assert learner.alphabet_tokens(chars, min_char_count=2) == ["a", "##a", "世", "!"]
    assert learner.alphabet_tokens(chars, min_char_count=1, max_characters=2) == ["a", "##a", "世"]


def _naive_select(words, threshold, max_len):
    """Selection by the dict loop of TF Text's learner, for comparison (one round, all starts)."""
    counts = {}
    for word, c in words.items():
        for s in range(len(word)):
            for e in range(s + 1, min(len(word), s + max_len) + 1):
                key = ("##" if s else "") + word[s:e]
                counts[key] = counts.get(key, 0.0) + c
    def strip(t):
        return t[2:] if t.startswith("##") else t
    selected = {}
    for length in range(max_len, 0, -1):
        for token, c in list(counts.items()):
            if len(strip(token)) == length and c >= threshold:
                selected[token] = c
                pre = "##" if token.startswith("##") else ""
                for i in range(1, length):
                    counts[pre + strip(token)[:i]] -= c
    return {t for t in selected if len(strip(t)) > 1}


def test_vectorised_selection_equals_the_dictionary_loop():
    words = {"unaffable": 3.0, "affable": 5.0, "able": 7.0, "unable": 4.0, "tablet": 2.0, "tab": 6.0}
    initial, suffix = learner.count_candidates(words.items(), None, set("unaffbletbl"), 5, 100, 1)
    table = learner.CandidateTable.from_counts(initial, suffix, 5)
    for threshold in (2.0, 4.0, 6.5, 9.0):
        selected, adjusted = table.select(threshold)
        got = set(table.token_strings(np.flatnonzero(selected & (table.lengths > 1))))
        assert got == _naive_select(words, threshold, 5), threshold
    chosen = learner.select_tokens(table, 4, set())
    assert len(chosen) == 4 and len(set(chosen)) == 4


def test_count_pieces_follows_longest_match():
    prefixes = token_prefixes({"un", "##aff", "##able", "##a", "##b", "##l", "##e", "a"})
    assert learner.count_pieces("unaffable", False, prefixes) == 3  # un ##aff ##able
    assert learner.count_pieces("able", True, prefixes) == 1  # ##able
    assert learner.count_pieces("able", False, prefixes) == 4  # a ##b ##l ##e
    assert learner.count_pieces("abc", False, prefixes) == 3  # a ##b, then "c" is unknown
    assert learner.count_pieces("abc", False, None) == 3  # first round: characters


def test_forward_scan_splits_as_longest_match_first():
    vocab = {"un", "##aff", "##able", "##a", "##ab", "##b", "##l", "##e", "a", "ab", "abc", "##c"}
    prefixes = token_prefixes(vocab)
    initial, continuation = prefixes
    assert continuation["abl"] is False and continuation["able"] is True and "x" not in continuation
    assert initial["ab"] is True and "able" not in initial
    for word in ("unaffable", "abcable", "abab", "abx", "able", "c", "aaaa"):
        assert split_word(word, vocab, 100, 5, prefixes=prefixes) == split_word(word, vocab, 100, 5), word


def test_savings_weight_lets_a_long_word_beat_a_short_suffix():
    # "##ed" occurs 10 times and saves one piece each time; "international" (13 characters)
    # occurs 6 times and saves 12 pieces each time (character pieces in the first round).
    words = {"walked": 10.0, "international": 6.0}
    alphabet = set("walkedintrno")
    initial, suffix = learner.count_candidates(words.items(), None, alphabet, 13, 100, 1)
    table = learner.CandidateTable.from_counts(initial, suffix, 13)
    plain = learner.select_tokens(table, 1, set())
    savings = learner.piece_savings(table, None, 1.0)
    weighted = learner.select_tokens(table, 1, set(), savings=savings)
    assert plain != ["international"]
    assert weighted == ["international"]
    assert learner.piece_savings(table, None, 0.0) is None


def test_no_piece_ends_in_a_thai_preposed_vowel():
    # "ทาง" (way) before three words that start with the preposed vowel "เ": by count alone the
    # three best are "ทางเ", "##างเ", "##งเ" (9 each), which cut "ลือก", "ข้า", "ดิน" off their vowel.
    words = {"ทางเลือก": 3.0, "ทางเข้า": 3.0, "ทางเดิน": 3.0}
    alphabet = set("".join(words))
    initial, suffix = learner.count_candidates(words.items(), None, alphabet, 8, 100, 1)
    table = learner.CandidateTable.from_counts(initial, suffix, 8)
    assert not table.allowed[list(table.tokens).index("ทางเ")]
    chosen = learner.select_tokens(table, 3, set())
    assert len(chosen) == 3 and not any(t[-1] in learner.PREPOSED_VOWELS for t in chosen)
    table.allowed[:] = True  # the plain count rule, for contrast
    assert sorted(learner.select_tokens(table, 3, set())) == ["##งเ", "##างเ", "ทางเ"]


def _write_examples(root, split, rows):
    """Examples layout (components/contracts.py): <root>/Split-<split>/data_tfrecord-00000-of-00001.gz."""
    folder = os.path.join(root, f"Split-{split}")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "data_tfrecord-00000-of-00001.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for i, (language, text) in enumerate(rows):
            feature = {
                "text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()])),
                "language": tf.train.Feature(bytes_list=tf.train.BytesList(value=[language.encode()])),
                "doc_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[f"d{i // 3}".encode()])),
                "sentence_index": tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 3])),
                "source": tf.train.Feature(bytes_list=tf.train.BytesList(value=[f"x.txt:{i + 1}".encode()])),
            }
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())


def _sample_rows(ntrex_dir, codes, n):
    rows = []
    for code, tag in codes.items():
        path = next(ntrex_dir.glob(f"newstest2019-*.{code}.txt"))
        with open(path, encoding="utf-8") as handle:
            rows += [(tag, next(handle).rstrip("\n")) for _ in range(n)]
    return rows


def test_counting_chunks_counts_the_words_of_the_whole_text():
    from components.vocabulary.basic_tokenizer import basic_tokenize, count_words
    text = ("Grüße, 世界!\tà\u00a0la carte\n(x)\u200dy soft\u00adhyphen\x00nul "
            "โรงเรียนเอกชน नमस्ते। مرحبا‌بك  Grüße 世界 ...\n")
    assert count_words(collections.Counter(text.split())) == collections.Counter(basic_tokenize(text))


def _learn(pairs, params, out):
    import apache_beam as beam  # pylint: disable=g-import-not-at-top
    with beam.Pipeline() as p:
        beam_pipeline.learn_vocabulary(p | beam.Create(pairs), None, params, str(out), stats_split="train")
    return (out / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]


def test_a_corpus_repeated_gives_the_same_vocabulary(tmp_path, caplog):
    # The candidate floor scales with the corpus (min_token_rate), so repeating every line
    # k times changes no decision: learning cost follows the distinct words, not the bytes.
    lines = ["the unaffable tablet was unable to affect the table",
             "tables and tablets are affable", "die Tabelle ist nicht unerträglich",
             "unerträgliche Tabellen sind selten", "ตารางนี้ไม่สามารถใช้งานได้", "ตารางเรียนของโรงเรียน"]
    pairs = [("en" if i < 2 else "de" if i < 4 else "th", t) for i, t in enumerate(lines)]
    params = VocabularyConfig(vocab_size=95, num_unused=0, num_shards=2, num_rounds=2, seed_characters=0,
                         min_token_count=1e-9, min_token_rate=0.01)
    caplog.set_level(logging.INFO)
    once = _learn(pairs, params, tmp_path / "once")
    thrice = _learn(pairs * 3, params, tmp_path / "thrice")
    assert len(once) == 95 and once == thrice
    tables = [int(m) for m in re.findall(r"selection: (\d+) candidates", caplog.text)]
    assert len(tables) == 4 and tables[:2] == tables[2:]  # same candidate tables, round by round


PARAMS = VocabularyConfig(vocab_size=1500, num_unused=5, num_shards=3, num_rounds=2, max_token_chars=12,
                     min_token_count=1.0, min_char_count=1)


def test_pipeline_on_examples_writes_the_artifact_and_tokenizer_agrees(tmp_path, ntrex_dir):
    codes = {"eng": "en", "deu": "de", "zho-CN": "zh-Hans", "tha": "th", "hin": "hi", "arb": "ar"}
    rows = _sample_rows(ntrex_dir, codes, 40)
    train = [r for i, r in enumerate(rows) if i % 5]
    evals = [r for i, r in enumerate(rows) if i % 5 == 0]
    _write_examples(str(tmp_path / "examples"), "train", train)
    _write_examples(str(tmp_path / "examples"), "eval", evals)
    out = tmp_path / "vocab"
    stats = run_vocabulary(str(tmp_path / "examples"), ["train", "eval"], str(out), PARAMS)

    vocab = (out / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert vocab[:10] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"[unused{i}]" for i in range(5)]
    assert len(vocab) == len(set(vocab)) == 1500  # exact size: within 2% of the request
    settings = json.loads((out / "tokenizer.json").read_text())
    assert settings["vocab_size"] == 1500 and settings["reserved_tokens"] == vocab[:10]
    assert settings["split_cjk"] is True and settings["lower_case"] is False
    assert stats["vocab_size"] == 1500 and stats["stats_split"] == "eval"
    assert sorted(stats["languages"]) == sorted(codes.values())
    # Word counts add up: eval words per language as the basic tokenizer counts them.
    from components.vocabulary.basic_tokenizer import basic_tokenize
    for tag in codes.values():
        n = sum(len(basic_tokenize(t)) for lang, t in evals if lang == tag)
        assert stats["languages"][tag]["words"] == n
        assert stats["languages"][tag]["fertility"] >= 1.0
    # The artifact loads as the shared tokenizer and gives the ids the learner's splitting gives.
    tokenizer = load_tokenizer(str(out))
    index = {t: i for i, t in enumerate(vocab)}
    ids = tokenizer.tokenize(tf.constant([t for _, t in evals])).to_list()
    for (_, text), got in zip(evals, ids):
        want = []
        for word in basic_tokenize(text):
            pieces = split_word(word, set(vocab), 800, 12)
            want += [1] if pieces is None else [index[p] for p in pieces]
        assert got == want


def test_single_sentence_language_and_one_script_give_a_correct_small_vocabulary(tmp_path):
    rows = [("en", "the cat sat on the mat with the hat")] * 5 + [("sw", "paka ameketi")]
    _write_examples(str(tmp_path / "ex"), "train", rows)
    stats = run_vocabulary(str(tmp_path / "ex"), ["train"], str(tmp_path / "v"),
                           VocabularyConfig(vocab_size=500, num_unused=0, num_shards=2, num_rounds=2))
    vocab = (tmp_path / "v" / "vocab.txt").read_text(encoding="utf-8").split()
    # Fewer candidates than asked: all of them, no padding tokens, no crash; no UNK in training text.
    assert stats["vocab_size"] == len(vocab) < 500
    assert stats["stats_split"] == "train"
    assert stats["languages"]["sw"] == {"words": 2, "unk_rate": 0.0, "fertility": 1.0}
    assert stats["languages"]["en"]["unk_rate"] == 0.0
    assert "paka" in vocab and "the" in vocab


def test_empty_corpus_is_a_clear_error(tmp_path):
    _write_examples(str(tmp_path / "ex"), "train", [("en", " \t "), ("en", "\u200b")])
    with pytest.raises(learner.VocabularyError, match="empty corpus"):
        run_vocabulary(str(tmp_path / "ex"), ["train"], str(tmp_path / "v"), PARAMS)


def test_text_file_that_is_not_utf8_names_file_and_line(tmp_path):
    # Lines are read in blocks; the error still names the line, not the block.
    bad = tmp_path / "x.en.txt"
    bad.write_bytes(b"good line\n" * 3 + b"bad \xff line\n")
    import apache_beam as beam  # pylint: disable=g-import-not-at-top
    with pytest.raises(Exception, match=f"{re.escape(str(bad))}:4: not UTF-8"):
        with beam.Pipeline() as p:
            beam_pipeline.learn_vocabulary(beam_pipeline.read_text_files(p, [(str(bad), "en")]), None,
                                           PARAMS, str(tmp_path / "v"))


def test_vocab_smaller_than_alphabet_is_a_clear_error(tmp_path):
    _write_examples(str(tmp_path / "ex"), "train", [("zh-Hans", "".join(chr(0x4E00 + i) for i in range(300)))])
    with pytest.raises(learner.VocabularyError, match="vocab_size=200 is smaller than the alphabet "
                                                      "\\(300 character tokens\\) plus the reserved tokens \\(10\\)"):
        run_vocabulary(str(tmp_path / "ex"), ["train"], str(tmp_path / "v"),
                       VocabularyConfig(vocab_size=200, num_unused=5, num_shards=2))


def test_missing_feature_names_the_record(tmp_path):
    folder = tmp_path / "ex" / "Split-train"
    folder.mkdir(parents=True)
    feature = {"text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"hi"])),
               "source": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"in.tsv:7"]))}
    with tf.io.TFRecordWriter(str(folder / "data_tfrecord-0.gz"), options="GZIP") as writer:
        writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    with pytest.raises(learner.VocabularyError, match="in.tsv:7: tf.Example without a 'text' or 'language'"):
        run_vocabulary(str(tmp_path / "ex"), ["train"], str(tmp_path / "v"), PARAMS)


def test_bad_parameters_name_the_key(tmp_path):
    """The Beam graph checks the settings it is given by the YAML's rules, before reading."""
    with pytest.raises(ConfigError, match="vocabulary.max_token_chars: must be >= 2, got 1"):
        _learn([("en", "a b")], VocabularyConfig(max_token_chars=1), tmp_path / "a")
    with pytest.raises(ConfigError, match="vocabulary.vocab_size: 50 leaves no room for text after the 5 special"):
        _learn([("en", "a b")], VocabularyConfig(vocab_size=50, num_unused=100), tmp_path / "b")
