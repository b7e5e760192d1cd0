"""create_pipeline(config): the M-BERT pipeline as a TFX graph. No I/O here; runners resolve paths.

corpus (+ extra corpus) ──> CorpusIngestion ─> StatisticsGen ─> SchemaGen ─> ExampleValidator
      │            └─> VocabularyGen ─> PretrainingExampleGen ─> Trainer (pretraining, MLM + NSP)
labelled data ──> CorpusIngestion ─> StatisticsGen ─> SchemaGen ─> ExampleValidator
                   └─> Trainer (fine-tuning; base_model = the pretrained encoder)
                        ─> Evaluator (TFMA by language; baseline = latest blessed model) ─> Pusher
                        └─> (with `compression`) StudentDistillation (distil + int8) ─> Evaluator
                            (baseline = the teacher, by language) ─> CompressionGate (teacher
                            blessed, faster) ─> Pusher (its own model name)

With `base_model` (a TF1 / Hugging Face / keras-hub checkpoint), BaseModelImport stands in for
VocabularyGen and emits the checkpoint's vocabulary and encoder: `finetune` feeds that encoder to
the fine-tuning Trainer (no corpus, no pretraining); `continue-pretraining` runs
PretrainingExampleGen and the pretraining Trainer from it (base_model = the imported encoder).
"""

from __future__ import annotations

import dataclasses
from typing import Optional

from tfx import v1 as tfx

from components import settings
from components.base_model.component import BaseModelImport
from components.compression.component import CompressionGate, StudentDistillation
from components.evaluation.component import create_evaluator, latest_blessed_model_resolver
from components.ingestion import spans
from components.ingestion.component import CorpusIngestion
from components.pretraining_examples.component import PretrainingExampleGen
from components.push.component import MBertPusher
from components.trainer import MBertTrainer, custom_config
from components.vocabulary.component import VocabularyGen
from pipeline.config import CORPUS_SECTIONS, ConfigError, CorpusConfig, PipelineConfig

# TFX Trainer entry points, by module path.
PRETRAINING_RUN_FN = "components.pretraining.trainer_module.run_fn"
FINETUNING_RUN_FN = "components.finetuning.trainer_module.run_fn"


@dataclasses.dataclass
class PipelinePaths:
    """Where a runner puts things; create_pipeline only passes them on."""

    pipeline_root: str
    metadata_path: Optional[str]  # SQLite file for local runs; None on Vertex/Kubeflow.
    serving_dir: str
    # TF Serving's view of serving_dir in models.config (e.g. /models in a container).
    serving_base_path: str = ""


