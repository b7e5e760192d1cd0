"""Alphabet seeding (Hangul, hanzi, kanji from the standard sets) and inner-only `##` forms."""

import os

import pytest
import tensorflow as tf

from components.vocabulary import learner, seeds
from components.vocabulary.config import VocabularyConfig
from components.vocabulary.component import run_vocabulary

SETS = seeds.character_sets()


def _counts(chars, count=3.0, inner=0.0):
    """char_counts as the learner makes them: [raw, smoothed, raw inner]."""
    return {ch: [count, count, inner] for ch in chars}


def test_standard_sets_decode_with_their_published_sizes_and_bounds():
    got = {name: (len(chars), chars[0], chars[-1]) for name, chars in SETS.items()}
    assert got == {
        "ksx1001_hangul": (2350, "가", "힝"),
        "gb2312_level1": (3755, "啊", "座"),
        "big5_level1": (5401, "一", "籲"),
        "jisx0208_level1": (2965, "亜", "腕"),
        "ksx1001_hanja": (4888, "伽", "詰"),
    }


def test_no_seeds_for_scripts_the_corpus_does_not_use():
    latin = _counts("abcdefghijklmnopqrstuvwxyzé")
    assert seeds.select_seeds(latin, 1000, 2000) == []
    # A handful of Hangul syllables (a name in an English text) is no evidence of Korean.
    few = dict(latin, **_counts(SETS["ksx1001_hangul"][:seeds.MIN_EVIDENCE - 1]))
    assert seeds.select_seeds(few, 1000, 2000) == []


def test_korean_corpus_gets_unseen_hangul_only_best_jamo_first():
    seen = SETS["ksx1001_hangul"][::10]  # 235 syllables
    counts = dict(_counts("abc"), **_counts(seen))
    got = seeds.select_seeds(counts, 100, 1000)
    assert len(got) == 100 and len(set(got)) == 100
    assert all(seeds.script_of(ch) == "hangul" and ch not in counts for ch in got)
    assert set(got) <= set(SETS["ksx1001_hangul"])
    # Ranking by the corpus's jamo: with only 가 (g + a, no final) seen many times, 각 (g + a + k)
    # shares two of its three jamo and ranks before 휠 (h + wi + l: shares none).
    jamo = dict(counts, **{"가": [1000.0, 1000.0, 0.0]})
    ranked = seeds.seed_groups(jamo)[0].ranked
    assert ranked.index("각") < ranked.index("휠")


def test_hanzi_sets_follow_the_corpus_variety():
    gb, big5, jis = (set(SETS[n]) for n in ("gb2312_level1", "big5_level1", "jisx0208_level1"))
    simplified_only = sorted(gb - big5 - jis)[:40]
    counts = _counts(simplified_only)
    assert seeds.active_sets(counts, "han") == ["gb2312_level1"]
    got = seeds.select_seeds(counts, 5000, 5000)
    assert set(got) == gb - set(simplified_only)  # all of GB 2312 level 1 that is unseen, no more
    # Traditional evidence as well: both sets, and the shared characters rank first (two votes).
    traditional_only = sorted(big5 - gb - jis)[:40]
    both = seeds.select_seeds(_counts(simplified_only + traditional_only), 10_000, 10_000)
    assert set(both) == (gb | big5) - set(simplified_only + traditional_only)
    first = both[:100]
    assert all(ch in gb and ch in big5 for ch in first)


