"""Pretraining instances: the plain builder functions (no Beam, no TensorFlow).

Token ids in the hand-made corpora encode where they come from: document d, sentence s,
position k -> 10000 * (d + 1) + 100 * s + k, so an instance can be traced back exactly.
"""

import random

import pytest

from components.pretraining_examples import builder

CLS, SEP, PAD = 2, 3, 0


def _doc(d: int, lengths: list[int]) -> list[list[int]]:
    return [[10000 * (d + 1) + 100 * s + k for k in range(n)] for s, n in enumerate(lengths)]


def _origin(token: int) -> tuple[int, int, int]:
    """token id -> (document, sentence, position)."""
    return token // 10000 - 1, (token % 10000) // 100, token % 100


def _split(instance: builder.Instance) -> tuple[list[int], list[int]]:
    """token_ids -> (a, b), checking the [CLS] a [SEP] b [SEP] PAD* frame on the way."""
    ids = instance.token_ids
    assert ids[0] == CLS
    seps = [i for i, t in enumerate(ids) if t == SEP]
    assert len(seps) == 2, ids
    a, b = ids[1:seps[0]], ids[seps[0] + 1:seps[1]]
    assert all(t == PAD for t in ids[seps[1] + 1:])
    assert instance.segment_ids == ([0] * (len(a) + 2) + [1] * (len(b) + 1)
                                    + [0] * (len(ids) - seps[1] - 1))
    assert a and b
    return a, b


def test_exact_instances_of_one_document():
    # max_num_tokens 9: sentences of 4 + 5 tokens fill a chunk exactly (no truncation), and
    # two-sentence chunks make a_end = 1 the only choice; the last lone sentence would need a
    # random next segment and there is no other document: dropped.
    params = builder.InstanceParams(max_seq_length=12, short_seq_prob=0.0, random_next_prob=0.0,
                                    dupe_factor=1, cls_id=CLS, sep_id=SEP, pad_id=PAD)
    doc = _doc(0, [4, 5, 4, 5, 3])
    instances = builder.create_instances_from_document([doc], 0, params, random.Random(0), "sw")
    assert instances == [
        builder.Instance([CLS, *doc[0], SEP, *doc[1], SEP], [0] * 6 + [1] * 6, 0, "sw"),
        builder.Instance([CLS, *doc[2], SEP, *doc[3], SEP], [0] * 6 + [1] * 6, 0, "sw"),
    ]
    assert [len(i.token_ids) for i in instances] == [12, 12]


def test_padding_and_segment_ids_of_a_short_pair():
    params = builder.InstanceParams(max_seq_length=10, cls_id=CLS, sep_id=SEP, pad_id=PAD)
    instance = builder.pack_instance([7, 8], [9], True, "th", params)
    assert instance.token_ids == [CLS, 7, 8, SEP, 9, SEP, PAD, PAD, PAD, PAD]
    assert instance.segment_ids == [0, 0, 0, 0, 1, 1, 0, 0, 0, 0]
    assert instance.next_sentence_label == 1 and instance.language == "th"
    with pytest.raises(ValueError, match="do not fit in max_seq_length=10"):
        builder.pack_instance([1] * 5, [1] * 3, False, "th", params)


def test_truncation_shortens_the_longer_segment_only_from_its_ends():
    a, b = list(range(100, 120)), list(range(200, 205))
    ta, tb = builder.truncate_seq_pair(a, b, 12, random.Random(3))
    assert len(ta) + len(tb) == 12
    assert tb == b and len(ta) == 7  # only the longer side loses tokens until they are equal-ish
    assert ta == a[a.index(ta[0]):a.index(ta[0]) + 7]  # a contiguous window of a
    ta, tb = builder.truncate_seq_pair(list(range(10)), list(range(10, 20)), 6, random.Random(3))
    assert (len(ta), len(tb)) == (3, 3)


def test_every_instance_fits_and_traces_back_to_its_documents():
    rng = random.Random(11)
    docs = [_doc(d, [rng.randint(1, 30) for _ in range(rng.randint(1, 12))]) for d in range(30)]
    params = builder.InstanceParams(max_seq_length=48, dupe_factor=3, cls_id=CLS, sep_id=SEP,
                                    pad_id=PAD)
    instances = builder.build_instances_from_tokens(docs, params, random.Random(5),
                                                    language="de")
    assert len(instances) > 200
    flat = [[t for sentence in doc for t in sentence] for doc in docs]
    for instance in instances:
        assert len(instance.token_ids) == len(instance.segment_ids) == 48
        a, b = _split(instance)
        a_doc, b_doc = _origin(a[0])[0], _origin(b[0])[0]
        # Each segment is one contiguous window of one document (truncation only cuts ends).
        a_start, b_start = flat[a_doc].index(a[0]), flat[b_doc].index(b[0])
        assert flat[a_doc][a_start:a_start + len(a)] == a
        assert flat[b_doc][b_start:b_start + len(b)] == b
        if instance.next_sentence_label == 1:
            assert b_doc != a_doc  # random next: another document (same language: same pool)
        else:
            assert b_doc == a_doc and b_start >= a_start + len(a)  # b follows a


