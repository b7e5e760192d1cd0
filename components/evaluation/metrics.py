"""TFMA metrics on the argmax prediction: macro-F1 and per-class recall.

TFMA's own `F1Score` / `Recall` count a class as predicted when its probability is >= 0.5, which
the winner of a 7-way softmax often is not; and its macro averaging cannot be combined with
`top_k=1`. These two metrics read one shared argmax confusion matrix instead (TFMA's
`multi_class_confusion_matrices` at threshold 0.0, i.e. the top class is always the prediction).
The Evaluator imports this module by name (`MetricConfig.module`).
"""

from __future__ import annotations

from typing import Dict, Optional

import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.metrics import metric_util
from tensorflow_model_analysis.metrics import multi_class_confusion_matrix_metrics as mcm

MACRO_F1 = "macro_f1"
CLASS_RECALL = "class_recall"
_MATRIX = "_argmax_confusion_matrix"
_ARGMAX = 0.0  # threshold at which the top class always counts as predicted


def _counts(matrix: Dict, num_classes: Optional[int]):
    """(true positives, support, predicted) per class id from {MatrixEntryKey: count}.

    Without num_classes, the classes are 0..the highest id seen as a label or a prediction.
    """
    if num_classes is None:
        ids = [i for entry in matrix for i in entry]
        num_classes = max(ids) + 1 if ids else 0
    tp, support, predicted = [0.0] * num_classes, [0.0] * num_classes, [0.0] * num_classes
    for entry, count in matrix.items():
        actual, guess = entry.actual_class_id, entry.predicted_class_id
        if 0 <= actual < num_classes:
            support[actual] += count
            if actual == guess:
                tp[actual] += count
        if 0 <= guess < num_classes:
            predicted[guess] += count
    return tp, support, predicted


def macro_f1_from_matrix(matrix: Dict, num_classes: Optional[int] = None) -> float:
    """Unweighted mean F1 over classes that have examples or predictions (NaN if none)."""
    tp, support, predicted = _counts(matrix, num_classes)
    scores = [2.0 * tp[c] / (support[c] + predicted[c])
              for c in range(len(tp)) if support[c] + predicted[c] > 0]
    return sum(scores) / len(scores) if scores else float("nan")


def _matrix_computations(eval_config, model_name, output_name, example_weighted):
    computations = mcm.multi_class_confusion_matrices(
        thresholds=[_ARGMAX], name=_MATRIX, eval_config=eval_config, model_name=model_name,
        output_name=output_name, example_weighted=example_weighted)
    return computations, computations[-1].keys[-1]


def _macro_f1(num_classes: Optional[int] = None, name: str = MACRO_F1,
              eval_config: Optional[tfma.EvalConfig] = None, model_name: str = "",
              output_name: str = "", example_weighted: bool = False):
    key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                                 example_weighted=example_weighted)
    computations, matrix_key = _matrix_computations(
        eval_config, model_name, output_name, example_weighted)

    def result(metrics):
        return {key: macro_f1_from_matrix(metrics[matrix_key].get(_ARGMAX, {}), num_classes)}

    computations.append(metric_types.DerivedMetricComputation(keys=[key], result=result))
    return computations


def _class_recall(num_classes: int, name: str = CLASS_RECALL,
                  eval_config: Optional[tfma.EvalConfig] = None, model_name: str = "",
                  output_name: str = "", example_weighted: bool = False):
    keys = [metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                                   sub_key=metric_types.SubKey(class_id=c),
                                   example_weighted=example_weighted)
            for c in range(num_classes)]
    computations, matrix_key = _matrix_computations(
        eval_config, model_name, output_name, example_weighted)

    def result(metrics):
        tp, support, _ = _counts(metrics[matrix_key].get(_ARGMAX, {}), num_classes)
        # A class without examples in a slice has no recall there: NaN, not 0.
        return {key: (tp[c] / support[c] if support[c] else float("nan"))
                for c, key in enumerate(keys)}

    computations.append(metric_types.DerivedMetricComputation(keys=keys, result=result))
    return computations


class MacroF1(tfma.metrics.Metric):
    """Macro-averaged F1 of the argmax prediction.

    Averages over class ids 0..num_classes-1 that have examples or predictions in the slice;
    without num_classes, over the ids seen.
    """

    def __init__(self, num_classes: Optional[int] = None, name: str = MACRO_F1):
        super().__init__(metric_util.merge_per_key_computations(_macro_f1), num_classes=num_classes, name=name)


class ClassRecall(tfma.metrics.Metric):
    """Recall of each class id (sub-key `classId:<i>`): share of its examples predicted as it."""

    def __init__(self, num_classes: int, name: str = CLASS_RECALL):
        super().__init__(metric_util.merge_per_key_computations(_class_recall), num_classes=num_classes, name=name)


metric_types.register_metric(MacroF1)
metric_types.register_metric(ClassRecall)
