"""The CorpusIngestion executor: runs after TFX's ExampleGen driver resolved the input spans."""

from __future__ import annotations

import json
from typing import Any

from tfx.components.example_gen import utils
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs

from components import settings
from components.ingestion import beam_job, readers, spans, summary as summary_lib
from components.ingestion.config import CorpusConfig

CONFIG_KEY = "config"  # CorpusConfig as JSON


class Executor(base_beam_executor.BaseBeamExecutor):
    """Ingests the resolved inputs with the ingestion Beam job into the Examples artifact.

    Writes `<uri>/Split-<split>/data_tfrecord-*.gz`, `<uri>/summary.json` (with "span" and
    "version") and `<uri>/rejects.jsonl`, sets `split_names`, `span`, `version`, and records
    records_read / accepted / rejected / reject_ratio / languages as custom properties so they
    show in ML Metadata. Fails (after writing its outputs) above max_reject_ratio.
    """

    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list],
           exec_properties: dict[str, Any]) -> None:
        del input_dict
        examples = artifact_utils.get_single_instance(output_dict[standard_component_specs.EXAMPLES_KEY])
        # The driver replaced the span patterns in input_config and added span / version.
        paths = spans.input_paths(exec_properties[standard_component_specs.INPUT_BASE_KEY],
                                  exec_properties[standard_component_specs.INPUT_CONFIG_KEY])
        # int(): on Vertex the driver hands them over as JSON numbers (floats).
        span = int(exec_properties[utils.SPAN_PROPERTY_NAME])
        version = exec_properties.get(utils.VERSION_PROPERTY_NAME)
        version = None if version is None else int(version)
        config = settings.from_json(CorpusConfig, exec_properties[CONFIG_KEY], "corpus")
        tasks = readers.plan_tasks(config.format, paths)
        beam_job.clear_outputs(examples.uri)
        with beam_job.removing_beam_temp_on_failure(examples.uri), self._make_beam_pipeline() as pipeline:
            beam_job.build_ingestion(pipeline, tasks, examples.uri,
                                     max_record_chars=config.max_record_chars,
                                     max_reject_ratio=config.max_reject_ratio)
        summary = beam_job.finalize_outputs(examples.uri, span=span, version=version)

        examples.split_names = artifact_utils.encode_split_names(summary["split_names"])
        examples.span = span
        if version is not None:
            examples.version = version
        # What ExampleGen records, so StatisticsGen/Transform/Trainer read it without guessing.
        examples_utils.set_payload_format(examples, example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE)
        examples_utils.set_file_format(examples, "tfrecords_gzip")
        examples.set_int_custom_property("records_read", summary["records_read"])
        examples.set_int_custom_property("accepted", summary["accepted"])
        examples.set_int_custom_property("rejected", summary["rejected"])
        examples.set_float_custom_property("reject_ratio", summary["reject_ratio"])
        examples.set_string_custom_property("languages", json.dumps(sorted(summary["by_language"])))
        summary_lib.check_reject_ratio(summary)
