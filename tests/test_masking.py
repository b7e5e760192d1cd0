"""Dynamic masking (components/pretraining/masking.py): which tokens, how many, what they become, and the dataset.

Vocabulary of the hand-made batches: 0 [PAD], 1 [UNK], 2 [CLS], 3 [SEP], 4 [MASK], ids >= 5
ordinary tokens; whole-word tests mark some ids as `##` continuation pieces.
"""


import numpy as np
import pytest
import tensorflow as tf

from components.pretraining import masking
from components.vocabulary import files

PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
SPECIAL = (PAD, CLS, SEP)
VOCAB_SIZE = 1000


def _row(a_len: int, b_len: int, seq_len: int, start: int = 5) -> list[int]:
    a = list(range(start, start + a_len))
    b = list(range(start + a_len, start + a_len + b_len))
    row = [CLS, *a, SEP, *b, SEP]
    return row + [PAD] * (seq_len - len(row))


def _random_batch(rows: int, seq_len: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    batch = []
    for _ in range(rows):
        n = int(rng.integers(2, seq_len - 3 + 1))
        a_len = int(rng.integers(1, n))
        row = [CLS, *rng.integers(5, VOCAB_SIZE, a_len), SEP,
               *rng.integers(5, VOCAB_SIZE, n - a_len), SEP]
        batch.append(row + [PAD] * (seq_len - len(row)))
    return np.array(batch, dtype=np.int64)


def _mask(token_ids, **kwargs):
    kwargs.setdefault("mask_token_id", MASK)
    kwargs.setdefault("vocab_size", VOCAB_SIZE)
    kwargs.setdefault("special_ids", SPECIAL)
    out = masking.mask_batch({"token_ids": tf.constant(token_ids)}, **kwargs)
    return {k: v.numpy() for k, v in out.items()}


def test_mask_rate_one_masks_every_non_special_token():
    ids = [_row(3, 2, 12), _row(1, 1, 12, start=50)]
    out = _mask(ids, mask_rate=1.0, max_predictions=16, mask_token_rate=1.0,
                random_token_rate=0.0, seed=1)
    assert out["masked_token_ids"].tolist() == [
        [CLS, MASK, MASK, MASK, SEP, MASK, MASK, SEP, PAD, PAD, PAD, PAD],
        [CLS, MASK, SEP, MASK, SEP, PAD, PAD, PAD, PAD, PAD, PAD, PAD]]
    assert out["mask_positions"].tolist() == [[1, 2, 3, 5, 6] + [0] * 11, [1, 3] + [0] * 14]
    assert out["mask_ids"].tolist() == [[5, 6, 7, 8, 9] + [0] * 11, [50, 51] + [0] * 14]
    assert out["mask_weights"].tolist() == [[1.0] * 5 + [0.0] * 11, [1.0] * 2 + [0.0] * 14]
    assert out["mask_positions"].dtype == np.int32 and out["mask_weights"].dtype == np.float32
    assert out["masked_token_ids"].dtype == np.int32 and out["mask_ids"].dtype == np.int32


def test_keep_rate_one_changes_nothing_but_still_predicts():
    ids = _random_batch(8, 40, seed=0)
    out = _mask(ids, mask_token_rate=0.0, random_token_rate=0.0, seed=2)
    assert (out["masked_token_ids"] == ids).all()
    assert out["mask_weights"].sum() > 0


def test_random_token_rate_one_draws_ordinary_ids_in_range():
    ids = _random_batch(64, 64, seed=1)
    special = list(SPECIAL) + [UNK, 5, 6, 7]  # more "special" ids: none may be drawn
    out = _mask(ids, vocab_size=12, special_ids=special, mask_rate=1.0, max_predictions=64,
                mask_token_rate=0.0, random_token_rate=1.0, seed=3)
    chosen = np.zeros_like(ids, dtype=bool)
    for r, (positions, weights) in enumerate(zip(out["mask_positions"], out["mask_weights"])):
        chosen[r, positions[weights > 0]] = True
    replaced = out["masked_token_ids"][chosen]
    assert set(np.unique(replaced)) <= set(range(12)) - set(special) - {MASK}
    assert set(np.unique(replaced)) == {8, 9, 10, 11}  # all of them come up
    assert (out["masked_token_ids"][~chosen] == ids[~chosen]).all()


def test_counts_are_fifteen_percent_rounded_at_most_max_predictions():
    seq_len = 200
    ids = np.array([_row(n - n // 2, n // 2, seq_len) for n in range(2, seq_len - 2)])
    out = _mask(ids, seed=4)
    real = np.isin(ids, SPECIAL, invert=True).sum(axis=1)
    expected = np.minimum([round(0.15 * n) for n in real], 20)
    assert out["mask_weights"].sum(axis=1).astype(int).tolist() == expected.tolist()
    assert out["mask_weights"].shape == (len(ids), 20)
    assert (np.diff(out["mask_weights"], axis=1) <= 0).all()  # real predictions first


def test_special_tokens_are_never_chosen():
    ids = _random_batch(256, 48, seed=2)
    for seed in range(5):
        out = _mask(ids, mask_rate=0.5, max_predictions=48, seed=seed)
        weights = out["mask_weights"] > 0
        chosen_ids = np.take_along_axis(ids, out["mask_positions"], axis=1)[weights]
        assert not np.isin(chosen_ids, SPECIAL).any()
        assert (chosen_ids == out["mask_ids"][weights]).all()
        # Specials survive unchanged, and chosen positions are strictly increasing.
        special = np.isin(ids, SPECIAL)
        assert (out["masked_token_ids"][special] == ids[special]).all()
        for positions, w in zip(out["mask_positions"], weights):
            assert (np.diff(positions[w]) > 0).all()


def test_eighty_ten_ten_split_on_a_large_batch():
    ids = _random_batch(2048, 128, seed=3)
    out = _mask(ids, seed=5)
    weights = out["mask_weights"] > 0
    original = out["mask_ids"][weights]
    now = np.take_along_axis(out["masked_token_ids"], out["mask_positions"], axis=1)[weights]
    total = weights.sum()
    assert total > 15000
    as_mask = (now == MASK).mean()
    unchanged = (now == original).mean()
    random_other = ((now != MASK) & (now != original)).mean()
    assert as_mask == pytest.approx(0.8, abs=0.01)
    assert unchanged == pytest.approx(0.1, abs=0.01)
    assert random_other == pytest.approx(0.1, abs=0.01)
    assert as_mask + unchanged + random_other == pytest.approx(1.0)


def test_whole_word_groups_are_masked_together():
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [
        ("##" if i % 3 else "") + f"w{i}" for i in range(5, 200)]
    starts = masking.word_start_mask_from_vocab(vocab)
    assert starts[:5].all() and starts[6] and not starts[7] and not starts[8] and starts[9]
    rng = np.random.default_rng(7)
    ids = np.array([[CLS, *rng.integers(5, 200, 30), SEP, *rng.integers(5, 200, 20), SEP]
                    for _ in range(300)])
    out = _mask(ids, mask_rate=0.3, max_predictions=30, mask_token_rate=1.0,
                random_token_rate=0.0, whole_word=True, word_start_mask=starts, seed=8)
    masked = out["masked_token_ids"] == MASK
    groups = 0
    for row, row_masked, weights in zip(ids, masked, out["mask_weights"]):
        # Words: a token that starts a word (or follows a special) plus following ## pieces.
        words, current = [], None
        for position, token in enumerate(row):
            if token in SPECIAL:
                current = None
                continue
            if current is None or starts[token]:
                current = []
                words.append(current)
            current.append(position)
        for word in words:
            flags = row_masked[word]
            assert flags.all() or not flags.any(), (row, word)
            groups += bool(flags.all()) and len(word) > 1
        n = len([t for t in row if t not in SPECIAL])
        assert row_masked.sum() == weights.sum() <= round(0.3 * n)
    assert groups > 100  # multi-piece words really were masked


def test_whole_word_needs_the_lookup_and_per_token_masks_work():
    with pytest.raises(ValueError, match="word_start_mask: required when whole_word=True"):
        _mask([_row(3, 3, 10)], whole_word=True)
    # Per-token form: [batch, seq_len]; "5 6 7" is one word, so all or nothing.
    ids = [[CLS, 5, 6, 7, SEP, 8, SEP, PAD]]
    starts = [[True, True, False, False, True, True, True, True]]
    for seed in range(10):
        out = _mask(ids, mask_rate=1.0, max_predictions=8, mask_token_rate=1.0,
                    random_token_rate=0.0, whole_word=True, word_start_mask=starts, seed=seed)
        assert out["masked_token_ids"].tolist() == [[CLS, MASK, MASK, MASK, SEP, MASK, SEP, PAD]]


def test_same_seed_same_mask_other_seed_other_mask():
    ids = _random_batch(16, 64, seed=4)
    first, again, other = (_mask(ids, seed=s) for s in (11, 11, 12))
    assert all((first[k] == again[k]).all() for k in first)
    assert not (first["mask_positions"] == other["mask_positions"]).all()
    fresh = [_mask(ids)["mask_positions"] for _ in range(2)]  # seed None: new every call
    assert not (fresh[0] == fresh[1]).all()


@pytest.mark.parametrize("kwargs, message", [
    ({"mask_rate": 1.5}, "mask_rate: must be in"),
    ({"mask_token_rate": 0.8, "random_token_rate": 0.3}, "mask_token_rate \\+ random_token_rate"),
    ({"max_predictions": 0}, "max_predictions: must be >= 1"),
    ({"special_ids": (PAD, CLS, SEP, MASK)}, "mask_token_id: 4 is also in special_ids"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _mask([_row(3, 3, 10)], **kwargs)


def _write_instances(path, rows: int, seq_len: int, seed: int = 0):
    ids = _random_batch(rows, seq_len, seed)
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for i, row in enumerate(ids):
            sep = np.flatnonzero(row == SEP)
            segments = np.zeros(seq_len, np.int64)
            segments[sep[0] + 1:sep[1] + 1] = 1
            feature = {
                "token_ids": tf.train.Feature(int64_list=tf.train.Int64List(value=row)),
                "segment_ids": tf.train.Feature(int64_list=tf.train.Int64List(value=segments)),
                "next_sentence_label": tf.train.Feature(
                    int64_list=tf.train.Int64List(value=[i % 2])),
                "language": tf.train.Feature(bytes_list=tf.train.BytesList(
                    value=[[b"en", b"th", b"zh-Hans"][i % 3]]))}
            writer.write(tf.train.Example(
                features=tf.train.Features(feature=feature)).SerializeToString())
    return ids


def test_dataset_structure_and_new_masks_every_epoch(tmp_path):
    seq_len, rows = 32, 24
    ids = _write_instances(tmp_path / "part-0.gz", rows, seq_len)
    kwargs = dict(mask_token_id=MASK, vocab_size=VOCAB_SIZE, special_ids=SPECIAL)
    dataset = masking.make_pretraining_dataset(
        str(tmp_path / "*.gz"), batch_size=8, seq_len=seq_len, masking=kwargs, shuffle=False,
        repeat=False, seed=5)
    inputs, labels, language = next(iter(dataset))
    assert {k: (v.dtype, tuple(v.shape)) for k, v in inputs.items()} == {
        "token_ids": (tf.int32, (8, seq_len)), "segment_ids": (tf.int32, (8, seq_len)),
        "padding_mask": (tf.bool, (8, seq_len)), "mask_positions": (tf.int32, (8, 20)),
        "position_ids": (tf.int32, (8, seq_len))}
    assert {k: (v.dtype, tuple(v.shape)) for k, v in labels.items()} == {
        "mask_ids": (tf.int32, (8, 20)), "mask_weights": (tf.float32, (8, 20)),
        "next_sentence_label": (tf.int32, (8,))}
    assert language.numpy().tolist() == [b"en", b"th", b"zh-Hans"] * 2 + [b"en", b"th"]
    assert (inputs["padding_mask"].numpy() == (ids[:8] != PAD)).all()
    assert labels["next_sentence_label"].numpy().tolist() == [0, 1] * 4
    # Unmasked view of the first batch is the file's content.
    restored = inputs["token_ids"].numpy().copy()
    positions, weights = inputs["mask_positions"].numpy(), labels["mask_weights"].numpy() > 0
    for r in range(8):
        restored[r, positions[r][weights[r]]] = labels["mask_ids"].numpy()[r][weights[r]]
    assert (restored == ids[:8]).all()

    def epoch(ds):
        return np.concatenate([b[0]["mask_positions"].numpy() for b in ds])

    def fresh():
        return masking.make_pretraining_dataset(
            str(tmp_path / "*.gz"), batch_size=8, seq_len=seq_len, masking=kwargs,
            shuffle=False, repeat=False, seed=5)

    dataset = fresh()
    first, second = epoch(dataset), epoch(dataset)
    assert first.shape == (rows, 20)
    assert not (first == second).all()  # a new mask every epoch
    rebuilt = fresh()
    assert (epoch(rebuilt) == first).all()  # reproducible from the seed...
    assert (epoch(rebuilt) == second).all()  # ...epoch after epoch

    two = masking.make_pretraining_dataset(
        str(tmp_path / "*.gz"), batch_size=8, seq_len=seq_len, masking=kwargs, shuffle=True,
        repeat=True, seed=5, with_language=False)
    element = next(iter(two))
    assert len(element) == 2 and set(element[1]) == {"mask_ids", "mask_weights",
                                                      "next_sentence_label"}


def test_dataset_errors_name_the_problem(tmp_path):
    kwargs = dict(mask_token_id=MASK, vocab_size=VOCAB_SIZE, special_ids=SPECIAL)
    with pytest.raises(FileNotFoundError, match="no pretraining records match"):
        masking.make_pretraining_dataset(str(tmp_path / "*.gz"), 4, 16, kwargs)
    _write_instances(tmp_path / "part-0.gz", 4, 16)
    wrong_length = masking.make_pretraining_dataset(str(tmp_path / "*.gz"), 4, 32, kwargs,
                                                    shuffle=False, repeat=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match="Key: (token|segment)_ids"):
        next(iter(wrong_length))


def test_masking_kwargs_from_a_vocabulary_folder(tmp_path):
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused0]", "ก", "##ข", "中", "é"]
    files.write_vocabulary(tmp_path, vocab, files.tokenizer_settings(vocab, lower_case=False))
    kwargs = masking.masking_kwargs_from_vocab(str(tmp_path), whole_word=True)
    assert kwargs["mask_token_id"] == 4 and kwargs["vocab_size"] == 10
    assert kwargs["special_ids"] == (0, 2, 3)
    assert kwargs["word_start_mask"].tolist() == [True] * 7 + [False] + [True] * 2
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"vocab\.txt: special token '\[MASK\]' \(mask_token\) is not in"):
        masking.masking_kwargs_from_vocab(str(tmp_path))


def test_whole_word_masking_from_a_folder_with_vocab_txt_only(tmp_path):
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "##b", "c"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    kwargs = masking.masking_kwargs_from_vocab(str(tmp_path), whole_word=True)
    assert kwargs["special_ids"] == (0, 2, 3) and kwargs["mask_token_id"] == 4
    assert kwargs["word_start_mask"].tolist() == [True] * 6 + [False, True]
