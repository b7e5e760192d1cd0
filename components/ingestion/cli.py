"""`mbert ingest`: the ingestion stage on its own, running the same code as the component."""

from __future__ import annotations

import json

import click

from components.ingestion.readers import FORMATS


@click.command(help="Ingest a multilingual corpus into TFX Examples (GZIP tf.Example TFRecords).")
@click.option("--format", "fmt", required=True, type=click.Choice(FORMATS), help="Layout of the input.")
@click.option("--input", "inputs", multiple=True, type=click.Path(),
              help="Input file or folder (repeatable), may hold span patterns: span-{SPAN}, "
                   "{YYYY}-{MM}-{DD}, {VERSION} (the newest span is read). Optional for "
                   "chatterbot: the installed corpus.")
@click.option("--span", type=click.IntRange(min=0), default=None,
              help="Read this span instead of the newest (a backfill).")
@click.option("--output", required=True, type=click.Path(file_okay=False),
              help="Output folder: Split-*/, summary.json, rejects.jsonl.")
@click.option("--max-record-chars", default=20_000, show_default=True, type=click.IntRange(min=1),
              help="Longest accepted record, in characters.")
@click.option("--max-reject-ratio", default=0.05, show_default=True, type=click.FloatRange(0.0, 1.0),
              help="Fail when more than this fraction of the records read is rejected.")
@click.option("--beam-arg", "beam_args", multiple=True,
              help="Beam pipeline option (repeatable), e.g. --beam-arg=--direct_running_mode=multi_processing")
def ingest(fmt: str, inputs: tuple[str, ...], span: int | None, output: str, max_record_chars: int,
           max_reject_ratio: float, beam_args: tuple[str, ...]) -> None:
    # Heavy imports (TensorFlow, Beam) only once the arguments are known to be valid.
    from components.ingestion import spans
    from components.ingestion.beam_job import run_ingestion
    from components.ingestion.readers import IngestionInputError
    from components.ingestion.summary import RejectRatioError

    try:
        # The same resolution as the pipeline's CorpusIngestion driver.
        resolved = spans.resolve(fmt, inputs, span)
    except ValueError as error:
        raise click.ClickException(f"cannot resolve input spans: {error}") from None
    try:
        summary = run_ingestion(fmt, resolved.paths, output, max_record_chars=max_record_chars,
                                max_reject_ratio=max_reject_ratio, beam_pipeline_args=list(beam_args),
                                span=resolved.span, version=resolved.version)
    except IngestionInputError as error:
        raise click.ClickException(f"cannot read input: {error}") from None
    except RejectRatioError as error:
        raise click.ClickException(f"{error}\nsee {output}/rejects.jsonl and {output}/summary.json") from None
    click.echo(json.dumps(summary, indent=2, ensure_ascii=False))
    click.echo(f"wrote {summary['accepted']} examples to {output}/Split-{{{','.join(summary['split_names'])}}}, "
               f"{summary['rejected']} rejects to {output}/rejects.jsonl", err=True)
