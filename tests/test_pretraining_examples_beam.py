"""Pretraining instances through the Beam graph (DirectRunner, in memory) and the TFX component.

Inputs are ingested Examples written here from a few real NTREX documents (or hand-made
ones), with a character-level WordPiece vocabulary (every character, and `##` + character) so
that no token is unknown. The real-data test tokenizes with the shared
`models.tokenizer.load_tokenizer`; the synthetic ones with a pure-Python character tokenizer
(whitespace words, one piece per character) so that every id tells its language.
"""

import json
import os
import pathlib
import random

import apache_beam as beam
import pytest
import tensorflow as tf
from tfx.types.standard_artifacts import Examples

from components.pretraining_examples import beam_pipeline as graph
from components.pretraining_examples import builder
from components import settings
from components.pretraining_examples.component import (PretrainingExampleGen,
                                                       run_pretraining_example_gen)
from components.pretraining_examples.config import PretrainingExamplesConfig
from components.pretraining_examples.tokenizers import char_tokenizer_fn, load_tokenizer_fn
from components.vocabulary.files import read_special_ids, write_char_vocabulary
from components.vocabulary.artifact import Vocabulary

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def write_vocab(vocab_dir: pathlib.Path, texts) -> None:
    write_char_vocabulary(vocab_dir, texts, num_unused=3)


def write_examples(examples_dir: pathlib.Path, rows_by_split: dict) -> None:
    """ingested Examples: rows (language, doc_id, sentence_index, text), shuffled on disk."""
    for split, rows in rows_by_split.items():
        folder = examples_dir / f"Split-{split}"
        folder.mkdir(parents=True, exist_ok=True)
        rows = list(rows)
        random.Random(0).shuffle(rows)  # consumers must sort by (doc_id, sentence_index)
        with tf.io.TFRecordWriter(str(folder / "data_tfrecord-00000-of-00001.gz"),
                                  options="GZIP") as writer:
            for n, (language, doc_id, index, text) in enumerate(rows):
                feature = {
                    "text": [text.encode()], "language": [language.encode()],
                    "doc_id": [doc_id.encode()], "source": [f"test.tsv:{n + 1}".encode()]}
                example = tf.train.Example(features=tf.train.Features(feature={
                    **{k: tf.train.Feature(bytes_list=tf.train.BytesList(value=v))
                       for k, v in feature.items()},
                    "sentence_index": tf.train.Feature(int64_list=tf.train.Int64List(
                        value=[index]))}))
                writer.write(example.SerializeToString())


def ntrex_rows(ntrex_dir: pathlib.Path, files: dict, documents: int):
    """(language, doc_id, sentence_index, text) of the first `documents` NTREX documents."""
    doc_ids = (ntrex_dir / "DOCUMENT_IDS.tsv").read_text(encoding="utf-8").splitlines()
    wanted = list(dict.fromkeys(doc_ids))[:documents]
    rows = []
    for language, name in files.items():
        lines = (ntrex_dir / name).read_text(encoding="utf-8").splitlines()
        position = {}
        for doc_id, text in zip(doc_ids, lines):
            if doc_id in wanted:
                index = position.get(doc_id, 0)
                position[doc_id] = index + 1
                rows.append((language, doc_id, index, text))
    return wanted, rows


def _frame_ok(row, special) -> bool:
    ids = row["token_ids"]
    seps = [i for i, t in enumerate(ids) if t == special.sep_id]
    if ids[0] != special.cls_id or len(seps) != 2 or seps[0] < 2 or seps[1] <= seps[0] + 1:
        return False
    expected_segments = ([0] * (seps[0] + 1) + [1] * (seps[1] - seps[0])
                         + [0] * (len(ids) - seps[1] - 1))
    return (row["segment_ids"] == expected_segments
            and all(t == special.pad_id for t in ids[seps[1] + 1:]))


def _is_thai(token: str) -> bool:
    return any("\u0e00" <= c <= "\u0e7f" for c in token)


