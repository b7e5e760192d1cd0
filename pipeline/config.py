"""Pipeline settings: dataclasses loaded from YAML, checked before anything runs.

Two layers of configuration: these pipeline settings, and the model's own `EncoderConfig`
(models/encoder_config.py) named here by preset. Loading reports every problem at once, one line
each, naming the key: unknown keys, wrong types (`pretraining.batch_size: expected int, got str`),
values outside the range, choices or check declared with the field (`setting(...)`: every
number has a range, floats must be finite, language codes must be known tags), cross-key
conflicts, a `push.serving_dir` outside the places allowed, and YAML aliases (refused) - so a typo
fails in a second rather than an hour into a run. `mbert` prints the lines and exits 2.
"""

from __future__ import annotations

import dataclasses
import math
import operator
import os
import pathlib
import re
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, Optional

import yaml

from components.base_model.formats import FORMATS as CHECKPOINT_FORMATS
from components.ingestion.languages import normalize_language
from components.ingestion.readers import FORMATS as CORPUS_FORMATS
from components.ingestion.records import ALL_SPLITS
from components.vocabulary.learner import SPECIAL_TOKENS
from models.encoder_config import PRESETS, EncoderConfig

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIGS_DIR = REPO_ROOT / "configs"
DEFAULT_CONFIG = CONFIGS_DIR / "demo.yaml"


# The config sections that name input corpora.
CORPUS_SECTIONS = ("pretraining_corpus", "extra_pretraining_corpus", "labelled_data")


