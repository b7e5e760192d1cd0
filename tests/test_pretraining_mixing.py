"""Batches mix languages from the first step: PretrainingExampleGen's Beam output read by the
trainer's input pipeline, on real NTREX-128 text (the committed sample, all 16 languages)."""

import collections
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from components.pretraining import data
from components.pretraining_examples import layout
from components.pretraining_examples.component import run_pretraining_example_gen
from components.pretraining_examples.config import PretrainingExamplesConfig
from components.pretraining_examples.tokenizers import char_tokenizer_fn
from components.vocabulary.files import write_char_vocabulary
from components.pretraining import masking
from test_pretraining_examples_beam import write_examples

SAMPLE = pathlib.Path(__file__).parent / "data" / "ntrex"
EVAL_DOCUMENT = "cnbc.com.6790"  # the sample's document in the ingestion's eval split


def _sample_rows():
    doc_ids = (SAMPLE / "DOCUMENT_IDS.tsv").read_text(encoding="utf-8").splitlines()
    rows = []
    for path in sorted(SAMPLE.glob("newstest2019-*.txt")):
        language = path.name.split(".")[1]
        position = collections.Counter()
        for doc_id, text in zip(doc_ids, path.read_text(encoding="utf-8").splitlines()):
            rows.append((language, doc_id, position[doc_id], text))
            position[doc_id] += 1
    return rows


@pytest.fixture(scope="module")
def beam_output(tmp_path_factory):
    import apache_beam as beam

    root = tmp_path_factory.mktemp("mixing")
    rows = _sample_rows()
    write_examples(root / "examples", {"train": [r for r in rows if r[1] != EVAL_DOCUMENT],
                                       "eval": [r for r in rows if r[1] == EVAL_DOCUMENT]})
    write_char_vocabulary(root / "vocab", [r[3] for r in rows])
    counts = run_pretraining_example_gen(
        beam.Pipeline(), examples_uri=str(root / "examples"), split_names=["train", "eval"],
        vocab_dir=str(root / "vocab"), output_uri=str(root / "out"), tokenizer_loader=char_tokenizer_fn,
        config=PretrainingExamplesConfig(max_seq_length=64, dupe_factor=2, random_next_prob=0.0))
    return root, counts


def test_beam_writes_one_randomly_ordered_file_set_per_language(beam_output):
    root, counts = beam_output
    files = sorted((root / "out" / "Split-train").glob("*.gz"))
    pools = data.language_pools([str(f) for f in files])
    assert len(pools) == 16 and "" not in pools
    assert set(pools) == {layout.file_language(l) for l in counts["splits"]["train"]["by_language"]}
    # A file holds its language only, and the weights read from counts.json match the files.
    for language, paths in pools.items():
        records = list(tf.data.TFRecordDataset(paths, compression_type="GZIP").as_numpy_iterator())
        parsed = masking.parse_pretraining_examples(tf.constant(records), 64)
        assert {v.decode() for v in parsed["language"].numpy()} == {language}
        assert data.pool_weights(pools)[language] == len(records)


def test_first_100_training_batches_hold_nearly_every_language(beam_output):
    root, _ = beam_output
    vocab = masking.masking_kwargs_from_vocab(str(root / "vocab"))
    files = [str(f) for f in sorted((root / "out" / "Split-train").glob("*.gz"))]
    dataset = data.make_dataset(files, 32, 64, vocab, training=True, seed=0, keep_language=True)
    seen = [len(set(batch["language"].numpy())) for batch in dataset.take(100)]
    assert len(seen) == 100
    assert min(seen) >= 14, seen


def test_stratified_choices_give_each_pool_its_share_in_every_batch():
    weights = [0.5, 0.3, 0.15, 0.05]
    batch = 20
    choices = np.array(list(data.stratified_choices(weights, batch, seed=3).take(batch * 50)))
    for rows in choices.reshape(50, batch):
        counts = np.bincount(rows, minlength=4)
        expected = np.array(weights) * batch
        assert np.all(np.abs(counts - expected) < 1.0), counts
    # Different batches place the slots differently (the offset u is drawn per batch).
    assert len({tuple(r) for r in choices.reshape(50, batch)}) > 1
