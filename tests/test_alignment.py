"""The alignment objective: its loss, the aligned sentences PretrainingExampleGen writes, and
the trainer learning from them (on the committed NTREX-128 sample, 16 languages, line-aligned)."""

import json
import math

import numpy as np
import pytest
import tensorflow as tf

from components import contracts as c
from components.pretraining import data
from components.pretraining.training import train
from components.pretraining_examples import beam_pipeline as graph
from components.pretraining_examples.component import run_pretraining_example_gen
from components.pretraining_examples.config import PretrainingExamplesConfig
from components.pretraining_examples.tokenizers import char_tokenizer_fn
from components.vocabulary.files import write_char_vocabulary
from models.pretraining_model import alignment_loss
from pipeline.config import ConfigError, config_from_dict
from test_pretraining_examples_beam import write_examples
from test_pretraining_mixing import EVAL_DOCUMENT, _sample_rows


def test_alignment_loss_exact_values():
    valid = np.ones((2, 2), np.float32)
    aligned = np.array([[[1, 0, 0], [1, 0, 0]], [[0, 1, 0], [0, 1, 0]]], np.float32)
    crossed = np.array([[[1, 0, 0], [0, 1, 0]], [[0, 1, 0], [1, 0, 0]]], np.float32)
    # Each sentence's translation at cosine 1 (logit 10), the two others at cosine 0.
    loss, correct, count = alignment_loss(aligned, valid, 0.1)
    assert float(loss) == pytest.approx(math.log(1 + 2 * math.exp(-10)), abs=1e-6)
    assert (float(correct), float(count)) == (4.0, 4.0)
    # Each sentence's translation at cosine 0, another group's sentence at cosine 1.
    loss, correct, _ = alignment_loss(crossed, valid, 0.1)
    assert float(loss) == pytest.approx(10 + math.log(1 + 2 * math.exp(-10)), abs=1e-6)
    assert float(correct) == 0.0
    # A missing language: group 1 has one sentence, so it is no anchor and no candidate.
    loss, correct, count = alignment_loss(aligned, np.array([[1, 1], [1, 0]], np.float32), 0.1)
    assert (float(correct), float(count)) == (2.0, 2.0)
    assert float(loss) == pytest.approx(math.log(1 + math.exp(-10)), abs=1e-6)


@pytest.fixture(scope="module")
def aligned_output(tmp_path_factory):
    import apache_beam as beam

    root = tmp_path_factory.mktemp("aligned")
    rows = _sample_rows()
    # One sentence in one language only: it has no translation and is not written.
    rows.append(("en", "solo-doc", 0, "A sentence without translations."))
    write_examples(root / "examples", {"train": [r for r in rows if r[1] != EVAL_DOCUMENT],
                                       "eval": [r for r in rows if r[1] == EVAL_DOCUMENT]})
    write_char_vocabulary(root / "vocab", [r[3] for r in rows])
    counts = run_pretraining_example_gen(
        beam.Pipeline(), examples_uri=str(root / "examples"), split_names=["train", "eval"],
        vocab_dir=str(root / "vocab"), output_uri=str(root / "out"),
        tokenizer_loader=char_tokenizer_fn,
        config=PretrainingExamplesConfig(max_seq_length=64, dupe_factor=1, random_next_prob=0.0,
                                         parallel_sentences=True))
    return root, rows, counts


def _read_parallel(output_uri):
    features = {c.TOKEN_IDS: tf.io.VarLenFeature(tf.int64),
                c.PIECE_COUNTS: tf.io.VarLenFeature(tf.int64),
                c.LANGUAGES: tf.io.VarLenFeature(tf.string)}
    records = []
    for path in tf.io.gfile.glob(c.parallel_pattern(output_uri)):
        for raw in tf.data.TFRecordDataset(path, compression_type="GZIP"):
            parsed = tf.io.parse_single_example(raw, features)
            records.append({k: tf.sparse.to_dense(v).numpy().tolist() for k, v in parsed.items()})
    return records


def test_beam_writes_each_training_sentence_in_all_its_languages(aligned_output):
    root, rows, counts = aligned_output
    records = _read_parallel(str(root / "out"))
    train_rows = [r for r in rows if r[1] not in (EVAL_DOCUMENT, "solo-doc")]
    sentences = {(doc, index) for _, doc, index, _ in train_rows}
    assert len(records) == len(sentences) == counts["parallel_sentences"]
    tokenize = char_tokenizer_fn(str(root / "vocab"))
    texts = {(doc, index, language): text for language, doc, index, text in train_rows}
    by_first_pieces = {}
    for record in records:
        languages = [code.decode() for code in record[c.LANGUAGES]]
        assert languages == sorted(languages) and len(languages) == 16
        assert sum(record[c.PIECE_COUNTS]) == len(record[c.TOKEN_IDS])
        by_first_pieces[tuple(record[c.TOKEN_IDS][:record[c.PIECE_COUNTS][0]])] = record
    # Every record is one sentence's 16 translations, tokenized as the instances are.
    doc, index = sorted(sentences)[0]
    languages = sorted({language for language, d, i, _ in train_rows if (d, i) == (doc, index)})
    expected = tokenize([texts[(doc, index, language)] for language in languages])
    record = by_first_pieces[tuple(expected[0])]
    assert record[c.TOKEN_IDS] == [i for ids in expected for i in ids]


