"""Golden tests for the shared tokenizer and packer (hand-written vocabulary, exact ids)."""

import json
import sys

import numpy as np
import pytest
import tensorflow as tf

from models.packer import SegmentPacker, truncate_longest_first
from models.tokenizer import MBertTokenizer, load_tokenizer

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# ids:        5        6      7    8     9          10       11         12        13        14   15   16    17
GOLDEN = SPECIALS + ["héllo", "##s", "世", "界", "สวัสดี", "ครับ", "##ครับ", "مرحبا", "नमस्ते", "!", ",", "ça", "##va"]


def _ids(tokenizer, texts):
    return tokenizer.tokenize(tf.constant(texts)).to_list()


def test_golden_ids_cjk_thai_arabic_devanagari_accents():
    tokenizer = MBertTokenizer(GOLDEN)
    got = _ids(tokenizer, ["héllos, 世界! สวัสดีครับ مرحبا नमस्ते çava ?", "ครับ\u200bสวัสดี", ""])
    assert got == [[5, 6, 15, 7, 8, 14, 9, 11, 12, 13, 16, 17, 1], [10, 9], []]


def test_cased_keeps_accents_and_case():
    tokenizer = MBertTokenizer(GOLDEN)
    # "Héllo" is not "héllo"; "hello" lost its accent: both are unknown words in a cased vocab.
    assert _ids(tokenizer, ["Héllo hello héllo"]) == [[1, 1, 5]]


def test_uncased_folds_case_and_strips_accents():
    tokenizer = MBertTokenizer(SPECIALS + ["hello", "cafe", "##s"], lower_case=True, strip_accents=True)
    assert _ids(tokenizer, ["HÉLLO Cafés"]) == [[5, 6, 7]]


def test_long_words_follow_the_byte_rule():
    # max_chars_per_word=2 -> 8 bytes: "ab"*4 (8 bytes) is tokenised, 9 bytes is [UNK].
    tokenizer = MBertTokenizer(SPECIALS + ["a", "##a", "##b", "b"], max_chars_per_word=2)
    assert _ids(tokenizer, ["abababab", "ababababa"]) == [[5, 7, 6, 7, 6, 7, 6, 7], [1]]


def test_rejects_settings_tf_text_cannot_honour():
    with pytest.raises(ValueError, match="strip_accents"):
        MBertTokenizer(GOLDEN, lower_case=True, strip_accents=False)
    with pytest.raises(ValueError, match="split_cjk"):
        MBertTokenizer(GOLDEN, split_cjk=False)
    with pytest.raises(ValueError, match="mask_token='\\[MSK\\]'"):
        MBertTokenizer(GOLDEN, mask_token="[MSK]")
    with pytest.raises(ValueError, match="appears twice"):
        MBertTokenizer(GOLDEN + ["!"])


def test_tokenizer_config_round_trip():
    tokenizer = MBertTokenizer(GOLDEN, max_chars_per_word=50, name="tok")
    config = tokenizer.get_config()
    clone = MBertTokenizer.from_config(config)
    assert clone.get_config() == config
    for key in ("vocabulary", "lower_case", "strip_accents", "split_cjk", "suffix_indicator",
                "max_chars_per_word", "unk_token", "pad_token", "cls_token", "sep_token", "mask_token",
                "settings_path", "vocab_path"):
        assert key in config
    assert _ids(clone, ["世界"]) == [[7, 8]]


def _write_vocab_dir(path, vocab, **overrides):
    settings = {"lower_case": False, "strip_accents": False, "split_cjk": True, "suffix_indicator": "##",
                "max_chars_per_word": 200, "unk_token": "[UNK]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                "sep_token": "[SEP]", "mask_token": "[MASK]", "reserved_tokens": SPECIALS,
                "vocab_size": len(vocab)}
    settings.update(overrides)
    (path / "vocab.txt").write_text("".join(t + "\n" for t in vocab), encoding="utf-8")
    (path / "tokenizer.json").write_text(json.dumps(settings), encoding="utf-8")