def test_label_balance_near_one_half():
    rng = random.Random(1)
    # Long documents: BERT forces a random next on a one-sentence chunk (often a document's
    # last), which pushes the share of label 1 above 0.5 on short documents.
    docs = [_doc(d, [rng.randint(3, 12) for _ in range(rng.randint(60, 90))]) for d in range(25)]
    params = builder.InstanceParams(max_seq_length=64, dupe_factor=4, cls_id=CLS, sep_id=SEP,
                                    pad_id=PAD)
    counts = builder.count_instances(
        builder.build_instances_from_tokens(docs, params, random.Random(2), language="en"))
    labels = counts["by_next_sentence_label"]
    assert labels["0"] + labels["1"] == counts["total"] > 1000
    assert 0.46 < labels["1"] / counts["total"] < 0.56, labels


def test_long_sentences_keep_the_label_balance():
    # Every sentence is longer than a whole sequence, so every chunk holds one sentence: BERT
    # made all of those random next (label 1); here the real next sentence is used half the time.
    rng = random.Random(3)
    docs = [_doc(d, [rng.randint(40, 80) for _ in range(rng.randint(10, 20))]) for d in range(30)]
    params = builder.InstanceParams(max_seq_length=32, dupe_factor=3, cls_id=CLS, sep_id=SEP,
                                    pad_id=PAD)
    instances = builder.build_instances_from_tokens(docs, params, random.Random(4))
    share = sum(i.next_sentence_label for i in instances) / len(instances)
    assert len(instances) > 700
    assert 0.5 < share < 0.6  # document ends still force a random next
    for instance in instances:
        a, b = _split(instance)
        (a_doc, a_sentence, _), (b_doc, b_sentence, _) = _origin(a[-1]), _origin(b[0])
        if instance.next_sentence_label == 0:
            assert (b_doc, b_sentence) == (a_doc, a_sentence + 1)
        else:
            assert b_doc != a_doc


def test_short_seq_prob_one_makes_shorter_instances():
    rng = random.Random(4)
    docs = [_doc(d, [rng.randint(3, 12) for _ in range(20)]) for d in range(10)]
    lengths = {}
    for prob in (0.0, 1.0):
        params = builder.InstanceParams(max_seq_length=64, short_seq_prob=prob, dupe_factor=2,
                                        cls_id=CLS, sep_id=SEP, pad_id=PAD)
        instances = builder.build_instances_from_tokens(docs, params, random.Random(9))
        real = [sum(t != PAD for t in i.token_ids) for i in instances]
        lengths[prob] = (len(instances), sum(real) / len(real))
    assert lengths[1.0][0] > lengths[0.0][0]  # more, shorter instances
    assert lengths[1.0][1] < 0.8 * lengths[0.0][1]


def test_same_seed_same_instances_other_seed_other_instances():
    rng = random.Random(0)
    docs = [_doc(d, [rng.randint(2, 9) for _ in range(8)]) for d in range(6)]
    params = builder.InstanceParams(max_seq_length=24, dupe_factor=2, cls_id=CLS, sep_id=SEP,
                                    pad_id=PAD)
    first = builder.build_instances_from_tokens(docs, params, random.Random("7/train/en/0"))
    again = builder.build_instances_from_tokens(docs, params, random.Random("7/train/en/0"))
    other = builder.build_instances_from_tokens(docs, params, random.Random("8/train/en/0"))
    assert first == again
    assert first != other


def test_fractional_passes_keep_a_share_of_the_last_pass():
    rng = random.Random(0)
    docs = [_doc(d, [rng.randint(2, 9) for _ in range(8)]) for d in range(40)]
    params = builder.InstanceParams(max_seq_length=24, cls_id=CLS, sep_id=SEP, pad_id=PAD)
    one = len(builder.build_instances_from_tokens(docs, params, random.Random(1), passes=1))
    three = len(builder.build_instances_from_tokens(docs, params, random.Random(1), passes=3))
    part = len(builder.build_instances_from_tokens(docs, params, random.Random(1), passes=0.25))
    assert builder.build_instances_from_tokens(docs, params, random.Random(1), passes=0) == []
    assert 2.8 * one < three < 3.2 * one
    assert 0.18 * one < part < 0.32 * one


def test_single_document_language_never_gets_a_random_next():
    params = builder.InstanceParams(max_seq_length=16, random_next_prob=1.0, dupe_factor=3,
                                    cls_id=CLS, sep_id=SEP, pad_id=PAD)
    instances = builder.build_instances_from_tokens([_doc(0, [3, 4, 2, 5, 3, 3])], params,
                                                    random.Random(0))
    assert instances and all(i.next_sentence_label == 0 for i in instances)