def test_trainer_learns_to_put_translations_together(aligned_output, tmp_path):
    root, _, _ = aligned_output
    out = str(root / "out")
    hparams = {"preset": "tiny", "train_steps": 200, "warmup_steps": 10, "learning_rate": 3e-3,
               "batch_size": 8, "seq_len": 64, "eval_steps": None, "log_every": 25,
               "next_sentence_prediction": False, "alignment_weight": 1.0,
               "alignment_groups": 8, "alignment_max_pieces": 32}
    result = train(hparams, [c.split_pattern(out, "train")], None, tmp_path / "run",
                   vocab_dir=str(root / "vocab"))
    assert result.final_step == 200
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    # 8 sentences x 16 languages a step: chance is 15 translations among 127 others (0.12).
    # Bags of single characters (this vocabulary) level off near 0.87 here.
    assert log[0]["alignment_accuracy"] < 0.5
    assert log[-1]["alignment_accuracy"] >= 0.8
    assert log[-1]["alignment_loss"] < log[0]["alignment_loss"] - 1.0


def test_alignment_without_aligned_sentences_is_named(aligned_output, tmp_path):
    root, _, _ = aligned_output
    # Instances of an artifact with no parallel/ folder beside them.
    train_dir = tmp_path / "other" / "Split-train"
    train_dir.mkdir(parents=True)
    for path in (root / "out" / "Split-train").iterdir():
        (train_dir / path.name).write_bytes(path.read_bytes())
    with pytest.raises(data.BadInputError, match=r"parallel/.*parallel_sentences: true"):
        train({"preset": "tiny", "train_steps": 2, "warmup_steps": 1, "seq_len": 64,
               "eval_steps": None, "alignment_weight": 1.0},
              [str(train_dir / "*")], None, tmp_path / "run", vocab_dir=str(root / "vocab"))


def test_config_refuses_alignment_without_the_aligned_sentences(tmp_path):
    section = {"pretraining_corpus": {"format": "text", "inputs": [str(tmp_path)]},
               "labelled_data": {"format": "text", "inputs": [str(tmp_path)]},
               "pretraining": {"alignment_weight": 1.0}}
    with pytest.raises(ConfigError, match=r"pretraining.alignment_weight: needs the aligned "
                                          r"sentences: set pretraining_examples.parallel_sentences"):
        config_from_dict(section)
    config_from_dict({**section, "pretraining_examples": {"parallel_sentences": True}})


def test_parallel_example_round_trip():
    raw = graph.parallel_example({"de": [7, 8], "en": [5], "ar": [9, 10, 11]})
    parsed = tf.io.parse_single_example(raw, {c.TOKEN_IDS: tf.io.VarLenFeature(tf.int64),
                                              c.PIECE_COUNTS: tf.io.VarLenFeature(tf.int64),
                                              c.LANGUAGES: tf.io.VarLenFeature(tf.string)})
    assert tf.sparse.to_dense(parsed[c.TOKEN_IDS]).numpy().tolist() == [9, 10, 11, 7, 8, 5]
    assert tf.sparse.to_dense(parsed[c.PIECE_COUNTS]).numpy().tolist() == [3, 2, 1]
    assert tf.sparse.to_dense(parsed[c.LANGUAGES]).numpy().tolist() == [b"ar", b"de", b"en"]


def test_parallel_batches_pad_missing_languages_and_cut_long_sentences(tmp_path):
    path = tmp_path / "parallel" / "data_tfrecord-00000-of-00001.gz"
    path.parent.mkdir()
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        writer.write(graph.parallel_example({"de": [7, 8, 9, 10], "en": [5]}))
        writer.write(graph.parallel_example({"de": [6], "en": [4], "fr": [3, 2]}))
    [batch] = data.make_parallel_dataset([str(path)], groups=2, max_pieces=3, seed=0).take(1)
    rows = sorted(map(tuple, batch.numpy().reshape(-1, 3).tolist()))
    assert batch.shape == (2, 3, 3)
    assert rows == sorted([(7, 8, 9), (5, 0, 0), (0, 0, 0), (6, 0, 0), (4, 0, 0), (3, 2, 0)])
