"""CorpusIngestion: the ingestion TFX component (work runs in the pipeline's Beam)."""

import json

import apache_beam as beam
from tfx import v1 as tfx
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts

from components.ingestion import beam_job, readers, summary as summary_lib
from components.ingestion.records import DEFAULT_MAX_CHARS

Parameter = tfx.dsl.components.Parameter
OutputArtifact = tfx.dsl.components.OutputArtifact
BeamComponentParameter = tfx.dsl.components.BeamComponentParameter


@tfx.dsl.components.component(use_beam=True)
def CorpusIngestion(
    examples: OutputArtifact[standard_artifacts.Examples],
    format: Parameter[str],
    input_paths: Parameter[str],
    max_chars: Parameter[int] = DEFAULT_MAX_CHARS,
    max_reject_ratio: Parameter[float] = beam_job.DEFAULT_MAX_REJECT_RATIO,
    span: Parameter[str] = "",
    input_fingerprint: Parameter[str] = "",
    beam_pipeline: BeamComponentParameter[beam.Pipeline] = None,
) -> None:
    """Ingests a multilingual corpus into an Examples artifact.

    Writes `<uri>/Split-<split>/data_tfrecord-*.gz`, `<uri>/summary.json` and
    `<uri>/rejects.jsonl`, sets `split_names`, and records records_read / accepted / rejected /
    reject_ratio / languages as custom properties so they show in ML Metadata.

    Args:
      examples: the output Examples artifact.
      format: one of text, jsonl, tsv, ntrex, sib200, chatterbot.
      input_paths: JSON list of input files/folders (TFX parameters are primitives); `[]`
        means the installed chatterbot-corpus for format chatterbot.
      max_chars: longest accepted record, in code points.
      max_reject_ratio: the execution fails (after writing its outputs) above this ratio.
      span: the input span the runner resolved (recorded on the artifact; "" = none).
      input_fingerprint: digest of the input files (paths, sizes, times) computed by the runner;
        unused here, but part of TFX's cache key, so changed data re-runs ingestion.
      beam_pipeline: made by TFX from the pipeline's beam_pipeline_args.
    """
    try:
        inputs = json.loads(input_paths)
    except json.JSONDecodeError as error:
        raise ValueError(f"input_paths must be a JSON list of paths, got {input_paths!r}: {error}") from None
    if not isinstance(inputs, list) or not all(isinstance(path, str) for path in inputs):
        raise ValueError(f"input_paths must be a JSON list of paths, got {input_paths!r}")
    tasks = readers.plan_tasks(format, inputs)
    output_dir = examples.uri
    beam_job.clear_outputs(output_dir)
    pipeline = beam_pipeline if beam_pipeline is not None else beam.Pipeline()
    with beam_job.removing_beam_temp_on_failure(output_dir), pipeline as p:
        beam_job.build_ingestion(p, tasks, output_dir, max_chars=max_chars, max_reject_ratio=max_reject_ratio)
    summary = beam_job.finalize_outputs(output_dir)

    examples.split_names = artifact_utils.encode_split_names(summary["split_names"])
    examples.span = int(span) if span.isdigit() else 0
    if span:
        examples.set_string_custom_property("input_span", span)
    # What ExampleGen records, so StatisticsGen/Transform/Trainer read it without guessing.
    examples_utils.set_payload_format(examples, example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE)
    examples_utils.set_file_format(examples, "tfrecords_gzip")
    examples.set_int_custom_property("records_read", summary["records_read"])
    examples.set_int_custom_property("accepted", summary["accepted"])
    examples.set_int_custom_property("rejected", summary["rejected"])
    examples.set_float_custom_property("reject_ratio", summary["reject_ratio"])
    examples.set_string_custom_property("languages", json.dumps(sorted(summary["by_language"])))
    summary_lib.check_reject_ratio(summary)
