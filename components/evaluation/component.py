"""The evaluation stage for `create_pipeline`: latest-blessed-model resolver + Evaluator."""

from __future__ import annotations

from typing import Sequence

from tfx import v1 as tfx

from components.evaluation import eval_config as eval_config_lib
from components.evaluation import tfma_module
from components.evaluation.baseline import LatestBlessedOtherModelStrategy

EVAL_MODULE_PATH = tfma_module.__name__


def latest_blessed_model_resolver(name: str = "latest_blessed_model_resolver", candidate=None,
                                  before_span: int | None = None):
    """A Resolver whose `model` output is the newest blessed Model (empty on the first run).

    Args:
      name: the node id.
      candidate: the Trainer's `model` channel. When given, the candidate itself is never its
        own baseline (baseline.py), so a re-run with unchanged inputs stays fully cached. Local
        runs use it; Vertex/Kubeflow compile only TFX's stock strategy.
      before_span: a backfill's span (local runs): the baseline is the newest blessed model
        trained on an earlier span, the one in service when that span first arrived.
    """
    channels = dict(
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    )
    if candidate is None:
        return tfx.dsl.Resolver(
            strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy, **channels).with_id(name)
    return tfx.dsl.Resolver(
        strategy_class=LatestBlessedOtherModelStrategy,
        # The IR holds no None: the strategy's default stands for "no backfill".
        config={} if before_span is None else {"before_span": before_span},
        candidate=candidate, **channels
    ).with_id(name)


def create_evaluator(examples, model, baseline_model=None, *, min_accuracy: float = 0.0,
                     max_language_drop: float = 0.05, languages: Sequence[str] | None = None,
                     num_classes: int | None = None, example_splits: Sequence[str] = ("eval",),
                     component_id: str = "Evaluator") -> tfx.components.Evaluator:
    """The TFX Evaluator gating the push by language (see eval_config.build_eval_config).

    Args:
      examples: Examples channel with the labelled eval data (components/contracts.py).
      model: the fine-tuning Trainer's `model` channel.
      baseline_model: the resolver's `model` channel (latest blessed), or None.
      example_splits: which splits to evaluate ("eval" by default; ["test"] for SIB-200 test).
    """
    config = eval_config_lib.build_eval_config(
        min_accuracy=min_accuracy, max_language_drop=max_language_drop, languages=languages,
        num_classes=num_classes)
    return tfx.components.Evaluator(
        examples=examples,
        model=model,
        baseline_model=baseline_model,
        eval_config=config,
        example_splits=list(example_splits),
        # Imported in the Evaluator's process: registers the TF Text ops before model loading.
        module_path=EVAL_MODULE_PATH,
    ).with_id(component_id)