def _ingest_and_validate(name: str, corpus: CorpusConfig, span: Optional[int]) -> list:
    """Ingestion (spans resolved when it runs; `span` pins one for a backfill) and its checks."""
    ingestion = CorpusIngestion(
        corpus,
        range_config=spans.span_range(span) if span is not None and _has_span(corpus) else None,
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


def _pretraining(config: PipelineConfig, paths: "PipelinePaths", corpus_examples,
                 extra_examples=None, vocabulary=None, initial_model=None) -> list:
    """Vocabulary (unless given), instances, pretraining Trainer (from initial_model if given)."""
    stage = []
    if vocabulary is None:
        stage.append(VocabularyGen(
            examples=corpus_examples, extra_examples=extra_examples,
            config=settings.to_json(config.vocabulary),
        ).with_id("vocabulary"))
        vocabulary = stage[0].outputs["vocabulary"]
    ex = config.pretraining_examples
    instances = PretrainingExampleGen(
        examples=corpus_examples, extra_examples=extra_examples, vocabulary=vocabulary,
        config=settings.to_json(ex),
    ).with_id("pretraining_examples")
    pt = config.pretraining
    trainer = MBertTrainer(
        run_fn=PRETRAINING_RUN_FN,
        examples=instances.outputs["pretraining_examples"],
        vocabulary=vocabulary,
        base_model=initial_model,
        train_args=tfx.proto.TrainArgs(splits=["train"], num_steps=pt.train_steps),
        eval_args=tfx.proto.EvalArgs(splits=["eval"], num_steps=pt.eval_steps),
        custom_config=custom_config(
            dataclasses.replace(pt, seq_len=ex.max_seq_length, seed=ex.seed),
            # Stable across executions so a killed and re-run Trainer resumes (per inputs).
            checkpoint_dir=f"{paths.pipeline_root}/checkpoints/pretraining"),
    ).with_id("pretraining_trainer")
    return stage + [instances, trainer]


def _from_base_model(config: PipelineConfig, paths: "PipelinePaths", corpus_examples,
                     extra_examples, fingerprint: str) -> list:
    """BaseModelImport, then (continue-pretraining) the pretraining stage started from it."""
    base = config.base_model
    length, length_key = config.base_model_length()
    importer = BaseModelImport(
        config=settings.to_json(base.for_import()),
        max_seq_length=length, max_seq_length_key=length_key, fingerprint=fingerprint,
    ).with_id("base_model")
    if base.mode == "finetune":
        return [importer]
    return [importer] + _pretraining(config, paths, corpus_examples, extra_examples,
                                     vocabulary=importer.outputs["vocabulary"],
                                     initial_model=importer.outputs["encoder"])


def _model_stages(config: PipelineConfig, paths: "PipelinePaths", corpus_stage: list,
                  span: Optional[int], trainer_resources, base_model_fingerprint: str) -> list:
    """Everything after the corpus checks: labelled data, vocabulary and pretraining (or a base
    model), fine-tuning, evaluation, push, compression."""
    components = []
    labelled_stage = _ingest_and_validate("labelled", config.labelled_data, span)
    corpus_examples = corpus_stage[0].outputs["examples"] if corpus_stage else None
    extra_examples = None
    if config.extra_pretraining_corpus is not None and config.pretrains():
        extra_stage = _ingest_and_validate("extra_corpus", config.extra_pretraining_corpus, span)
        components += extra_stage
        extra_examples = extra_stage[0].outputs["examples"]
    if config.base_model is None:
        pretraining_stage = _pretraining(config, paths, corpus_examples, extra_examples)
    else:
        pretraining_stage = _from_base_model(config, paths, corpus_examples, extra_examples,
                                             base_model_fingerprint)
    # The last step of the stage holds the pretrained encoder: a Trainer's "model" output,
    # or BaseModelImport's "encoder" when fine-tuning a base model directly.
    encoder_source = pretraining_stage[-1]
    pretrained_encoder = encoder_source.outputs.get("model", encoder_source.outputs.get("encoder"))
    labelled_examples = labelled_stage[0].outputs["examples"]

    finetuning_trainer = _finetuning_trainer(config, labelled_examples, pretrained_encoder,
                                             _first_output(pretraining_stage, "vocabulary"))
    if trainer_resources is not None:
        for step in pretraining_stage + [finetuning_trainer]:
            if isinstance(step, MBertTrainer):
                step.with_platform_config(trainer_resources)
    model = finetuning_trainer.outputs["model"]
    evaluation_stage, blessing = _evaluate_and_push(config, paths, labelled_examples, model, span)
    components += labelled_stage + pretraining_stage + [finetuning_trainer] + evaluation_stage
    if config.compression is not None:
        components += _compression(config, paths, labelled_examples, corpus_examples, model,
                                   blessing, push=span is None)
    return components


def _finetuning_trainer(config: PipelineConfig, labelled_examples, pretrained_encoder, vocabulary):
    """The fine-tuning Trainer: the classifier on the labelled data, from the pretrained encoder."""
    ft = config.finetuning
    return MBertTrainer(
        run_fn=FINETUNING_RUN_FN,
        examples=labelled_examples,
        vocabulary=vocabulary,
        base_model=pretrained_encoder,
        train_args=tfx.proto.TrainArgs(splits=["train"]),
        eval_args=tfx.proto.EvalArgs(splits=["eval"]),
        custom_config=custom_config(ft),
    ).with_id("finetuning_trainer")


def _evaluate_and_push(config: PipelineConfig, paths: "PipelinePaths", labelled_examples, model,
                       span: Optional[int]) -> tuple[list, object]:
    """Resolver (baseline) -> Evaluator by language -> Pusher (none for a backfill); the steps
    and the Evaluator's blessing."""
    # Locally the candidate is kept out of its own baseline (full caching on re-runs), and a
    # backfill compares with the model blessed before its span; Vertex/Kubeflow compile
    # TFX's stock latest-blessed-model strategy.
    local = bool(paths.metadata_path)
    resolver = latest_blessed_model_resolver(candidate=model if local else None,
                                             before_span=span if local else None)
    evaluator = create_evaluator(
        examples=labelled_examples, model=model, baseline_model=resolver.outputs["model"],
        min_accuracy=config.evaluation.min_accuracy,
        max_language_drop=config.evaluation.max_language_drop,
        example_splits=config.evaluation.splits, component_id="evaluator")
    steps = [resolver, evaluator]
    # A backfill is evaluated and blessed against the model of its time, which may be older
    # than the one in service: it never replaces what is served, so it has no Pusher.
    if span is None:
        steps.append(MBertPusher(
            model=model, model_blessing=evaluator.outputs["blessing"],
            serving_dir=paths.serving_dir, model_name=config.push.model_name,
            models_config_base_path=paths.serving_base_path,
        ).with_id("pusher"))
    return steps, evaluator.outputs["blessing"]


def _compression(config: PipelineConfig, paths: "PipelinePaths", labelled_examples, corpus_examples,
                 teacher, teacher_blessing, push: bool) -> list:
    """Distil + quantise the fine-tuned teacher, gate by language and latency, push on its own."""
    c = config.compression
    distillation = StudentDistillation(
        teacher=teacher, examples=labelled_examples,
        unlabelled_examples=corpus_examples if c.unlabelled_rows else None,
        config=settings.to_json(c.for_distillation()),
    ).with_id("compression")
    evaluator = create_evaluator(
        examples=labelled_examples, model=distillation.outputs["model"], baseline_model=teacher,
        max_language_drop=c.max_language_drop, example_splits=config.evaluation.splits,
        component_id="compression_evaluator")
    gate = CompressionGate(
        model=distillation.outputs["model"], model_blessing=evaluator.outputs["blessing"],
        teacher=teacher, teacher_blessing=teacher_blessing, max_latency_ratio=c.max_latency_ratio,
    ).with_id("compression_gate")
    steps = [distillation, evaluator, gate]
    if push:
        steps.append(MBertPusher(
            model=distillation.outputs["model"], model_blessing=gate.outputs["blessing"],
            serving_dir=paths.serving_dir, model_name=config.compressed_model_name(),
            models_config_base_path=paths.serving_base_path,
        ).with_id("compression_pusher"))
    return steps


def _first_output(steps: list, key: str):
    """The `key` output of the first step that has one (VocabularyGen or BaseModelImport)."""
    return next(step.outputs[key] for step in steps if key in step.outputs)


def _has_span(corpus: CorpusConfig) -> bool:
    return any(spans.has_span(path) for path in corpus.inputs)


def create_pipeline(config: PipelineConfig, paths: PipelinePaths,
                    beam_pipeline_args: Optional[list[str]] = None,
                    trainer_resources=None,
                    span: Optional[int] = None,
                    base_model_fingerprint: str = "",
                    ) -> tfx.dsl.Pipeline:
    """Builds the pipeline from validated settings.

    Args:
      config: validated pipeline settings (pipeline/config.py).
      paths: pipeline root, metadata and serving locations resolved by the runner.
      beam_pipeline_args: arguments for every Beam stage (DirectRunner, Dataflow, Flink, Spark).
      trainer_resources: a ResourceSpec (CPU, memory, accelerators) for the Trainer steps on
        Vertex/Kubeflow; None locally.
      span: ingest this span of every corpus whose inputs have span patterns (a backfill: the
        Evaluator's baseline is the model blessed before that span, and nothing is pushed);
        None = the newest span present when each ingestion runs.
      base_model_fingerprint: the checkpoint files' fingerprint (base_model.formats.fingerprint)
        a local runner resolved, so a replaced checkpoint is imported again; "" = by path only.

    Returns:
      The TFX pipeline, with caching on.
    """
    corpora = [getattr(config, key) for key in CORPUS_SECTIONS]
    if span is not None and not any(c is not None and _has_span(c) for c in corpora):
        raise ConfigError(f"span {span}: no corpus input has a span pattern ({{SPAN}}, {{YYYY}}...)")
    corpus_stage = []
    # Fine-tuning a base model needs no pretraining corpus.
    if config.stages == "ingestion" or config.pretrains():
        corpus_stage = _ingest_and_validate("corpus", config.pretraining_corpus,
                                            span)
    components = list(corpus_stage)
    if config.stages == "all":
        components += _model_stages(config, paths, corpus_stage, span, trainer_resources,
                                    base_model_fingerprint)
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