class ConfigError(ValueError):
    """One or more configuration problems; each names its key (`problems`, one line each)."""

    def __init__(self, problems: str | Sequence[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


# Integers without a tighter bound must fit an int32 (TensorFlow's default integer).
INT_MAX = 2**31 - 1
SEED_MAX = 2**32 - 1  # what numpy and TensorFlow take as a seed
# Encoder shape overrides above this are typos, not models (the base preset is 768 wide).
ENCODER_INT_MAX = 65536


@dataclasses.dataclass(frozen=True)
class _Rule:
    """What a setting's value may be: a range (inclusive `minimum`/`maximum`, exclusive
    `above`/`below`), one of `choices`, or what `check` accepts (it returns a problem or None).
    A list value is checked item by item."""

    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    below: float | None = None
    choices: tuple | None = None
    check: Callable[[Any], str | None] | None = None

    def problems(self, key: str, value: Any) -> list[str]:
        if isinstance(value, list):
            return [problem for i, item in enumerate(value) for problem in self.problems(f"{key}[{i}]", item)]
        problem = self._problem(value)
        return [f"{key}: {problem}"] if problem else []

    def _problem(self, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be a finite number, got {value}"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            maximum = self.maximum
            if maximum is None and self.below is None and isinstance(value, int):
                maximum = INT_MAX
            for bound, holds, words in ((self.minimum, operator.ge, ">="), (maximum, operator.le, "<="),
                                        (self.above, operator.gt, ">"), (self.below, operator.lt, "<")):
                if bound is not None and not holds(value, bound):
                    return f"must be {words} {bound}, got {value}"
        if self.choices is not None and value not in self.choices:
            return f"expected one of {', '.join(map(str, self.choices))}, got {value!r}"
        return self.check(value) if self.check is not None else None


def setting(default: Any = dataclasses.MISSING, *, default_factory: Any = dataclasses.MISSING,
            minimum: float | None = None, maximum: float | None = None, above: float | None = None,
            below: float | None = None, choices: Sequence | None = None,
            check: Callable[[Any], str | None] | None = None) -> Any:
    """A dataclass field with the rule its value must follow (see `_Rule`); the rules of every
    section are checked in one place, `config_problems`, when a config loads."""
    rule = _Rule(minimum, maximum, above, below, tuple(choices) if choices is not None else None, check)
    return dataclasses.field(default=default, default_factory=default_factory, metadata={"rule": rule})


def _language_tag(code: str) -> str | None:
    """Problem with a language code as the ingested data spells it (a normalised tag), or None."""
    if code == "all":
        return None
    tag = normalize_language(code)
    if tag is None:
        return f"unknown language code {code!r}"
    if tag != code:
        return f"{code!r} is spelled {tag!r} in the ingested data (normalised tags)"
    return None


def _folder_name(name: str) -> str | None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}", name):
        return f"{name!r} must be letters, digits, '_', '.' or '-' (it names a folder)"
    return None


def _fraction(default: float) -> Any:
    return setting(default, minimum=0.0, maximum=1.0)


def _learning_rate(default: float) -> Any:
    return setting(default, above=0.0, maximum=1.0)


@dataclasses.dataclass
class CorpusConfig:
    """One input corpus for the ingestion component."""

    format: str = setting("chatterbot", choices=CORPUS_FORMATS)
    # Files or folders; relative paths are resolved against the config file's folder.
    # Span patterns `{SPAN}`, `{YYYY}`/`{MM}`/`{DD}`, `{VERSION}` in a path are resolved by the
    # ingestion component when it runs (components/ingestion/spans.py): the newest span.
    inputs: list[str] = dataclasses.field(default_factory=list)
    max_chars: int = setting(20000, minimum=1, maximum=1_000_000)
    max_reject_ratio: float = _fraction(0.05)

    def _cross_problems(self):
        if not self.inputs and self.format != "chatterbot":
            yield "inputs", f"format {self.format!r} needs at least one input path"


@dataclasses.dataclass
class VocabularyConfig:
    vocab_size: int = setting(8000, minimum=100, maximum=2_000_000)
    smoothing: float = _fraction(0.7)
    lower_case: bool = False
    num_unused: int = setting(100, minimum=0, maximum=100_000)
    max_characters: int = setting(10000, minimum=1, maximum=1_000_000)
    # Unseen common Hangul / hanzi / kanji added for the scripts the corpus uses, so held-out
    # text stays off [UNK]; -1 = a twentieth of vocab_size, 0 = none.
    seed_characters: int = setting(-1, minimum=-1, maximum=1_000_000)

    def _cross_problems(self):
        # The special tokens, the [unusedN] ones and at least one character.
        if self.vocab_size < len(SPECIAL_TOKENS) + self.num_unused + 1:
            yield "vocab_size", (f"{self.vocab_size} leaves no room for text after the "
                                 f"{len(SPECIAL_TOKENS)} special tokens and num_unused={self.num_unused}")


@dataclasses.dataclass
class PretrainingExamplesConfig:
    # [CLS] a [SEP] b [SEP] needs 5 positions; 512 is BERT's position-embedding table.
    max_seq_length: int = setting(128, minimum=8, maximum=8192)
    short_seq_prob: float = _fraction(0.1)
    dupe_factor: int = setting(10, minimum=1, maximum=1000)
    smoothing: float = _fraction(0.7)
    # 0 = every b follows its a (no next-sentence task: set pretraining.next_sentence_prediction
    # false too).
    random_next_prob: float = _fraction(0.5)
    # Share of translation pairs (XLM's TLM) among the training instances, made from sentences
    # aligned across languages (NTREX lines, SIB-200 index_id); 0 = plain M-BERT.
    translation_fraction: float = _fraction(0.0)
    seed: int = setting(12345, minimum=0, maximum=SEED_MAX)


@dataclasses.dataclass
class PretrainingConfig:
    preset: str = setting("tiny", choices=sorted(PRESETS))
    train_steps: int = setting(1000, minimum=1)
    # 0 = the whole eval split.
    eval_steps: int = setting(20, minimum=0)
    batch_size: int = setting(32, minimum=1, maximum=65536)
    learning_rate: float = _learning_rate(1e-4)
    warmup_steps: int = setting(100, minimum=0)
    weight_decay: float = setting(0.01, minimum=0.0, maximum=1.0)
    # 0 = no clipping.
    clip_norm: float = setting(1.0, minimum=0.0)
    checkpoint_every: int = setting(500, minimum=1)
    mask_rate: float = setting(0.15, above=0.0, below=1.0)
    max_predictions: int = setting(20, minimum=1, maximum=8192)
    whole_word_masking: bool = False
    # BERT's next-sentence prediction; false = masked LM only (RoBERTa, XLM).
    next_sentence_prediction: bool = True
    # Encoder shape overrides of the preset (num_layers, hidden_dim, num_heads,
    # intermediate_dim, max_sequence_length, dropout).
    encoder: dict = dataclasses.field(default_factory=dict)
    shuffle_buffer: int = setting(10000, minimum=1, maximum=10_000_000)
    # "auto" turns bfloat16 / XLA on where the hardware supports them.
    mixed_precision: str = setting("auto", choices=("auto", "true", "false"))
    jit_compile: str = setting("auto", choices=("auto", "true", "false"))
    tpu: Optional[str] = None

    def encoder_config(self) -> EncoderConfig:
        """The encoder shape (vocab_size 1 stands in for the vocabulary's size, known only once
        it is built); ValueError names the bad override."""
        return EncoderConfig.preset(self.preset, 1, **self.encoder)

    def _cross_problems(self):
        if "vocab_size" in self.encoder:
            yield "encoder.vocab_size", "comes from the vocabulary; set vocabulary.vocab_size instead"
            return
        for name, value in self.encoder.items():
            if isinstance(value, int) and not isinstance(value, bool) and value > ENCODER_INT_MAX:
                yield f"encoder.{name}", f"must be <= {ENCODER_INT_MAX}, got {value}"
                return
        if self.preset in PRESETS:
            try:
                self.encoder_config()
            except ValueError as e:
                yield "encoder", str(e)


@dataclasses.dataclass
class FinetuningConfig:
    # Normalised language tags as the ingested data has them (`en`, `zh-Hans`), or "all".
    train_languages: list[str] = setting(default_factory=lambda: ["en"], check=_language_tag)
    max_seq_length: int = setting(128, minimum=8, maximum=8192)
    batch_size: int = setting(32, minimum=1, maximum=65536)
    learning_rate: float = _learning_rate(5e-5)
    epochs: int = setting(3, minimum=1, maximum=100_000)
    # Length in optimiser steps (0 = `epochs` passes over the rows), evaluated every eval_every
    # steps for early stopping and the best weights.
    train_steps: int = setting(0, minimum=0)
    eval_every: int = setting(100, minimum=1)
    dropout: float = setting(0.1, minimum=0.0, below=1.0)
    # "cls": BERT's pooled [CLS]; "mean": token vectors averaged (for an encoder pretrained
    # without next-sentence prediction, whose [CLS] and pooler never trained).
    pooling: str = setting("cls", choices=("cls", "mean"))
    # Keep the encoder's embedding layers as pretrained: fine-tuned on one language, the other
    # languages' word pieces then stay where pretraining put them (zero-shot transfer).
    freeze_embeddings: bool = False
    early_stopping_patience: int = setting(2, minimum=0)
    # What early stopping and the kept weights follow on the eval split: "loss" or "accuracy".
    early_stopping_metric: str = setting("loss", choices=("loss", "accuracy"))
    # A local keras-nlp preset directory (e.g. a downloaded bert_base_multi) to fine-tune instead
    # of the encoder this pipeline pretrained; relative to the config file.
    pretrained_preset_dir: Optional[str] = None
    random_init: bool = False
    shuffle_labels: bool = False
    seed: int = setting(0, minimum=0, maximum=SEED_MAX)
    # Most rows one call to the exported model may send; it bounds a request's memory.
    max_serving_batch: int = setting(1024, minimum=1, maximum=1_000_000)


@dataclasses.dataclass
class EvaluationConfig:
    # Which splits of the labelled data the Evaluator reads ("test" where the source has one).
    splits: list[str] = setting(default_factory=lambda: ["eval"], choices=ALL_SPLITS)
    min_accuracy: float = _fraction(0.0)
    # No language may lose more than this (absolute accuracy, 0.05 = 5 points) against the
    # latest blessed model.
    max_language_drop: float = _fraction(0.05)


@dataclasses.dataclass
class PushConfig:
    # Where pushed models go. Relative: inside the run's output folder (`..` may not leave it).
    # Absolute: inside this repository or the config file's folder, unless
    # allow_any_serving_dir is true. gs:// and other URLs are taken as they are.
    serving_dir: str = "serving"
    model_name: str = setting("mbert_classifier", check=_folder_name)
    allow_any_serving_dir: bool = False


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
    trainer_cpu_limit: float = setting(8.0, above=0.0, maximum=1024.0)
    trainer_memory_gib: float = setting(30.0, above=0.0, maximum=16384.0)
    trainer_accelerator_type: Optional[str] = None  # e.g. NVIDIA_TESLA_A100, TPU_V3
    trainer_accelerator_count: int = setting(0, minimum=0, maximum=64)


@dataclasses.dataclass
class CompressionConfig:
    """Distil the fine-tuned classifier into a smaller student, quantise it, and push it under its
    own model name when no language drops more than max_language_drop against the teacher and it
    answers faster (components/compression)."""

    # The student's encoder; 0 = half the teacher's layers (at least 1), the teacher's width.
    num_layers: int = setting(0, minimum=0, maximum=1000)
    hidden_dim: int = setting(0, minimum=0, maximum=65536)
    num_heads: int = setting(0, minimum=0, maximum=1024)
    intermediate_dim: int = setting(0, minimum=0, maximum=262144)
    # Softening of the teacher's distribution and the soft term's share of the loss.
    temperature: float = setting(2.0, above=0.0, maximum=100.0)
    soft_weight: float = _fraction(0.5)
    train_steps: int = setting(1000, minimum=1)
    batch_size: int = setting(32, minimum=1, maximum=65536)
    learning_rate: float = _learning_rate(5e-4)
    eval_every: int = setting(100, minimum=1)
    # Which evaluation's student is kept: "accuracy" (best eval accuracy) or "kl" (closest to
    # the teacher's distribution).
    keep_by: str = setting("accuracy", choices=("accuracy", "kl"))
    # Rows of the pretraining corpus's text the teacher labels for the soft term (0 = none).
    unlabelled_rows: int = setting(0, minimum=0)
    # "int8": weights (and per-call activations) of dense layers and embeddings in int8.
    quantize: str = setting("int8", choices=("int8", "none"))
    # No language may lose more accuracy than this (absolute, 0.02 = 2 points) against the teacher.
    max_language_drop: float = _fraction(0.02)
    # The compressed model's p50 latency must be below this share of the teacher's.
    max_latency_ratio: float = setting(1.0, above=0.0, maximum=1.0)
    # TF Serving name of the compressed model ("" = push.model_name + "_compressed").
    model_name: str = setting("", check=lambda value: _folder_name(value) if value else None)
    seed: int = setting(0, minimum=0, maximum=SEED_MAX)

    def _cross_problems(self):
        if self.hidden_dim and self.num_heads and self.hidden_dim % self.num_heads:
            yield "hidden_dim", f"{self.hidden_dim} is not a multiple of num_heads {self.num_heads}"

    def student(self) -> dict:
        """The student's EncoderConfig overrides (keys left at 0 are left out)."""
        return {key: getattr(self, key) for key in ("num_layers", "hidden_dim", "num_heads",
                                                    "intermediate_dim") if getattr(self, key)}


BASE_MODEL_MODES = ("finetune", "continue-pretraining")


@dataclasses.dataclass
class BaseModelConfig:
    """Start from an existing BERT checkpoint instead of pretraining from scratch.

    The checkpoint's vocabulary replaces the vocabulary stage (same Vocabulary artifact), its
    casing the tokenizer's, its config the encoder preset. `finetune` skips pretraining;
    `continue-pretraining` runs the pretraining stage (MLM + NSP) from the checkpoint's encoder
    and heads on `pretraining_corpus` first.
    """

    # bert-tf1 | huggingface | keras-hub
    format: str = setting("", choices=CHECKPOINT_FORMATS)
    # A local folder (relative to the config file) or gs://...
    path: str = setting("", check=lambda value: None if value else "the checkpoint folder is required")
    mode: str = setting("finetune", choices=BASE_MODEL_MODES)
    # None = as the checkpoint says (its tokenizer files, folder name or vocabulary).
    lower_case: Optional[bool] = None


@dataclasses.dataclass
class PipelineConfig:
    # Vertex AI's rule for pipeline names; holding it locally too keeps one config for both.
    pipeline_name: str = setting("mbert", check=lambda value: None if re.fullmatch(
        r"[a-z0-9][a-z0-9-]{0,127}", value) else (f"{value!r} must be lower-case letters, digits and '-' "
                                                  f"(Vertex AI's rule), e.g. 'mbert-demo'"))
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
    # Distil + quantise the fine-tuned classifier for cheaper serving; None = no compression.
    compression: Optional[CompressionConfig] = None
    # Beam arguments for local runs; the runner adds multi-process DirectRunner defaults.
    beam_pipeline_args: list[str] = dataclasses.field(default_factory=list)
    # Which stages run: "ingestion" stops after statistics/schema/validation.
    stages: str = setting("all", choices=("all", "ingestion"))

    def compressed_model_name(self) -> str:
        """The TF Serving name of the compressed model."""
        return (self.compression.model_name if self.compression and self.compression.model_name
                else f"{self.push.model_name}_compressed")

    def _cross_problems(self):
        if self.compression is not None and self.compressed_model_name() == self.push.model_name:
            yield "compression.model_name", (f"{self.push.model_name!r} is push.model_name: the "
                                             f"compressed model would replace the teacher in TF Serving")
        if self.compression is not None and self.compression.unlabelled_rows and not self.pretrains():
            yield "compression.unlabelled_rows", ("needs the pretraining corpus, which a "
                                                  "base_model in 'finetune' mode does not read")
        if self.base_model is not None:
            return  # The checkpoint sets the encoder; components/base_model/preflight.py checks lengths.
        try:
            positions = self.pretraining.encoder_config().max_sequence_length
        except ValueError:
            return  # reported under pretraining.encoder
        for key in ("pretraining_examples.max_seq_length", "finetuning.max_seq_length"):
            section, name = key.split(".")
            length = getattr(getattr(self, section), name)
            if length > positions:
                yield key, (f"{length} is longer than the encoder's {positions} positions "
                            f"(pretraining.encoder.max_sequence_length)")

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


def _check_type(value: Any, annotation: Any, key: str, problems: list[str]) -> Any:
    """Returns value converted to annotation, or raises ConfigError naming key.

    Problems inside a nested section are added to `problems` (the section is still built, from
    its valid keys), so that one load reports every problem.
    """
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _check_type(value, inner, key, problems)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__}")
        (inner,) = typing.get_args(annotation)
        return [_check_type(v, inner, f"{key}[{i}]", problems) for i, v in enumerate(value)]
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__}")
        return _from_dict(annotation, value, f"{key}.", problems)
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise ConfigError(f"{key}: number out of range: {value}") from None
    if annotation is bool and not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if annotation in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{key}: expected {annotation.__name__}, got {value!r}")
    if not isinstance(value, annotation):
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        raise ConfigError(f"{key}: expected {annotation.__name__}, got {type(value).__name__} ({shown})")
    return value


