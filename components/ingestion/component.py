"""CorpusIngestion: the ingestion TFX component, a FileBasedExampleGen with our executor.

Being a FileBasedExampleGen is what makes spans resolve at run time on every orchestrator:
LocalDagRunner runs its FileBasedDriver before the cache check, and the Kubeflow V2 / Vertex
compiler gives it TFX's driver container as a pre-cache-check hook. Both resolve `{SPAN}`,
`{YYYY}`/`{MM}`/`{DD}` and `{VERSION}` in input_config (see spans.py), record span, version and
the input fingerprint on the Examples artifact in ML Metadata, and pass the resolved patterns
to the executor. The compiled pipeline keeps the patterns.
"""

from __future__ import annotations

from typing import Optional

from tfx import types
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter

from components import settings
from components.ingestion import spans
from components.ingestion.config import CorpusConfig
from components.ingestion.executor import CONFIG_KEY, Executor


class CorpusIngestionSpec(types.ComponentSpec):
    """FileBasedExampleGen's parameters plus the corpus settings (CorpusConfig as JSON)."""

    PARAMETERS = {
        **standard_component_specs.FileBasedExampleGenSpec.PARAMETERS,
        CONFIG_KEY: ExecutionParameter(type=str),
    }
    INPUTS = {}
    OUTPUTS = dict(standard_component_specs.FileBasedExampleGenSpec.OUTPUTS)


class CorpusIngestion(FileBasedExampleGen):
    """Ingests a multilingual corpus (the newest span, or the one range_config names) into Examples."""

    SPEC_CLASS = CorpusIngestionSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(self, config: CorpusConfig,
                 range_config: Optional[range_config_pb2.RangeConfig] = None):
        """Args:
          config: the corpus (format, inputs possibly with span patterns (spans.py), reject
            limits), checked by the YAML's rules.
          range_config: which spans to consider (spans.span_range(n) for a backfill); None =
            the newest span present when the run starts.
        """
        settings.check(config, "corpus")
        input_base, input_config = spans.input_config(config.format, config.inputs)
        spec = CorpusIngestionSpec(
            input_base=input_base,
            input_config=input_config,
            # The executor routes records to train/eval/test itself (records.split_for_doc).
            output_config=example_gen_pb2.Output(),
            range_config=range_config,
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            config=settings.to_json(config),
            examples=types.Channel(type=standard_artifacts.Examples),
        )
        # FileBasedExampleGen.__init__ builds its own spec; ours adds parameters to it.
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)
