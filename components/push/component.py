"""The Pusher: blessed models only, into a TF Serving model folder (see publish.py)."""

from absl import logging
from tfx import v1 as tfx
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components.push import publish

InputArtifact = tfx.dsl.components.InputArtifact
OutputArtifact = tfx.dsl.components.OutputArtifact
Parameter = tfx.dsl.components.Parameter


def is_blessed(model_blessing) -> bool:
    """True when the Evaluator blessed the model (custom property `blessed` == 1)."""
    return (model_blessing.has_custom_property("blessed")
            and model_blessing.get_int_custom_property("blessed") == 1)


def saved_model_dir(model) -> str:
    """The SavedModel folder of a Model artifact (TFX's Format-Serving layout, or the old one)."""
    return path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))


@component
def MBertPusher(
    model: InputArtifact[standard_artifacts.Model],
    model_blessing: InputArtifact[standard_artifacts.ModelBlessing],
    pushed_model: OutputArtifact[standard_artifacts.PushedModel],
    serving_dir: Parameter[str],
    model_name: Parameter[str],
    models_config_base_path: Parameter[str] = "",
) -> None:
    """Publishes a blessed model as the next version and rewrites models.config.

    Args:
      model: the fine-tuned Model (serving SavedModel under its Format-Serving folder).
      model_blessing: the Evaluator's verdict; a NOT_BLESSED model is not pushed.
      pushed_model: records `pushed` (0/1), `pushed_version`, `pushed_destination`.
      serving_dir: the TF Serving base folder.
      model_name: folder and TF Serving name of the model.
      models_config_base_path: serving_dir as TF Serving sees it (e.g. `/models` in a
        container); empty = serving_dir's absolute path.
    """
    if not is_blessed(model_blessing):
        logging.info("model %s is not blessed: not pushed", model.uri)
        pushed_model.set_int_custom_property("pushed", 0)
        return
    source = saved_model_dir(model)
    version, target = publish.publish_version(source, serving_dir, model_name)
    publish.write_models_config(serving_dir, models_config_base_path or None)
    logging.info("pushed %s as %s", source, target)
    pushed_model.set_int_custom_property("pushed", 1)
    pushed_model.set_string_custom_property("pushed_version", str(version))
    pushed_model.set_string_custom_property("pushed_destination", str(target))
