"""create_pipeline(config): the M-BERT pipeline as a TFX graph. No I/O here; runners resolve paths.

corpus -> CorpusIngestion -> StatisticsGen -> SchemaGen -> ExampleValidator
       -> VocabularyGen -> PretrainingExampleGen -> Trainer (pretraining)
labelled data -> CorpusIngestion -> StatisticsGen -> SchemaGen -> ExampleValidator
       -> Trainer (fine-tuning, base_model = the pretrained encoder)
       -> Resolver (latest blessed model) -> Evaluator (sliced by language) -> Pusher
"""

from __future__ import annotations

import dataclasses
import json
from typing import Optional

from tfx import v1 as tfx

from components.ingestion.component import CorpusIngestion
from pipeline.config import CorpusConfig, PipelineConfig


@dataclasses.dataclass
class PipelinePaths:
    """Where a runner puts things; create_pipeline only passes them on."""

    pipeline_root: str
    metadata_path: Optional[str]  # SQLite file for local runs; None on Vertex/Kubeflow.
    serving_dir: str


def _ingest_and_validate(name: str, corpus: CorpusConfig) -> list:
    ingestion = CorpusIngestion(
        format=corpus.format,
        input_paths=json.dumps(corpus.inputs),
        max_chars=corpus.max_chars,
        max_reject_ratio=corpus.max_reject_ratio,
    ).with_id(f"{name}_ingestion")
    statistics = tfx.components.StatisticsGen(
        examples=ingestion.outputs["examples"]).with_id(f"{name}_statistics")
    schema = tfx.components.SchemaGen(
        statistics=statistics.outputs["statistics"], infer_feature_shape=False
    ).with_id(f"{name}_schema")
    validator = tfx.components.ExampleValidator(
        statistics=statistics.outputs["statistics"], schema=schema.outputs["schema"]
    ).with_id(f"{name}_validation")
    return [ingestion, statistics, schema, validator]


def create_pipeline(config: PipelineConfig, paths: PipelinePaths,
                    beam_pipeline_args: Optional[list[str]] = None,
                    trainer_resources=None) -> tfx.dsl.Pipeline:
    """Builds the pipeline from validated settings.

    Args:
      config: validated pipeline settings (pipeline/config.py).
      paths: pipeline root, metadata and serving locations resolved by the runner.
      beam_pipeline_args: arguments for every Beam stage (DirectRunner, Dataflow, Flink, Spark).
      trainer_resources: a ResourceSpec (CPU, memory, accelerators) for the Trainer steps on
        Vertex/Kubeflow; None locally.

    Returns:
      The TFX pipeline, with caching on.
    """
    corpus_stage = _ingest_and_validate("corpus", config.pretraining_corpus)
    components = list(corpus_stage)
    if config.stages != "ingestion":
        components += _ingest_and_validate("labelled", config.labelled_data)

    metadata = (tfx.orchestration.metadata.sqlite_metadata_connection_config(paths.metadata_path)
                if paths.metadata_path else None)
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=paths.pipeline_root,
        components=components,
        enable_cache=True,
        metadata_connection_config=metadata,
        beam_pipeline_args=beam_pipeline_args or [],
    )
