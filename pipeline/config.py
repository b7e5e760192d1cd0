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
import os
import pathlib
import re
from typing import Optional

import yaml

from components import settings
# Each stage's settings live with the stage (components/<stage>/config.py); this file puts them
# together as the YAML's sections and adds what only the pipeline knows (paths, cross-section
# checks).
from components.base_model.config import BaseModelConfig
from components.compression.config import CompressionConfig
from components.evaluation.config import EvaluationConfig
from components.finetuning.config import FinetuningConfig
from components.ingestion.config import CorpusConfig
from components.pretraining.config import PretrainingConfig
from components.pretraining_examples.config import PretrainingExamplesConfig
from components.push.config import PushConfig
from components.settings import ConfigError, setting
from components.vocabulary.config import VocabularyConfig

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIGS_DIR = REPO_ROOT / "configs"
DEFAULT_CONFIG = CONFIGS_DIR / "demo.yaml"


# The config sections that name input corpora.
CORPUS_SECTIONS = ("pretraining_corpus", "extra_pretraining_corpus", "labelled_data")


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
        if self.pretraining.alignment_weight > 0 and not self.pretraining_examples.parallel_sentences:
            yield "pretraining.alignment_weight", ("needs the aligned sentences: set "
                                                   "pretraining_examples.parallel_sentences: true")
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


def config_from_dict(data: dict, base_dir: pathlib.Path | str = ".") -> PipelineConfig:
    """Builds a PipelineConfig from a mapping; relative paths resolve against base_dir.

    Raises:
      ConfigError: listing every problem found (unknown keys, wrong types, values out of
        range, serving_dir outside the allowed places), one line each, naming the key.
    """
    if not isinstance(data, dict):
        raise ConfigError("the configuration must be a mapping at the top level")
    problems: list[str] = []
    config = settings.build(PipelineConfig, data, "", problems)
    problems += settings.rule_problems(config)
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
