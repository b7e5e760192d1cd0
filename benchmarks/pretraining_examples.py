"""`mbert bench pretraining-examples`: pretraining-instance building speed on all NTREX languages.

Ingests NTREX-128 (16 languages x 1,997 sentences, 123 documents each) with the ingestion Beam
job, then runs the PretrainingExampleGen graph (in-memory DirectRunner) once per dupe factor
and prints one JSON line: instances/s end to end (read, group, tokenize, build, write), the
pure-Python builder alone on pre-tokenized documents, the per-language counts, and the
sequences/s of the Trainer's input pipeline (`components.pretraining.masking.make_pretraining_dataset`, batch
32) on the output.

Tokenizer: the shared `models.tokenizer` on `--vocab-dir`; without `--vocab-dir`, a character
vocabulary of the corpus (every character, alone and as `##` piece).
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import statistics
import tempfile
import time

import click

_DEFAULT_NTREX = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "ntrex"


@click.command("pretraining-examples")
@click.option("--ntrex", "ntrex_dir", type=click.Path(exists=True, file_okay=False),
              default=str(_DEFAULT_NTREX), show_default=True)
@click.option("--vocab-dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="A Vocabulary artifact folder; default: a character vocabulary of NTREX.")
@click.option("--dupe-factors", default="1,10", show_default=True)
@click.option("--max-seq-length", default=128, show_default=True)
@click.option("--repeats", default=1, show_default=True, help="Beam runs per dupe factor.")
def pretraining_examples(ntrex_dir, vocab_dir, dupe_factors, max_seq_length, repeats):
    """Instances/s building pretraining examples from all 16 NTREX languages."""
    import apache_beam as beam

    from components.ingestion.beam_job import run_ingestion
    from components.ingestion.io import read_examples
    from components.pretraining_examples import builder
    from components.pretraining_examples.component import run_pretraining_example_gen
    from components.pretraining_examples.config import PretrainingExamplesConfig
    from components.pretraining_examples.tokenizers import load_tokenizer_fn
    from components.vocabulary.files import read_special_ids, write_char_vocabulary

    work = pathlib.Path(tempfile.mkdtemp(prefix="bench_pretraining_examples_"))
    examples = work / "examples"
    started = time.perf_counter()
    summary = run_ingestion("ntrex", [ntrex_dir], str(examples))
    ingest_s = time.perf_counter() - started
    rows = read_examples(str(examples))
    if vocab_dir is None:
        vocab_dir = work / "vocab"
        write_char_vocabulary(vocab_dir, [r["text"] for r in rows])
    vocab_dir = str(vocab_dir)
    loader = load_tokenizer_fn
    special = read_special_ids(vocab_dir)

    # Builder alone: tokenize once, then one pass per language (pure Python, one core).
    by_language: dict[str, dict[str, list]] = {}
    for r in rows:
        if r["split"] == "train":
            by_language.setdefault(r["language"], {}).setdefault(r["doc_id"], []).append(
                (r["sentence_index"], r["text"]))
    tokenize = loader(vocab_dir)
    started = time.perf_counter()
    tokenized = {language: builder.tokenize_documents(
        [builder.Document(d, [t for _, t in sorted(s)]) for d, s in sorted(docs.items())],
        tokenize) for language, docs in by_language.items()}
    tokenize_s = time.perf_counter() - started
    sentences = sum(len(d) for docs in tokenized.values() for d in docs)
    params = builder.InstanceParams(max_seq_length=max_seq_length, dupe_factor=1,
                                    cls_id=special.cls_id, sep_id=special.sep_id,
                                    pad_id=special.pad_id)
    started = time.perf_counter()
    built = sum(len(builder.build_instances_from_tokens(docs, params, random.Random(language),
                                                        language=language))
                for language, docs in tokenized.items())
    builder_s = time.perf_counter() - started

    runs = []
    for dupe_factor in [int(x) for x in dupe_factors.split(",")]:
        times = []
        for repeat in range(repeats):
            out = work / f"out_{dupe_factor}_{repeat}"
            started = time.perf_counter()
            counts = run_pretraining_example_gen(
                beam.Pipeline(runner="DirectRunner"), examples_uri=str(examples),
                split_names=summary["split_names"], vocab_dir=vocab_dir, output_uri=str(out),
                config=PretrainingExamplesConfig(max_seq_length=max_seq_length,
                                                 dupe_factor=dupe_factor, seed=12345))
            times.append(time.perf_counter() - started)
        total = sum(split["total"] for split in counts["splits"].values())
        seconds = statistics.median(times)
        train = counts["splits"]["train"]
        runs.append({
            "dupe_factor": dupe_factor, "instances": total, "seconds": round(seconds, 2),
            "instances_per_s": round(total / seconds, 1),
            "train_by_language": train["by_language"],
            "eval_total": counts["splits"]["eval"]["total"],
            "next_sentence_label_1_share": round(
                train["by_next_sentence_label"]["1"] / max(train["total"], 1), 4),
            "train_one_pass_counted": {k: v["estimated_per_pass"]
                                       for k, v in counts["plan"]["train"].items()},
            "train_passes": {k: round(v["passes"], 3) for k, v in counts["plan"]["train"].items()},
        })
    # The Trainer's input pipeline on the last output: parse + dynamic masking, one core.
    from components.pretraining import masking

    kwargs = masking.masking_kwargs_from_vocab(vocab_dir)
    dataset = masking.make_pretraining_dataset(
        str(out / "Split-train" / "data_tfrecord-*.gz"), 32, max_seq_length, kwargs, seed=1)
    iterator = iter(dataset)
    for _ in range(5):
        next(iterator)
    batches = 200
    started = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    masked_per_s = batches * 32 / (time.perf_counter() - started)
    print(json.dumps({
        "benchmark": "pretraining_examples",
        "tokenizer": "models.tokenizer",
        "vocab": vocab_dir if "vocab" != pathlib.Path(vocab_dir).name else "characters of NTREX",
        "vocab_size": special.vocab_size, "max_seq_length": max_seq_length,
        "languages": len(by_language), "train_documents": sum(map(len, tokenized.values())),
        "train_sentences": sentences, "ingest_s": round(ingest_s, 2),
        "tokenize_sentences_per_s": round(sentences / tokenize_s, 1),
        "builder_only": {"dupe_factor": 1, "instances": built,
                         "instances_per_s": round(built / builder_s, 1)},
        "beam": runs,
        "masked_dataset_sequences_per_s": round(masked_per_s, 1),
    }, ensure_ascii=False))