def test_build_instances_for_language_tokenizes_in_one_batch():
    vocab = {w: i for i, w in enumerate("[PAD] [UNK] [CLS] [SEP] [MASK] la casa es roja el "
                                        "perro come mucho hoy".split())}
    calls = []

    def tokenizer_fn(strings):
        calls.append(len(strings))
        return [[vocab.get(w, 1) for w in s.split()] for s in strings]

    documents = [builder.Document("d1", ["la casa es roja", "", "el perro come"]),
                 builder.Document("d2", ["hoy mucho", "la casa"])]
    params = builder.InstanceParams(max_seq_length=32, short_seq_prob=0.0, random_next_prob=0.0,
                                    dupe_factor=1, cls_id=CLS, sep_id=SEP, pad_id=PAD)
    instances = builder.build_instances_for_language(documents, tokenizer_fn, params,
                                                     random.Random(0), language="es")
    assert calls == [5]  # one call for all sentences of all documents
    assert sorted(i.token_ids[:10] for i in instances) == sorted([
        [CLS, 5, 6, 7, 8, SEP, 9, 10, 11, SEP],  # the empty sentence is dropped
        [CLS, 13, 12, SEP, 5, 6, SEP, PAD, PAD, PAD],
    ])


def test_language_multipliers_exact_arithmetic():
    # p = (0.9, 0.1); s = 0.5: p^s = (3, 1) / sqrt(10) -> q = (3/4, 1/4); m = q / p.
    m = builder.language_multipliers({"en": 900, "sw": 100}, 0.5)
    assert m["en"] == pytest.approx(5 / 6, rel=1e-12)
    assert m["sw"] == pytest.approx(2.5, rel=1e-12)
    assert 900 * m["en"] + 100 * m["sw"] == pytest.approx(1000)  # total kept
    assert builder.language_multipliers({"en": 900, "sw": 100}, 1.0) == pytest.approx(
        {"en": 1.0, "sw": 1.0})
    assert builder.language_multipliers({"en": 900, "sw": 100}, 0.0) == pytest.approx(
        {"en": 0.5 / 0.9, "sw": 5.0})
    # M-BERT's 0.7 on three sizes, against the formula written out.
    sizes = {"en": 6000, "de": 3000, "th": 1000}
    p = {k: v / 10000 for k, v in sizes.items()}
    z = sum(v ** 0.7 for v in p.values())
    m = builder.language_multipliers(sizes, 0.7)
    assert m == pytest.approx({k: (p[k] ** 0.7 / z) / p[k] for k in sizes}, rel=1e-12)
    assert m["th"] > 1 > m["en"]  # small up, large down
    assert builder.language_multipliers({"en": 5, "xx": 0}, 0.7) == {"en": 1.0, "xx": 0.0}
    with pytest.raises(ValueError, match=r"sizes\['en'\]"):
        builder.language_multipliers({"en": -1}, 0.7)


def test_language_passes_scale_to_a_target():
    passes = builder.language_passes({"en": 900, "sw": 100}, dupe_factor=10, smoothing=0.5)
    assert passes == pytest.approx({"en": 50 / 6, "sw": 25.0})
    passes = builder.language_passes({"en": 900, "sw": 100}, dupe_factor=10, smoothing=0.5,
                                     target_instances=2000)
    assert 900 * passes["en"] + 100 * passes["sw"] == pytest.approx(2000)
    assert 900 * passes["en"] / 2000 == pytest.approx(0.75)  # the smoothed share holds


def test_estimate_is_the_count_of_one_real_pass():
    rng = random.Random(6)
    docs = [_doc(d, [rng.randint(1, 40) for _ in range(rng.randint(1, 15))]) for d in range(50)]
    params = builder.InstanceParams(max_seq_length=32, cls_id=CLS, sep_id=SEP, pad_id=PAD)
    estimate = sum(builder.estimate_instances(d, params, random.Random(i))
                   for i, d in enumerate(docs))
    actual = [len(builder.build_instances_from_tokens(docs, params, random.Random(s), passes=1))
              for s in range(5)]
    assert min(actual) * 0.95 < estimate < max(actual) * 1.05
    # A document of one sentence: one instance exactly when another document exists.
    assert builder.estimate_instances(_doc(0, [5]), params, random.Random(0)) == 1
    assert builder.estimate_instances([], params, random.Random(0)) == 0


@pytest.mark.parametrize("field, value, message", [
    ("max_seq_length", 4, "max_seq_length: must be >= 5"),
    ("short_seq_prob", 1.5, "short_seq_prob: must be in"),
    ("random_next_prob", -0.1, "random_next_prob: must be in"),
    ("dupe_factor", 0, "dupe_factor: must be >= 1"),
])
def test_bad_params_name_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        builder.InstanceParams(**{field: value})