def test_load_tokenizer_and_errors_name_the_key(tmp_path):
    _write_vocab_dir(tmp_path, GOLDEN)
    tokenizer = load_tokenizer(str(tmp_path))
    assert (tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id, tokenizer.mask_id) == (2, 3, 0, 4)
    assert _ids(tokenizer, ["ça!"]) == [[16, 14]]
    _write_vocab_dir(tmp_path, GOLDEN, lowercase=True)
    with pytest.raises(ValueError, match="unknown key 'lowercase'"):
        load_tokenizer(str(tmp_path))
    _write_vocab_dir(tmp_path, GOLDEN, vocab_size=99)
    with pytest.raises(ValueError, match="vocab_size=99 but vocab.txt has 18"):
        load_tokenizer(str(tmp_path))


def test_tokenizer_in_tf_data_and_saved_model(tmp_path):
    _write_vocab_dir(tmp_path, GOLDEN)
    tokenizer = load_tokenizer(str(tmp_path))
    packer = SegmentPacker(6, tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id)
    ds = tf.data.Dataset.from_tensor_slices(["世界!", "ça"]).batch(2).map(
        lambda s: packer.pack(tokenizer.tokenize(s)))
    batch = next(iter(ds))
    assert batch["token_ids"].numpy().tolist() == [[2, 7, 8, 14, 3, 0], [2, 16, 3, 0, 0, 0]]

    module = tf.Module()
    module.tokenizer = tokenizer
    module.packer = packer
    module.serve = tf.function(lambda s: packer.pack(tokenizer.tokenize(s))["token_ids"],
                               input_signature=[tf.TensorSpec([None], tf.string)])
    export = tmp_path / "export"
    tf.saved_model.save(module, str(export), signatures={"serving_default": module.serve})
    assert sorted(p.name for p in (export / "assets").iterdir()) == ["tokenizer.json", "vocab.txt"]
    loaded = tf.saved_model.load(str(export))
    assert loaded.signatures["serving_default"](tf.constant(["ça"]))["output_0"].numpy().tolist() == [[2, 16, 3, 0, 0, 0]]


def _reference_truncate(la, lb, budget):
    # google-research/bert's _truncate_seq_pair loop.
    while la + lb > budget:
        if la > lb:
            la -= 1
        else:
            lb -= 1
    return la, lb


def test_longest_first_matches_bert_loop_on_all_small_lengths():
    cases = [(a, b, budget) for a in range(0, 13) for b in range(0, 13) for budget in range(1, 14)]
    la, lb, budgets = (np.array(c, dtype=np.int32) for c in zip(*cases))
    for budget in range(1, 14):
        mask = budgets == budget
        got_a, got_b = truncate_longest_first(tf.constant(la[mask]), tf.constant(lb[mask]), budget)
        want = [_reference_truncate(a, b, budget) for a, b in zip(la[mask], lb[mask])]
        assert list(zip(got_a.numpy().tolist(), got_b.numpy().tolist())) == want


def test_packer_two_segments_exact():
    packer = SegmentPacker(seq_len=8, cls_id=2, sep_id=3, pad_id=0)
    a = tf.ragged.constant([[10, 11, 12, 13, 14], [10]])
    b = tf.ragged.constant([[20, 21, 22], [20, 21]])
    out = packer(a, b)
    assert out["token_ids"].numpy().tolist() == [[2, 10, 11, 12, 3, 20, 21, 3], [2, 10, 3, 20, 21, 3, 0, 0]]
    assert out["segment_ids"].numpy().tolist() == [[0, 0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 1, 0, 0]]
    assert out["padding_mask"].numpy().tolist() == [[True] * 8, [True] * 6 + [False] * 2]
    assert out["token_ids"].dtype == tf.int32 and out["segment_ids"].dtype == tf.int32


def test_packer_one_segment_truncates_and_pads():
    packer = SegmentPacker(seq_len=5, cls_id=2, sep_id=3, pad_id=0)
    out = packer(tf.ragged.constant([[7, 8, 9, 10], [7], []]))
    assert out["token_ids"].numpy().tolist() == [[2, 7, 8, 9, 3], [2, 7, 3, 0, 0], [2, 3, 0, 0, 0]]
    assert out["segment_ids"].numpy().sum() == 0


def test_packer_config_round_trip_and_bad_length():
    packer = SegmentPacker(16, 2, 3, 0, name="p")
    config = packer.get_config()
    assert {k: config[k] for k in ("seq_len", "cls_id", "sep_id", "pad_id")} == {
        "seq_len": 16, "cls_id": 2, "sep_id": 3, "pad_id": 0}
    assert SegmentPacker.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="seq_len must be >= 3"):
        SegmentPacker(2, 2, 3, 0)