def test_real_ntrex_documents_in_three_languages(tmp_path, ntrex_dir):
    files = {"en": "newstest2019-src.eng.txt", "de": "newstest2019-ref.deu.txt",
             "th": "newstest2019-ref.tha.txt"}
    doc_ids, rows = ntrex_rows(ntrex_dir, files, documents=6)
    eval_doc = doc_ids[-1]
    write_examples(tmp_path / "examples", {
        "train": [r for r in rows if r[1] != eval_doc],
        "eval": [r for r in rows if r[1] == eval_doc]})
    write_vocab(tmp_path / "vocab", [r[3] for r in rows])
    out = tmp_path / "out"
    # Through the TFX component's executor (what LocalDagRunner calls), default DirectRunner.
    examples, vocabulary, output = Examples(), Vocabulary(), Examples()
    examples.uri, vocabulary.uri, output.uri = (str(tmp_path / "examples"),
                                                str(tmp_path / "vocab"), str(out))
    examples.split_names = '["train", "eval"]'
    PretrainingExampleGen.EXECUTOR_SPEC.executor_class().Do(
        {"examples": [examples], "vocabulary": [vocabulary]},
        {"pretraining_examples": [output]},
        {"config": settings.to_json(PretrainingExamplesConfig(max_seq_length=64, dupe_factor=2, seed=3))})
    assert json.loads(output.split_names) == ["train", "eval"]
    counts = graph.read_counts(str(out))

    special = read_special_ids(str(tmp_path / "vocab"))
    vocab = (tmp_path / "vocab" / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert json.loads((out / "counts.json").read_text()) == counts
    for split in ("train", "eval"):
        instances = graph.read_instances(str(out), split)
        split_counts = counts["splits"][split]
        assert len(instances) == split_counts["total"] > 0
        by_language = {}
        for row in instances:
            by_language[row["language"]] = by_language.get(row["language"], 0) + 1
        assert by_language == split_counts["by_language"]
        assert set(by_language) == {"en", "de", "th"}
        assert sum(split_counts["by_next_sentence_label"].values()) == len(instances)
        for row in instances:
            assert len(row["token_ids"]) == len(row["segment_ids"]) == 64
            assert _frame_ok(row, special), row
            assert special.unk_id not in row["token_ids"]
            # Random next segments stay within the language: Thai text only with Thai text.
            tokens = [vocab[t] for t in row["token_ids"]]
            sep = tokens.index("[SEP]")
            a, b = tokens[1:sep], tokens[sep + 1:]
            if row["language"] == "th":
                assert any(map(_is_thai, a)) and any(map(_is_thai, b))
            else:
                assert not any(map(_is_thai, tokens))
    # The Beam graph is exactly the plain builder, seeded per (seed, split, language, shard).
    tokenize = load_tokenizer_fn(str(tmp_path / "vocab"))
    params = builder.InstanceParams(max_seq_length=64, dupe_factor=2, cls_id=special.cls_id,
                                    sep_id=special.sep_id, pad_id=special.pad_id)
    expected = []
    for language in files:
        by_doc = {}
        for lang, doc_id, index, text in rows:
            if lang == language and doc_id != eval_doc:
                by_doc.setdefault(doc_id, []).append((index, text))
        documents = [builder.Document(d, [t for _, t in sorted(by_doc[d])]) for d in
                     sorted(by_doc)]
        expected += builder.build_instances_for_language(
            documents, tokenize, params, random.Random(f"3/train/{language}/0"),
            language=language, passes=counts["plan"]["train"][language]["passes"])
    key = lambda r: (r["language"], r["token_ids"], r["segment_ids"], r["next_sentence_label"])
    assert sorted(map(key, graph.read_instances(str(out), "train"))) == sorted(
        (i.language, i.token_ids, i.segment_ids, i.next_sentence_label) for i in expected)


def _synthetic_rows(language: str, documents: int, rng: random.Random, letters: str):
    rows = []
    for d in range(documents):
        for s in range(rng.randint(6, 12)):
            words = ["".join(rng.choice(letters) for _ in range(rng.randint(1, 4)))
                     for _ in range(rng.randint(2, 6))]
            rows.append((language, f"{language}-doc{d}", s, " ".join(words)))
    return rows


def test_smoothing_and_sharding_through_beam(tmp_path):
    rng = random.Random(0)
    # Disjoint alphabets: every token id tells which language it came from.
    rows = (_synthetic_rows("en", 60, rng, "abcdefgh")
            + _synthetic_rows("sw", 8, rng, "ijklmnop"))
    write_examples(tmp_path / "examples", {"train": rows, "eval": rows[:30]})
    write_vocab(tmp_path / "vocab", [r[3] for r in rows])
    out = tmp_path / "out"
    counts = run_pretraining_example_gen(
        beam.Pipeline(runner="DirectRunner"), examples_uri=str(tmp_path / "examples"),
        split_names=["train", "eval", "test"], vocab_dir=str(tmp_path / "vocab"),
        output_uri=str(out), tokenizer_loader=char_tokenizer_fn,
        config=PretrainingExamplesConfig(max_seq_length=32, dupe_factor=3, smoothing=0.5,
                                         docs_per_shard=8, target_instances=1500))
    plan = counts["plan"]["train"]
    assert plan["en"]["documents"] == 60 and plan["en"]["shards"] == 8
    assert plan["sw"]["documents"] == 8 and plan["sw"]["shards"] == 1
    sizes = {k: v["estimated_per_pass"] for k, v in plan.items()}
    m = builder.language_multipliers(sizes, 0.5)
    assert plan["sw"]["passes"] / plan["en"]["passes"] == pytest.approx(m["sw"] / m["en"])
    assert m["sw"] > 1 > m["en"]
    by_language = counts["splits"]["train"]["by_language"]
    # Smoothed shares: sqrt(p) renormalised, p from one counted pass; the rest is sampling.
    p_sw = sizes["sw"] / sum(sizes.values())
    q_sw = p_sw ** 0.5 / (p_sw ** 0.5 + (1 - p_sw) ** 0.5)
    share_sw = by_language["sw"] / sum(by_language.values())
    assert share_sw == pytest.approx(q_sw, rel=0.1) and share_sw > 1.5 * p_sw
    assert sum(by_language.values()) == pytest.approx(1500, rel=0.1)

    vocab = (tmp_path / "vocab" / "vocab.txt").read_text(encoding="utf-8").splitlines()
    for row in graph.read_instances(str(out), "train"):
        letters = {vocab[t][-1] for t in row["token_ids"] if not vocab[t].startswith("[")}
        assert letters <= set("abcdefgh" if row["language"] == "en" else "ijklmnop"), row


def test_missing_split_and_bad_records_are_named(tmp_path):
    write_examples(tmp_path / "examples", {"train": [("en", "d", 0, "a b")]})
    write_vocab(tmp_path / "vocab", ["a b"])
    with pytest.raises(ValueError, match=r"has no 'eval' split \(split_names=\['train'\]\)"):
        run_pretraining_example_gen(
            beam.Pipeline(runner="DirectRunner"), examples_uri=str(tmp_path / "examples"),
            split_names=["train"], vocab_dir=str(tmp_path / "vocab"),
            output_uri=str(tmp_path / "out"), tokenizer_loader=char_tokenizer_fn)
    example = tf.train.Example()
    example.features.feature["text"].bytes_list.value.append(b"hello")
    example.features.feature["language"].bytes_list.value.append(b"en")
    example.features.feature["sentence_index"].int64_list.value.append(0)
    example.features.feature["source"].bytes_list.value.append(b"corpus.tsv:17")
    with pytest.raises(ValueError, match=r"part-0\.gz \(source corpus\.tsv:17\): record has no "
                                         r"bytes feature 'doc_id'"):
        graph.parse_sentence(("part-0.gz", example.SerializeToString()))
    with pytest.raises(ValueError, match=r"part-0\.gz: record is not a tf.train.Example"):
        graph.parse_sentence(("part-0.gz", b"\xff\x00garbage"))


def test_empty_training_split_is_an_error(tmp_path):
    # One one-sentence document per language: nothing to pair with.
    rows = [("en", "d1", 0, "a b c"), ("de", "d2", 0, "a b")]
    write_examples(tmp_path / "examples", {"train": rows, "eval": rows})
    write_vocab(tmp_path / "vocab", ["a b c"])
    with pytest.raises(ValueError, match=r"no pretraining instance built for the train split "
                                         r"\(2 non-empty documents in 2 languages\)"):
        run_pretraining_example_gen(
            beam.Pipeline(runner="DirectRunner"), examples_uri=str(tmp_path / "examples"),
            split_names=["train", "eval"], vocab_dir=str(tmp_path / "vocab"),
            output_uri=str(tmp_path / "out"), tokenizer_loader=char_tokenizer_fn)


def test_vocabulary_without_a_special_token_is_named(tmp_path):
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[MASK]\na\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"vocab\.txt: special token '\[SEP\]' \(sep_token\) "
                                         r"is not in the vocabulary"):
        read_special_ids(str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"nowhere/vocab\.txt: vocabulary file not found"):
        read_special_ids(str(tmp_path / "nowhere"))


