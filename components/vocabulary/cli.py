"""`mbert vocab`: learn a WordPiece vocabulary from files, without the rest of the pipeline."""

from __future__ import annotations

import json
import os
import sys

import click

from components import settings
from components.vocabulary.config import VocabularyConfig
from components.vocabulary.learner import VocabularyError

_OWN_FORMATS = ("examples", "lines")
_INGESTION_FORMATS = ("text", "jsonl", "tsv", "ntrex", "sib200", "chatterbot")


def _language_of_file(path: str, language: str | None) -> str:
    from components.ingestion.languages import normalize_language  # pylint: disable=g-import-not-at-top

    name = os.path.basename(path)
    code = language or (name.rsplit(".", 2)[-2] if name.count(".") >= 2 else None)
    tag = normalize_language(code) if code else None
    if tag is None:
        raise click.BadParameter(f"{path}: cannot tell the language from the file name "
                                 f"(code {code!r}); pass --language", param_hint="--input")
    return tag


def _line_files(inputs: list[str], language: str | None) -> list[tuple[str, str]]:
    files = []
    for path in inputs:
        if os.path.isdir(path):
            files += sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith(".txt"))
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise click.BadParameter(f"{path}: no such file or folder", param_hint="--input")
    if not files:
        raise click.BadParameter(f"no .txt files in {', '.join(inputs)}", param_hint="--input")
    return [(f, _language_of_file(f, language)) for f in files]


def _ingested_records(task):
    """(split, (language, text)) from one file of an ingestion format; unreadable rows skipped."""
    from components.ingestion import readers, records  # pylint: disable=g-import-not-at-top
    from components.ingestion.languages import normalize_language  # pylint: disable=g-import-not-at-top

    for record in readers.read_task(task):
        if record.text is None or record.error or not record.text.strip():
            continue
        tag = normalize_language(record.language) if record.language else None
        if tag is None:
            continue
        split = records.canonical_split(record.split) or records.split_for_doc(
            record.doc_id or f"{record.source}:{record.line}")
        yield split, (tag, record.text)


@click.command("vocab")
@click.option("--format", "fmt", required=True, type=click.Choice(_OWN_FORMATS + _INGESTION_FORMATS),
              help="examples: ingested Examples folders (Split-*/, read as one corpus); lines: UTF-8 text, one sentence "
                   "a line, language from --language or the file name (x.<code>.txt); others: read "
                   "with the ingestion readers (learn on train, measure on eval).")
@click.option("--input", "inputs", multiple=True, required=True, help="File or folder (repeatable).")
@click.option("--vocab-size", type=int, required=True, help="Tokens in vocab.txt, reserved included.")
@click.option("--output", required=True, help="Folder for vocab.txt, tokenizer.json, vocab_stats.json.")
@click.option("--smoothing", type=float, default=0.7, show_default=True, help="Language smoothing exponent.")
@click.option("--lower-case", is_flag=True, help="Uncased vocabulary (lower case, NFD, no accents).")
@click.option("--num-unused", type=int, default=100, show_default=True)
@click.option("--max-characters", type=int, default=10000, show_default=True, help="Alphabet cap.")
@click.option("--min-char-count", type=int, default=1, show_default=True)
@click.option("--max-chars-per-word", type=int, default=200, show_default=True)
@click.option("--num-rounds", type=int, default=3, show_default=True)
@click.option("--seed-characters", type=int, default=-1, show_default=True,
              help="Unseen common Hangul/hanzi/kanji (national standard sets) added to the alphabet "
                   "for the scripts the corpus uses; -1 = vocab size / 25, 0 = none.")
@click.option("--savings-exponent", type=float, default=0.5, show_default=True,
              help="Score candidates by count x (pieces saved) ** this; 0 = count alone (T2T rule).")
@click.option("--all-suffix-forms", is_flag=True,
              help="Give every character a ## form, not only those seen inside a word.")
@click.option("--language", default=None, help="Language of every --input file (format lines).")
@click.option("--beam-arg", "beam_args", multiple=True, help="Passed to Beam unchanged (repeatable).")
def vocab(fmt, inputs, vocab_size, output, smoothing, lower_case, num_unused, max_characters,
          min_char_count, max_chars_per_word, num_rounds, seed_characters, savings_exponent,
          all_suffix_forms, language, beam_args):
    """Learn a shared WordPiece vocabulary (M-BERT recipe) with Apache Beam."""
    import apache_beam as beam  # pylint: disable=g-import-not-at-top
    from apache_beam.options.pipeline_options import PipelineOptions  # pylint: disable=g-import-not-at-top

    from components.vocabulary import beam_pipeline  # pylint: disable=g-import-not-at-top

    params = VocabularyConfig(
        vocab_size=vocab_size, smoothing=smoothing, lower_case=lower_case, num_unused=num_unused,
        max_characters=max_characters, min_char_count=min_char_count,
        max_chars_per_word=max_chars_per_word, num_rounds=num_rounds, seed_characters=seed_characters,
        savings_exponent=savings_exponent, suffix_if_inner_only=not all_suffix_forms)
    try:
        settings.check(params, "vocabulary")
        os.makedirs(output, exist_ok=True)
        options = PipelineOptions(list(beam_args))
        if fmt == "examples":
            from tfx.types import artifact_utils  # pylint: disable=g-import-not-at-top,unused-import
            from components.vocabulary.component import run_vocabulary  # pylint: disable=g-import-not-at-top

            split_sets = [{d[len("Split-"):] for d in os.listdir(path) if d.startswith("Split-")}
                          for path in inputs]
            splits = sorted(set.intersection(*split_sets))
            run_vocabulary(list(inputs), splits, output, params, beam.Pipeline(options=options))
        else:
            with beam.Pipeline(options=options) as p:
                if fmt == "lines":
                    train = beam_pipeline.read_text_files(p, _line_files(list(inputs), language))
                    beam_pipeline.learn_vocabulary(train, None, params, output, stats_split="train")
                else:
                    from components.ingestion import readers  # pylint: disable=g-import-not-at-top

                    tasks = readers.plan_tasks(fmt, list(inputs))
                    records = (p | "Tasks" >> beam.Create(tasks)
                               | "Read" >> beam.FlatMap(_ingested_records))
                    train = records | "Train" >> beam.FlatMap(lambda r: [r[1]] if r[0] == "train" else [])
                    eval_lines = records | "Eval" >> beam.FlatMap(lambda r: [r[1]] if r[0] == "eval" else [])
                    beam_pipeline.learn_vocabulary(train, eval_lines, params, output, stats_split="eval")
    except (VocabularyError, ValueError) as err:
        raise click.ClickException(str(err)) from err
    with open(os.path.join(output, "vocab_stats.json"), encoding="utf-8") as handle:
        stats = json.load(handle)
    worst = max(stats["languages"].items(), key=lambda kv: kv[1]["unk_rate"], default=(None, {}))
    click.echo(json.dumps({"output": output, "vocab_size": stats["vocab_size"],
                           "languages": len(stats["languages"]), "worst_unk_language": worst[0],
                           "worst_unk_rate": worst[1].get("unk_rate")}))
    sys.stdout.flush()
