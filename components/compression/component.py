"""TFX adapters of the compression stage (compress.py): StudentDistillation and CompressionGate.

teacher Model (fine-tuning Trainer) ─> StudentDistillation ─> Evaluator (baseline = the teacher,
by language) ─> CompressionGate (+ teacher blessing, + latency) ─> Pusher (own model name)
"""

import json

from absl import logging
from tfx import v1 as tfx
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import path_utils

from components import settings
from components.compression import compress as compress_lib
from components.compression import latency
from components.compression.config import CompressionConfig
from components.push.component import is_blessed, saved_model_dir

InputArtifact = tfx.dsl.components.InputArtifact
OutputArtifact = tfx.dsl.components.OutputArtifact
Parameter = tfx.dsl.components.Parameter


def _split_files(examples, split: str) -> list[str]:
    if split not in artifact_utils.decode_split_names(examples.split_names):
        raise ValueError(f"{examples.uri}: the Examples have no {split!r} split")
    return [f"{artifact_utils.get_split_uri([examples], split)}/*"]


@tfx.dsl.components.component
def StudentDistillation(
    teacher: InputArtifact[standard_artifacts.Model],
    examples: InputArtifact[standard_artifacts.Examples],
    model: OutputArtifact[standard_artifacts.Model],
    model_run: OutputArtifact[standard_artifacts.ModelRun],
    unlabelled_examples: InputArtifact[standard_artifacts.Examples] = None,
    config: Parameter[str] = "",
) -> None:
    """Distils the fine-tuned teacher into a smaller student and quantises it.

    Args:
      teacher: the fine-tuning Trainer's model.
      examples: the labelled Examples (train rows to learn from, eval rows to keep the best).
      model: the model to serve (Format-Serving), int8 unless quantize is "none".
      model_run: distillation_summary.json (history, sizes) and the float student.
      unlabelled_examples: text without labels for the soft term (the pretraining corpus).
      config: CompressionConfig as JSON (components/compression/config.py; "" = the defaults).
    """
    unlabelled = _split_files(unlabelled_examples, "train") if unlabelled_examples is not None else []
    summary = compress_lib.compress(
        saved_model_dir(teacher), _split_files(examples, "train"), _split_files(examples, "eval"),
        path_utils.serving_model_dir(model.uri), model_run.uri,
        settings.from_json(CompressionConfig, config, "compression"), unlabelled)
    for name, size in summary["size_bytes"].items():
        model.set_int_custom_property(f"{name}_size_bytes", size)
    model.set_int_custom_property("student_layers", summary["student_encoder"]["num_layers"])


@tfx.dsl.components.component
def CompressionGate(
    model: InputArtifact[standard_artifacts.Model],
    model_blessing: InputArtifact[standard_artifacts.ModelBlessing],
    teacher: InputArtifact[standard_artifacts.Model],
    teacher_blessing: InputArtifact[standard_artifacts.ModelBlessing],
    blessing: OutputArtifact[standard_artifacts.ModelBlessing],
    max_latency_ratio: Parameter[float] = 1.0,
    latency_calls: Parameter[int] = 200,
) -> None:
    """Blesses the compressed model for its Pusher: teacher blessed, no language dropped more
    than allowed against the teacher (the Evaluator's blessing), and faster per sentence.

    Records `blessed` (0/1), `reasons`, `teacher_p50_ms` and `compressed_p50_ms`.
    """
    measured = latency.compare({"teacher": latency.load_predict_text(saved_model_dir(teacher)),
                                "compressed": latency.load_predict_text(saved_model_dir(model))},
                               iterations=latency_calls)
    blessed, reasons = compress_lib.push_decision(
        is_blessed(teacher_blessing), is_blessed(model_blessing), measured, max_latency_ratio)
    logging.info("compression gate: %s %s %s", "blessed" if blessed else "not blessed", reasons, measured)
    blessing.set_int_custom_property("blessed", int(blessed))
    blessing.set_string_custom_property("reasons", json.dumps(reasons))
    blessing.set_string_custom_property("current_model", model.uri)
    blessing.set_float_custom_property("teacher_p50_ms", measured["teacher"]["p50_ms"])
    blessing.set_float_custom_property("compressed_p50_ms", measured["compressed"]["p50_ms"])