def test_tfx_component_interface():
    from tfx.types import channel

    config = PretrainingExamplesConfig(dupe_factor=2, seed=7)
    node = PretrainingExampleGen(examples=channel.Channel(type=Examples),
                                 vocabulary=channel.Channel(type=Vocabulary),
                                 config=settings.to_json(config))
    assert node.outputs["pretraining_examples"].type is Examples
    # The settings are one value, read back whole by the same rules as the YAML.
    assert set(PretrainingExampleGen.SPEC_CLASS.PARAMETERS) == {"config", "beam_pipeline"}
    assert settings.from_json(PretrainingExamplesConfig, node.exec_properties["config"],
                              "pretraining_examples") == config
    with pytest.raises(settings.ConfigError, match="pretraining_examples.dupe_factor: must be >= 1, got 0"):
        settings.from_json(PretrainingExamplesConfig, '{"dupe_factor": 0}', "pretraining_examples")


def test_hand_encoded_examples_parse_as_tf_examples():
    ids = [2, 5, 16383, 16384, 119546, 2**40, 3, 0]
    instance = builder.Instance(ids, [0, 0, 0, 0, 0, 0, 1, 0], 1, "zh-Hant")
    serialized = graph.instance_to_example(instance)
    feature = tf.train.Example.FromString(serialized).features.feature
    assert list(feature["token_ids"].int64_list.value) == ids
    assert list(feature["segment_ids"].int64_list.value) == instance.segment_ids
    assert list(feature["next_sentence_label"].int64_list.value) == [1]
    assert list(feature["language"].bytes_list.value) == [b"zh-Hant"]
    assert set(feature) == {"token_ids", "segment_ids", "next_sentence_label", "language"}
    parsed = tf.io.parse_single_example(serialized, {
        "token_ids": tf.io.FixedLenFeature([8], tf.int64),
        "next_sentence_label": tf.io.FixedLenFeature([], tf.int64)})
    assert parsed["token_ids"].numpy().tolist() == ids
    assert int(parsed["next_sentence_label"]) == 1
