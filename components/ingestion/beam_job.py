"""The ingestion Beam job: corpus files in, TFX Examples (GZIP TFRecords) out.

Output layout (the same for the CLI's `--output DIR` and the TFX artifact uri):

    DIR/Split-train/data_tfrecord-SSSSS-of-NNNNN.gz    tf.Example records
    DIR/Split-eval/...                                   (always present, maybe empty)
    DIR/Split-test/...                                   (only when the source has a test split)
    DIR/rejects.jsonl                                    {"source", "line", "reason", "excerpt"}
    DIR/summary.json                                     counts, see summary.finish_summary

Everything after listing the files runs in Beam: reading (FlatMap over files, reshuffled so
files spread over workers), validation, tf.Example conversion, split routing, writing, and
the counting that feeds summary.json.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Sequence

import apache_beam as beam
import tensorflow as tf
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.options.pipeline_options import PipelineOptions

from components import contracts
from components.contracts import split_dir
from components.ingestion import readers, summary as summary_lib
from components.ingestion.records import (ALL_SPLITS, ALWAYS_SPLITS, DEFAULT_MAX_RECORD_CHARS,
                                          DEFAULT_MAX_REJECT_RATIO, AcceptedRecord, Rejected,
                                          validate_record)

SUMMARY_FILE = "summary.json"
REJECTS_FILE = "rejects.jsonl"
_OUR_FILES = (SUMMARY_FILE, REJECTS_FILE)


def to_tf_example(record: AcceptedRecord) -> bytes:
    """Serialized tf.Example with text, language, doc_id, sentence_index, label?, source."""

    def bytes_feature(value: str) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode("utf-8")]))

    features = {
        contracts.TEXT: bytes_feature(record.text),
        contracts.LANGUAGE: bytes_feature(record.language),
        contracts.DOC_ID: bytes_feature(record.doc_id),
        contracts.SENTENCE_INDEX: tf.train.Feature(
            int64_list=tf.train.Int64List(value=[record.sentence_index])),
        contracts.SOURCE: bytes_feature(record.source),
    }
    if record.label is not None:
        features[contracts.LABEL] = bytes_feature(record.label)
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def _route(outcome):
    if isinstance(outcome, Rejected):
        yield beam.pvalue.TaggedOutput("rejected", outcome)
    else:
        yield outcome


def build_ingestion(pipeline: beam.Pipeline, tasks: Sequence[readers.FileTask], output_dir: str,
                    max_record_chars: int = DEFAULT_MAX_RECORD_CHARS,
                    max_reject_ratio: float = DEFAULT_MAX_REJECT_RATIO) -> None:
    """Adds the ingestion transforms to a pipeline (not run here).

    Args:
      pipeline: the Beam pipeline (TFX hands its own to the component).
      tasks: files to read, from `readers.plan_tasks`.
      output_dir: where Split-*/, rejects.jsonl and summary.json go.
      max_record_chars: longest accepted record, in code points.
      max_reject_ratio: recorded in summary.json; the check itself runs after the pipeline.
    """
    outcomes = (
        pipeline
        | "ListFiles" >> beam.Create(list(tasks))
        # One file per element after this, spread over workers instead of one bundle.
        | "SpreadFiles" >> beam.Reshuffle()
        | "ReadFiles" >> beam.FlatMap(readers.read_task)
        | "Validate" >> beam.Map(validate_record, max_record_chars=max_record_chars))
    routed = outcomes | "Route" >> beam.FlatMap(_route).with_outputs("rejected", main="accepted")
    accepted, rejected = routed.accepted, routed.rejected

    by_split = (
        accepted
        | "ToExample" >> beam.Map(lambda record: (record.split, to_tf_example(record)))
        | "BySplit" >> beam.Partition(lambda keyed, _: ALL_SPLITS.index(keyed[0]), len(ALL_SPLITS)))
    for index, split in enumerate(ALL_SPLITS):
        _ = (
            by_split[index]
            | f"Drop{split}Key" >> beam.Map(lambda keyed: keyed[1])
            | f"Write{split}" >> beam.io.WriteToTFRecord(
                os.path.join(split_dir(output_dir, split), contracts.RECORD_FILE_PREFIX),
                file_name_suffix=".gz", compression_type=CompressionTypes.GZIP))

    _ = (
        rejected
        | "RejectToJson" >> beam.Map(lambda reject: json.dumps(reject.to_json_dict(), ensure_ascii=False))
        | "WriteRejects" >> beam.io.WriteToText(os.path.join(output_dir, REJECTS_FILE), shard_name_template=""))

    counts = (
        outcomes
        | "OutcomeKeys" >> beam.Map(summary_lib.outcome_key)
        | "Count" >> beam.CombineGlobally(summary_lib.CountOutcomes()))
    documents = (
        accepted
        | "LanguageDoc" >> beam.Map(lambda record: (record.language, record.doc_id))
        | "DistinctDocs" >> beam.Distinct()
        | "DocLanguage" >> beam.Map(lambda language_doc: language_doc[0])
        | "DocsPerLanguage" >> beam.combiners.Count.PerElement()
        | "DocsToDict" >> beam.combiners.ToDict())
    _ = (
        counts
        | "Summarize" >> beam.Map(summary_lib.finish_summary, documents=beam.pvalue.AsSingleton(documents),
                                  max_reject_ratio=max_reject_ratio)
        | "SummaryToJson" >> beam.Map(lambda content: json.dumps(content, indent=2, ensure_ascii=False))
        | "WriteSummary" >> beam.io.WriteToText(os.path.join(output_dir, SUMMARY_FILE), shard_name_template=""))


def clear_outputs(output_dir: str) -> None:
    """Removes what an earlier run left (its shards would mix with the new ones)."""
    if not tf.io.gfile.exists(output_dir):
        return
    for name in tf.io.gfile.listdir(output_dir):
        name = name.rstrip("/")
        path = os.path.join(output_dir, name)
        if name.startswith(contracts.SPLIT_DIR_PREFIX) or name in _OUR_FILES:
            if tf.io.gfile.isdir(path):
                tf.io.gfile.rmtree(path)
            else:
                tf.io.gfile.remove(path)


@contextlib.contextmanager
def removing_beam_temp_on_failure(output_dir: str):
    """Runs the block; if it fails, removes the `beam-temp-*` folders that Beam's file sinks
    leave next to their outputs (in output_dir and its Split-* folders), then re-raises."""
    try:
        yield
    except BaseException:
        for folder in [output_dir] + [split_dir(output_dir, split) for split in ALL_SPLITS]:
            for path in tf.io.gfile.glob(os.path.join(folder, "beam-temp-*")):
                tf.io.gfile.rmtree(path)
        raise


def finalize_outputs(output_dir: str, span: int = 0, version: int | None = None) -> dict:
    """Adds the input span to summary.json and tidies the split folders after the pipeline ran.

    train and eval always exist (an empty GZIP file stands in when a split got no record, so
    readers of the artifact find the layout they expect); test is removed when it is empty.

    Args:
      output_dir: the ingestion output folder.
      span: the input span ingested (0 when the inputs have no span pattern, as in TFX).
      version: the span's {VERSION}, None without a version pattern.

    Returns:
      The summary, with `split_names` (the splits present) added.
    """
    path = os.path.join(output_dir, SUMMARY_FILE)
    with tf.io.gfile.GFile(path, "r") as stream:
        content = json.load(stream)
    content["span"] = span
    content["version"] = version
    with tf.io.gfile.GFile(path, "w") as stream:
        stream.write(json.dumps(content, indent=2, ensure_ascii=False))
    present = [split for split in ALL_SPLITS if split in ALWAYS_SPLITS or content["splits"].get(split)]
    for split in ALL_SPLITS:
        folder = split_dir(output_dir, split)
        if split not in present:
            if tf.io.gfile.exists(folder):
                tf.io.gfile.rmtree(folder)
            continue
        tf.io.gfile.makedirs(folder)
        if not tf.io.gfile.glob(os.path.join(folder, f"{contracts.RECORD_FILE_PREFIX}-*.gz")):
            with tf.io.TFRecordWriter(os.path.join(folder, f"{contracts.RECORD_FILE_PREFIX}-00000-of-00001.gz"),
                                      options="GZIP"):
                pass
    content["split_names"] = present
    return content


def run_ingestion(format: str, inputs: Sequence[str], output_dir: str,
                  max_record_chars: int = DEFAULT_MAX_RECORD_CHARS,
                  max_reject_ratio: float = DEFAULT_MAX_REJECT_RATIO,
                  beam_pipeline_args: Sequence[str] | None = None, span: int = 0,
                  version: int | None = None) -> dict:
    """Ingests a corpus with Beam and writes examples, rejects.jsonl and summary.json.

    Args:
      format: one of `readers.FORMATS`.
      inputs: input files/folders (may be empty for chatterbot: the installed corpus).
      output_dir: output folder (created; earlier Split-*/summary/rejects are replaced).
      max_record_chars: longest accepted record in code points.
      max_reject_ratio: rejected / read above this raises RejectRatioError (after writing).
      beam_pipeline_args: Beam options, e.g. `--direct_running_mode=multi_processing
        --direct_num_workers=0`; the default is the in-memory DirectRunner.

    Returns:
      The summary dict (summary.json plus `split_names`).

    Raises:
      readers.IngestionInputError: an input path is missing, unreadable or empty.
      summary.RejectRatioError: too many rejects; names the worst files.
    """
    tasks = readers.plan_tasks(format, inputs)
    tf.io.gfile.makedirs(output_dir)
    clear_outputs(output_dir)
    logging.info("Ingesting %d %s files into %s", len(tasks), format, output_dir)
    with removing_beam_temp_on_failure(output_dir), \
            beam.Pipeline(options=PipelineOptions(list(beam_pipeline_args or []))) as pipeline:
        build_ingestion(pipeline, tasks, output_dir, max_record_chars=max_record_chars, max_reject_ratio=max_reject_ratio)
    content = finalize_outputs(output_dir, span=span, version=version)
    summary_lib.check_reject_ratio(content)
    return content
