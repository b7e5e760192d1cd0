"""Pipeline settings: dataclasses loaded from YAML, checked before anything runs.

Two layers of configuration: these pipeline settings, and the model's own `EncoderConfig`
(models/encoder_config.py) named here by preset. Loading rejects unknown keys and wrong types with a
message that names the key (`pretraining.batch_size: expected int, got str`), and input paths that
do not exist, so a typo fails in a second rather than an hour into a run.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
import types
import typing
from typing import Any, Optional

import yaml

from models.encoder_config import EncoderConfig

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIGS_DIR = REPO_ROOT / "configs"
DEFAULT_CONFIG = CONFIGS_DIR / "demo.yaml"


# The config sections that name input corpora.
CORPUS_SECTIONS = ("pretraining_corpus", "extra_pretraining_corpus", "labelled_data")


class ConfigError(ValueError):
    """A configuration problem; the message names the key."""


@dataclasses.dataclass
class CorpusConfig:
    """One input corpus for the ingestion component."""

    format: str = "chatterbot"
    # Files or folders; relative paths are resolved against the config file's folder.
    # Span patterns `{SPAN}`, `{YYYY}`/`{MM}`/`{DD}`, `{VERSION}` in a path are resolved by the
    # ingestion component when it runs (components/ingestion/spans.py): the newest span.
    inputs: list[str] = dataclasses.field(default_factory=list)
    max_chars: int = 20000
    max_reject_ratio: float = 0.05


@dataclasses.dataclass
class VocabularyConfig:
    vocab_size: int = 8000
    smoothing: float = 0.7
    lower_case: bool = False
    num_unused: int = 100
    max_characters: int = 10000
    # Unseen common Hangul / hanzi / kanji added for the scripts the corpus uses, so held-out
    # text stays off [UNK]; -1 = a twentieth of vocab_size, 0 = none.
    seed_characters: int = -1


@dataclasses.dataclass
class PretrainingExamplesConfig:
    max_seq_length: int = 128
    short_seq_prob: float = 0.1
    dupe_factor: int = 10
    smoothing: float = 0.7
    # 0 = every b follows its a (no next-sentence task: set pretraining.next_sentence_prediction
    # false too).
    random_next_prob: float = 0.5
    # Share of translation pairs (XLM's TLM) among the training instances, made from sentences
    # aligned across languages (NTREX lines, SIB-200 index_id); 0 = plain M-BERT.
    translation_fraction: float = 0.0
    seed: int = 12345


@dataclasses.dataclass
class PretrainingConfig:
    preset: str = "tiny"
    train_steps: int = 1000
    eval_steps: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-4
    warmup_steps: int = 100
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    checkpoint_every: int = 500
    mask_rate: float = 0.15
    max_predictions: int = 20
    whole_word_masking: bool = False
    # BERT's next-sentence prediction; false = masked LM only (RoBERTa, XLM).
    next_sentence_prediction: bool = True
    # Encoder shape overrides of the preset (num_layers, hidden_dim, num_heads,
    # intermediate_dim, dropout).
    encoder: dict = dataclasses.field(default_factory=dict)
    shuffle_buffer: int = 10000
    # "auto" turns bfloat16 / XLA on where the hardware supports them.
    mixed_precision: str = "auto"
    jit_compile: str = "auto"
    tpu: Optional[str] = None

    def __post_init__(self):
        for key in ("mixed_precision", "jit_compile"):
            if getattr(self, key) not in ("auto", "true", "false"):
                raise ConfigError(f"pretraining.{key}: expected 'auto', 'true' or 'false', "
                                  f"got {getattr(self, key)!r}")
        try:
            # vocab_size 1 stands in for the vocabulary's size, known only when it is built.
            EncoderConfig.preset(self.preset, 1, **self.encoder)
        except ValueError as e:
            raise ConfigError(f"pretraining.encoder: {e}") from None
        if "vocab_size" in self.encoder:
            raise ConfigError("pretraining.encoder.vocab_size: comes from the vocabulary; "
                              "set vocabulary.vocab_size instead")


@dataclasses.dataclass
class FinetuningConfig:
    train_languages: list[str] = dataclasses.field(default_factory=lambda: ["en"])
    max_seq_length: int = 128
    batch_size: int = 32
    learning_rate: float = 5e-5
    epochs: int = 3
    # Length in optimiser steps (0 = `epochs` passes over the rows), evaluated every eval_every
    # steps for early stopping and the best weights.
    train_steps: int = 0
    eval_every: int = 100
    dropout: float = 0.1
    # "cls": BERT's pooled [CLS]; "mean": token vectors averaged (for an encoder pretrained
    # without next-sentence prediction, whose [CLS] and pooler never trained).
    pooling: str = "cls"
    early_stopping_patience: int = 2
    # A local keras-nlp preset directory (e.g. a downloaded bert_base_multi) to fine-tune instead
    # of the encoder this pipeline pretrained.
    pretrained_preset_dir: Optional[str] = None
    random_init: bool = False
    shuffle_labels: bool = False
    seed: int = 0


    def __post_init__(self):
        if self.pooling not in ("cls", "mean"):
            raise ConfigError(f"finetuning.pooling: expected 'cls' or 'mean', got {self.pooling!r}")


@dataclasses.dataclass
class EvaluationConfig:
    # Which splits of the labelled data the Evaluator reads ("test" where the source has one).
    splits: list[str] = dataclasses.field(default_factory=lambda: ["eval"])
    min_accuracy: float = 0.0
    # No language may lose more than this (absolute accuracy, 0.05 = 5 points) against the
    # latest blessed model.
    max_language_drop: float = 0.05


@dataclasses.dataclass
class PushConfig:
    serving_dir: str = "serving"
    model_name: str = "mbert_classifier"


@dataclasses.dataclass
class VertexConfig:
    project: Optional[str] = None
    region: str = "us-central1"
    image: Optional[str] = None
    pipeline_root: Optional[str] = None
    # The service account scheduled runs use (`mbert schedule`); None = the project's default.
    service_account: Optional[str] = None
    # Beam arguments for the Beam stages on Vertex (e.g. --runner=DataflowRunner ...).
    beam_pipeline_args: list[str] = dataclasses.field(default_factory=list)
    # Resources of the two Trainer steps (Vertex schedules a matching machine).
    trainer_cpu_limit: float = 8.0
    trainer_memory_gib: float = 30.0
    trainer_accelerator_type: Optional[str] = None  # e.g. NVIDIA_TESLA_A100, TPU_V3
    trainer_accelerator_count: int = 0


BASE_MODEL_MODES = ("finetune", "continue-pretraining")


@dataclasses.dataclass
class BaseModelConfig:
    """Start from an existing BERT checkpoint instead of pretraining from scratch.

    The checkpoint's vocabulary replaces the vocabulary stage (same Vocabulary artifact), its
    casing the tokenizer's, its config the encoder preset. `finetune` skips pretraining;
    `continue-pretraining` runs the pretraining stage (MLM + NSP) from the checkpoint's encoder
    and heads on `pretraining_corpus` first.
    """

    format: str = ""  # bert-tf1 | huggingface | keras-hub
    # A local folder (relative to the config file) or gs://...
    path: str = ""
    mode: str = "finetune"
    # None = as the checkpoint says (its tokenizer files, folder name or vocabulary).
    lower_case: Optional[bool] = None

    def __post_init__(self):
        from components.base_model.formats import FORMATS

        if self.format not in FORMATS:
            raise ConfigError(f"base_model.format: expected one of {', '.join(FORMATS)}, "
                              f"got {self.format!r}")
        if not self.path:
            raise ConfigError("base_model.path: the checkpoint folder is required")
        if self.mode not in BASE_MODEL_MODES:
            raise ConfigError(f"base_model.mode: expected one of {', '.join(BASE_MODEL_MODES)}, "
                              f"got {self.mode!r}")


@dataclasses.dataclass
class PipelineConfig:
    pipeline_name: str = "mbert"
    pretraining_corpus: CorpusConfig = dataclasses.field(default_factory=CorpusConfig)
    # More text for pretraining, ingested on its own and read with pretraining_corpus as one
    # corpus by the vocabulary and the pretraining examples (train and eval splits only: a
    # test split, e.g. SIB-200's, is never read).
    extra_pretraining_corpus: Optional[CorpusConfig] = None
    labelled_data: CorpusConfig = dataclasses.field(default_factory=CorpusConfig)
    vocabulary: VocabularyConfig = dataclasses.field(default_factory=VocabularyConfig)
    pretraining_examples: PretrainingExamplesConfig = dataclasses.field(
        default_factory=PretrainingExamplesConfig)
    pretraining: PretrainingConfig = dataclasses.field(default_factory=PretrainingConfig)
    finetuning: FinetuningConfig = dataclasses.field(default_factory=FinetuningConfig)
    evaluation: EvaluationConfig = dataclasses.field(default_factory=EvaluationConfig)
    push: PushConfig = dataclasses.field(default_factory=PushConfig)
    vertex: VertexConfig = dataclasses.field(default_factory=VertexConfig)
    # Encoder and vocabulary from a checkpoint (Google TF1, Hugging Face, keras-hub); None =
    # learn the vocabulary and pretrain from scratch.
    base_model: Optional[BaseModelConfig] = None
    # Beam arguments for local runs; the runner adds multi-process DirectRunner defaults.
    beam_pipeline_args: list[str] = dataclasses.field(default_factory=list)
    # Which stages run: "ingestion" stops after statistics/schema/validation.
    stages: str = "all"

    def __post_init__(self):
        # Vertex AI's rule for pipeline names; holding it locally too keeps one config for both.
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,127}", self.pipeline_name):
            raise ConfigError(f"pipeline_name: {self.pipeline_name!r} must be lower-case letters, "
                              f"digits and '-' (Vertex AI's rule), e.g. 'mbert-demo'")
        if self.stages not in ("all", "ingestion"):
            raise ConfigError(f"stages: expected 'all' or 'ingestion', got {self.stages!r}")

    def pretrains(self) -> bool:
        """Whether the pretraining stage runs (from scratch or continued from base_model)."""
        return self.base_model is None or self.base_model.mode == "continue-pretraining"

    def base_model_length(self) -> tuple[int, str]:
        """The longest sequence fed to the base model's encoder, and the key that sets it."""
        lengths = [(self.finetuning.max_seq_length, "finetuning.max_seq_length")]
        if self.pretrains():
            lengths.append((self.pretraining_examples.max_seq_length,
                            "pretraining_examples.max_seq_length"))
        # On a tie the fine-tuning key wins, so both modes import with the same parameters (cached).
        return max(lengths, key=lambda item: item[0])


