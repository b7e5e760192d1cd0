"""MBertTrainer: TFX's Trainer with the Vocabulary artifact as a declared input.

Both Trainers (pretraining, fine-tuning) tokenise with the pipeline's vocabulary. Declared as an
input, it is recorded in ML Metadata (vocabulary -> Trainer -> model lineage), takes part in the
cache key, and reaches `run_fn` as `fn_args.custom_config["vocab_dir"]` (the artifact's uri):
no path arithmetic over other artifacts.

The stage's settings travel as one value: its config dataclass as JSON in
`custom_config["config"]` (`custom_config`), read back by `run_fn` with `read_custom_config`,
which checks it by the same rules as the YAML (components/settings.py).
"""

from typing import Any, Optional, TypeVar

from tfx.components.trainer import executor as trainer_executor
from tfx.dsl.components.base import base_component, executor_spec
from tfx.proto import trainer_pb2
from tfx.types import artifact_utils, channel, component_spec, standard_artifacts
from tfx.types import standard_component_specs as specs
from tfx.utils import json_utils

from components import settings
from components.vocabulary.artifact import Vocabulary

VOCABULARY_KEY = "vocabulary"
VOCAB_DIR_KEY = "vocab_dir"  # the custom_config key run_fn reads
CONFIG_KEY = "config"  # the custom_config key holding the stage's config as JSON

T = TypeVar("T")


def custom_config(config: Any, **wiring: Any) -> dict[str, Any]:
    """A Trainer's custom_config: the stage's config as one JSON value, plus wiring (paths a
    runner resolves, such as a checkpoint folder)."""
    return {CONFIG_KEY: settings.to_json(config), **wiring}


def read_custom_config(cls: type[T], values: Optional[dict], where: str,
                       wiring: tuple[str, ...] = ()) -> tuple[T, dict[str, Any]]:
    """(the stage's config, the wiring values) from a Trainer's custom_config.

    Raises:
      ConfigError: a bad setting, named as in the YAML (`finetuning.batch_size: ...`).
      ValueError: a custom_config key that is neither the config nor known wiring.
    """
    values = dict(values or {})
    known = {CONFIG_KEY, VOCAB_DIR_KEY, *wiring}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{where} custom_config: unknown key {unknown[0]!r} (the settings go in "
                         f"{CONFIG_KEY!r} as one {cls.__name__} JSON value; known keys: {sorted(known)})")
    config = settings.from_json(cls, values.pop(CONFIG_KEY, ""), where)
    return config, values


class _Spec(specs.TrainerSpec):
    INPUTS = {**specs.TrainerSpec.INPUTS,
              VOCABULARY_KEY: component_spec.ChannelParameter(type=Vocabulary)}


class _Executor(trainer_executor.GenericExecutor):
    """Puts the vocabulary's uri into custom_config, then runs TFX's generic Trainer executor."""

    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802 (TFX's name)
        custom_config = json_utils.loads(exec_properties.get(specs.CUSTOM_CONFIG_KEY) or "null") or {}
        custom_config[VOCAB_DIR_KEY] = artifact_utils.get_single_uri(input_dict[VOCABULARY_KEY])
        exec_properties = {**exec_properties,
                           specs.CUSTOM_CONFIG_KEY: json_utils.dumps(custom_config)}
        super().Do(input_dict, output_dict, exec_properties)


class MBertTrainer(base_component.BaseComponent):
    """A Trainer (run_fn by module path) that also takes the Vocabulary artifact.

    Args:
      run_fn: module path of the training function (`package.module.run_fn`).
      examples: training data (Examples or PretrainingExamples channel).
      vocabulary: the Vocabulary channel the data and the model's tokenizer use.
      train_args, eval_args: splits and steps, as for TFX's Trainer.
      base_model: a Model channel to start from (optional).
      custom_config: settings for run_fn (JSON-serialisable); `vocab_dir` is added at run time.
    """

    SPEC_CLASS = _Spec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(_Executor)

    def __init__(self, run_fn: str, examples: channel.BaseChannel, vocabulary: channel.BaseChannel,
                 train_args: trainer_pb2.TrainArgs, eval_args: trainer_pb2.EvalArgs,
                 base_model: Optional[channel.BaseChannel] = None,
                 custom_config: Optional[dict] = None):
        if VOCAB_DIR_KEY in (custom_config or {}):
            raise ValueError(f"custom_config: {VOCAB_DIR_KEY!r} comes from the vocabulary input")
        spec = _Spec(
            examples=examples, vocabulary=vocabulary, base_model=base_model,
            train_args=train_args, eval_args=eval_args, run_fn=run_fn,
            custom_config=json_utils.dumps(custom_config or {}),
            model=channel.Channel(type=standard_artifacts.Model),
            model_run=channel.Channel(type=standard_artifacts.ModelRun))
        super().__init__(spec=spec)

