"""The TFMA EvalConfig of the push gate: metrics sliced overall, by language and by label.

The gate (both conditions must hold for every slice they name):
  * value threshold: accuracy >= `min_accuracy` overall and in every language slice;
  * change threshold: against the baseline (the latest blessed model, from a resolver), accuracy
    may not fall by more than `max_language_drop` (absolute; 0.05 = 5 points) overall or in any
    language slice. TFX rubber-stamps the first model: without a baseline, change thresholds
    are skipped.

The served model outputs string labels; TFMA's multi-class metrics want class ids, so the model's
`transformed_labels` signature (models/serving.py) maps the `label` feature to `label_index`
through the model's own labels.txt, and TFMA reads that as the label (a preprocessing function).
"""

from __future__ import annotations

import json
from typing import Sequence

import tensorflow_model_analysis as tfma

from components.evaluation import metrics
from models.serving import LABEL_INDEX_KEY

ACCURACY = "sparse_categorical_accuracy"
MACRO_F1 = metrics.MACRO_F1  # argmax F1 per class id, averaged with equal weight
CLASS_RECALL = metrics.CLASS_RECALL  # per class id: share of its examples predicted as it
SIGNATURE = "serving_default"
PREPROCESSING_SIGNATURE = "transformed_labels"


def _slices(language_key: str, languages: Sequence[str] | None) -> list[tfma.SlicingSpec]:
    if languages:
        return [tfma.SlicingSpec(feature_values={language_key: tag}) for tag in languages]
    return [tfma.SlicingSpec(feature_keys=[language_key])]


def build_eval_config(label_key: str = "label", min_accuracy: float = 0.0,
                      max_language_drop: float = 0.05, languages: Sequence[str] | None = None,
                      num_classes: int | None = None, language_key: str = "language",
                      prediction_key: str = "probabilities") -> tfma.EvalConfig:
    """Builds the EvalConfig for the Evaluator.

    Args:
      label_key: the string label feature, sliced on (`label:<name>` slices); the model maps it
        to class ids itself (see module docstring).
      min_accuracy: lowest accuracy accepted overall and in every gated language slice.
      max_language_drop: largest accuracy drop (absolute) accepted against the baseline,
        overall and in every gated language slice.
      languages: the language tags the gate applies to; None gates every language present.
        Metrics are computed for every language either way.
      num_classes: number of labels (class ids 0..num_classes-1). With it, per-class recall
        (`class_recall`, sub-key classId:<i>) is computed; without it, macro-F1 averages over
        the class ids seen. Per-class recall is also the accuracy of each `label:<name>` slice,
        which needs no class count.
      language_key: the language feature (components/contracts.py `LANGUAGE`).
      prediction_key: the probabilities output of the serving signature.

    Returns:
      A tfma.EvalConfig with one candidate model spec (TFX adds the baseline spec when a
      baseline model is given).
    """
    if not 0.0 <= min_accuracy <= 1.0:
        raise ValueError(f"min_accuracy must be in [0, 1], got {min_accuracy}")
    if not 0.0 <= max_language_drop <= 1.0:
        raise ValueError(f"max_language_drop must be in [0, 1] (0.05 = 5 points), "
                         f"got {max_language_drop}")
    if num_classes is not None and num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    gated = [tfma.SlicingSpec()] + _slices(language_key, languages)
    accuracy_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": min_accuracy}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            # TFMA compares candidate - baseline against this bound.
            absolute={"value": -max_language_drop}),
    )
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(
            signature_name=SIGNATURE,
            model_type=tfma.TF_GENERIC,
            label_key=LABEL_INDEX_KEY,
            prediction_key=prediction_key,
            preprocessing_function_names=[PREPROCESSING_SIGNATURE],
        )],
        slicing_specs=[
            tfma.SlicingSpec(),
            tfma.SlicingSpec(feature_keys=[language_key]),
            tfma.SlicingSpec(feature_keys=[label_key]),
        ],
        metrics_specs=[
            tfma.MetricsSpec(metrics=[
                tfma.MetricConfig(class_name="ExampleCount"),
                tfma.MetricConfig(
                    class_name="SparseCategoricalAccuracy",
                    per_slice_thresholds=[tfma.PerSliceMetricThreshold(
                        slicing_specs=gated, threshold=accuracy_threshold)]),
            ]),
            tfma.MetricsSpec(metrics=[
                tfma.MetricConfig(class_name=metric.__name__, module=metrics.__name__,
                                  config=json.dumps({"num_classes": num_classes}))
                for metric in ([metrics.MacroF1] if num_classes is None
                               else [metrics.MacroF1, metrics.ClassRecall])
            ]),
        ],
    )