def _from_dict(cls: type, data: dict, prefix: str, problems: list[str]):
    """Builds cls from the keys of data that are known and of the right type; the others are
    added to problems (and left at their defaults)."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in sorted(set(data) - names, key=str):
        problems.append(f"unknown key {prefix}{key} (known keys under "
                        f"{prefix.rstrip('.') or 'the top level'}: {', '.join(sorted(names))})")
    values = {}
    for key, value in data.items():
        if key in names:
            try:
                values[key] = _check_type(value, hints[key], f"{prefix}{key}", problems)
            except ConfigError as e:
                problems.extend(e.problems)
    return cls(**values)


def config_problems(section: Any, prefix: str = "") -> list[str]:
    """Every rule of every setting (`setting(...)`) and every cross-key check of a section and
    the sections inside it, as one line per problem, each starting with its key."""
    problems = []
    for field in dataclasses.fields(section):
        value = getattr(section, field.name)
        key = f"{prefix}{field.name}"
        if dataclasses.is_dataclass(value):
            problems += config_problems(value, f"{key}.")
        elif "rule" in field.metadata:
            problems += field.metadata["rule"].problems(key, value)
    if not problems and hasattr(section, "_cross_problems"):
        # Cross-key checks assume each key is valid on its own.
        problems += [f"{prefix}{key}: {message}" for key, message in section._cross_problems()]
    return problems


def config_from_dict(data: dict, base_dir: pathlib.Path | str = ".") -> PipelineConfig:
    """Builds a PipelineConfig from a mapping; relative paths resolve against base_dir.

    Raises:
      ConfigError: listing every problem found (unknown keys, wrong types, values out of
        range, serving_dir outside the allowed places), one line each, naming the key.
    """
    if not isinstance(data, dict):
        raise ConfigError("the configuration must be a mapping at the top level")
    problems: list[str] = []
    config = _from_dict(PipelineConfig, data, "", problems)
    problems += config_problems(config)
    base = pathlib.Path(base_dir).resolve()
    for section in CORPUS_SECTIONS:
        corpus = getattr(config, section)
        if corpus is None:
            continue
        corpus.inputs = [_resolve(base, p) for p in corpus.inputs]
    if config.base_model is not None and config.base_model.path:
        config.base_model.path = _resolve(base, config.base_model.path)
    if config.finetuning.pretrained_preset_dir:
        config.finetuning.pretrained_preset_dir = _resolve(base, config.finetuning.pretrained_preset_dir)
    try:
        config.push.serving_dir = _serving_dir(config.push, base)
    except ConfigError as e:
        problems += e.problems
    if problems:
        raise ConfigError(problems)
    return config


def _resolve(base: pathlib.Path, path: str) -> str:
    """path made absolute against base and normalised (URLs are left as they are)."""
    return path if _is_remote(path) else str((base / path).resolve())


def _serving_dir(push: PushConfig, base: pathlib.Path) -> str:
    """push.serving_dir normalised; ConfigError when it leaves the places it may be.

    Relative paths stay relative (the runner puts them under its output folder) and may not
    climb out of it; absolute ones must be inside the repository or the config file's folder
    (symbolic links resolved) unless push.allow_any_serving_dir.
    """
    path = push.serving_dir
    if _is_remote(path):
        return path
    if not path.strip():
        raise ConfigError("push.serving_dir: must name a folder")
    if not os.path.isabs(path):
        normal = os.path.normpath(path)
        if normal == "." or normal == ".." or normal.startswith(".." + os.sep):
            raise ConfigError(f"push.serving_dir: {path!r} must name a folder inside the run's output "
                              f"folder (relative paths may not leave it)")
        return normal
    resolved = pathlib.Path(path).resolve()
    if push.allow_any_serving_dir or any(resolved.is_relative_to(place) for place in (REPO_ROOT, base)):
        return str(resolved)
    raise ConfigError(f"push.serving_dir: {resolved} is outside this repository ({REPO_ROOT}) and the "
                      f"config's folder ({base}); use a relative path (inside the output folder), or set "
                      f"push.allow_any_serving_dir: true")


# A config is a few dozen lines; the limits stop a hostile file before it costs anything.
MAX_CONFIG_BYTES = 1 << 20
MAX_YAML_DEPTH = 20


def _check_yaml_shape(text: str) -> None:
    """Raises ConfigError on YAML aliases (`*name`: nested ones expand exponentially, the
    "billion laughs"), on nesting deeper than MAX_YAML_DEPTH and on a key given twice in one
    mapping (YAML keeps the last silently); reads events only, so nothing is expanded or built."""
    # One entry per open collection: for a mapping, [keys seen, whether the next node is a key];
    # None for a sequence.
    open_collections: list[list | None] = []
    for event in yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            raise ConfigError(f"line {line}: YAML aliases (*{event.anchor}) are not allowed in a config; "
                              f"write the value out")
        if isinstance(event, yaml.CollectionEndEvent):
            open_collections.pop()
            continue
        if not isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)):
            continue
        parent = open_collections[-1] if open_collections else None
        if parent is not None:
            keys, is_key = parent
            if is_key and isinstance(event, yaml.ScalarEvent):
                if event.value in keys:
                    raise ConfigError(f"line {line}: key {event.value!r} appears twice in one mapping")
                keys.add(event.value)
            parent[1] = not is_key
        if isinstance(event, yaml.CollectionStartEvent):
            open_collections.append([set(), True] if isinstance(event, yaml.MappingStartEvent) else None)
            if len(open_collections) > MAX_YAML_DEPTH:
                raise ConfigError(f"line {line}: nested deeper than {MAX_YAML_DEPTH} levels")


def load_config(path: pathlib.Path | str = DEFAULT_CONFIG) -> PipelineConfig:
    """Reads a YAML config; relative paths inside it are relative to the file.

    Raises:
      ConfigError: one line per problem, each starting with the file's path.
    """
    path = pathlib.Path(path)
    try:
        if not path.is_file():  # a FIFO or a device would block or never end
            raise ConfigError(f"cannot read config {path}: not a regular file")
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes, not a config")
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    try:
        _check_yaml_shape(text)
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        # PyYAML's message spans lines; one problem is one line.
        raise ConfigError(f"{path}: invalid YAML: {' '.join(str(e).split())}") from e
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from e
    try:
        return config_from_dict(data, base_dir=path.parent)
    except ConfigError as e:
        raise ConfigError([f"{path}: {problem}" for problem in e.problems]) from e


def _is_remote(path: str) -> bool:
    return "://" in path


def check_inputs_exist(config: PipelineConfig) -> None:
    """Raises ConfigError naming the key of every local input that does not exist."""
    problems = []
    for section in CORPUS_SECTIONS:
        if getattr(config, section) is None:
            continue
        for i, path in enumerate(getattr(config, section).inputs):
            if _is_remote(path) or "{" in path:  # span patterns resolve when ingestion runs
                continue
            if not pathlib.Path(path).exists():
                problems.append(f"{section}.inputs[{i}]: path does not exist: {path}")
    preset_dir = config.finetuning.pretrained_preset_dir
    if preset_dir and not _is_remote(preset_dir) and not pathlib.Path(preset_dir).exists():
        problems.append(f"finetuning.pretrained_preset_dir: path does not exist: {preset_dir}")
    base_model = config.base_model
    if base_model and not _is_remote(base_model.path) and not pathlib.Path(base_model.path).is_dir():
        problems.append(f"base_model.path: no such folder: {base_model.path}")
    if problems:
        raise ConfigError(problems)


def config_to_dict(config: PipelineConfig) -> dict:
    return dataclasses.asdict(config)