def _check_type(value: Any, annotation: Any, key: str) -> Any:
    """Returns value converted to annotation, or raises ConfigError naming key."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _check_type(value, inner, key)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__}")
        (inner,) = typing.get_args(annotation)
        return [_check_type(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__}")
        return _from_dict(annotation, value, prefix=f"{key}.")
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is bool and not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if annotation in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{key}: expected {annotation.__name__}, got {value!r}")
    if not isinstance(value, annotation):
        raise ConfigError(
            f"{key}: expected {annotation.__name__}, got {type(value).__name__} ({value!r})")
    return value


def _from_dict(cls: type, data: dict, prefix: str = ""):
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"unknown key {prefix}{unknown[0]} (known keys under "
            f"{prefix.rstrip('.') or 'the top level'}: {', '.join(sorted(names))})")
    values = {k: _check_type(v, hints[k], f"{prefix}{k}") for k, v in data.items()}
    return cls(**values)


def config_from_dict(data: dict, base_dir: pathlib.Path | str = ".") -> PipelineConfig:
    """Builds a PipelineConfig from a mapping; relative input paths resolve against base_dir."""
    if not isinstance(data, dict):
        raise ConfigError("the configuration must be a mapping at the top level")
    config = _from_dict(PipelineConfig, data)
    base = pathlib.Path(base_dir)
    for section in CORPUS_SECTIONS:
        corpus = getattr(config, section)
        if corpus is None:
            continue
        corpus.inputs = [str((base / p).resolve()) if not _is_remote(p) else p
                         for p in corpus.inputs]
    if config.base_model is not None and not _is_remote(config.base_model.path):
        config.base_model.path = str((base / config.base_model.path).resolve())
    return config


def load_config(path: pathlib.Path | str = DEFAULT_CONFIG) -> PipelineConfig:
    """Reads a YAML config; relative paths inside it are relative to the file."""
    path = pathlib.Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from e
    try:
        return config_from_dict(data, base_dir=path.parent)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from e


def _is_remote(path: str) -> bool:
    return "://" in path


def check_inputs_exist(config: PipelineConfig) -> None:
    """Raises ConfigError naming the key of the first local input that does not exist."""
    for section in CORPUS_SECTIONS:
        if getattr(config, section) is None:
            continue
        for i, path in enumerate(getattr(config, section).inputs):
            if _is_remote(path) or "{" in path:  # span patterns resolve when ingestion runs
                continue
            if not pathlib.Path(path).exists():
                raise ConfigError(f"{section}.inputs[{i}]: path does not exist: {path}")
    preset_dir = config.finetuning.pretrained_preset_dir
    if preset_dir and not _is_remote(preset_dir) and not pathlib.Path(preset_dir).exists():
        raise ConfigError(f"finetuning.pretrained_preset_dir: path does not exist: {preset_dir}")
    base_model = config.base_model
    if base_model and not _is_remote(base_model.path) and not pathlib.Path(base_model.path).is_dir():
        raise ConfigError(f"base_model.path: no such folder: {base_model.path}")


def config_to_dict(config: PipelineConfig) -> dict:
    return dataclasses.asdict(config)