def test_budgets_split_by_script_weight_and_never_exceeded():
    hangul = _counts(SETS["ksx1001_hangul"][:300], count=1.0)
    gb, big5, jis = (set(SETS[n]) for n in ("gb2312_level1", "big5_level1", "jisx0208_level1"))
    han = _counts(sorted(gb - big5 - jis)[:300], count=3.0)  # three times Hangul's weight
    counts = dict(hangul, **han)
    got = seeds.select_seeds(counts, 400, 10_000)
    n_hangul = sum(seeds.script_of(ch) == "hangul" for ch in got)
    assert (len(got), n_hangul) == (400, 100)
    # A Hangul syllable costs two tokens (initial and ##), a hanzi one.
    for max_tokens in (0, 1, 57, 250):
        got = seeds.select_seeds(counts, 400, max_tokens)
        tokens = sum(2 if seeds.script_of(ch) == "hangul" else 1 for ch in got)
        assert tokens <= max_tokens
        assert max_tokens < 4 or tokens >= max_tokens * 0.9


def test_suffix_forms_only_for_characters_seen_inside_words():
    counts = {"a": [5, 5, 3], "Q": [4, 4, 0], "가": [3, 3, 0], "世": [2, 2, 0]}
    assert learner.alphabet_tokens(counts, 1, suffix_if_inner_only=True) == ["a", "##a", "Q", "가", "世"]
    assert learner.alphabet_tokens(counts, 1) == ["a", "##a", "Q", "##Q", "가", "##가", "世"]
    # Seeds follow the seen characters, both forms unless isolated; a seen one is not repeated.
    assert learner.alphabet_tokens(counts, 1, seeds=["각", "丁", "a"]) == [
        "a", "##a", "Q", "##Q", "가", "##가", "世", "각", "##각", "丁"]
    chars = learner.count_characters([("ab", (2, 4.0)), ("ba", (1, 1.0))])
    assert chars == {"a": [3, 5.0, 1], "b": [3, 5.0, 2]}


def _write_examples(root, split, rows):
    folder = os.path.join(root, f"Split-{split}")
    os.makedirs(folder, exist_ok=True)
    with tf.io.TFRecordWriter(os.path.join(folder, "data_tfrecord-00000-of-00001.gz"), options="GZIP") as writer:
        for i, (language, text) in enumerate(rows):
            feature = {
                "text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()])),
                "language": tf.train.Feature(bytes_list=tf.train.BytesList(value=[language.encode()])),
                "source": tf.train.Feature(bytes_list=tf.train.BytesList(value=[f"x.txt:{i + 1}".encode()])),
            }
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())


@pytest.mark.parametrize("with_korean", [True, False])
def test_pipeline_seeds_within_the_exact_size(tmp_path, with_korean):
    syllables = SETS["ksx1001_hangul"][::20]  # 118 distinct syllables
    rows = [("en", "the cat sat on the mat with the hat and the bat " * 3)] * 20
    if with_korean:
        # Sliding words of four syllables: plenty of candidates, so the size can be exact.
        rows += [("ko", " ".join("".join(syllables[i:i + 4]) for i in range(len(syllables))))] * 3
    _write_examples(str(tmp_path / "ex"), "train", rows)
    params = VocabularyConfig(vocab_size=700, num_unused=5, num_shards=2, num_rounds=1, seed_characters=100,
                         min_token_count=1.0)
    stats = run_vocabulary(str(tmp_path / "ex"), ["train"], str(tmp_path / "v"), params)
    vocab = (tmp_path / "v" / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert len(vocab) == len(set(vocab)) == stats["vocab_size"]
    hangul = [t for t in vocab if len(t) == 1 and seeds.script_of(t) == "hangul"]
    if with_korean:
        assert stats["vocab_size"] == 700  # exact size with seeds taking room
        assert len(hangul) == len(syllables) + 100
        # Seeds get both forms; a seen syllable its `##` form when it occurred inside a word,
        # which every one but the first did (each starts one window and sits inside others).
        assert all("##" + t in vocab for t in hangul if t != syllables[0])
        assert "##" + syllables[0] not in vocab
    else:
        assert hangul == [] and not any(seeds.script_of(t[-1]) for t in vocab)
        # "b" only starts words ("bat"): no `##b`; "t" also ends them.
        assert "b" in vocab and "##b" not in vocab and "##t" in vocab
