"""EvaluationConfig: the evaluation stage's settings, the YAML `evaluation:` section.

`component.create_evaluator` turns it into TFMA's EvalConfig, the one value the Evaluator gets.
"""

from __future__ import annotations

import dataclasses

from components.ingestion.records import ALL_SPLITS
from components.settings import fraction, setting


@dataclasses.dataclass
class EvaluationConfig:
    # Which splits of the labelled data the Evaluator reads ("test" where the source has one).
    splits: list[str] = setting(default_factory=lambda: ["eval"], choices=ALL_SPLITS)
    min_accuracy: float = fraction(0.0)
    # No language may lose more than this (absolute accuracy, 0.05 = 5 points) against the
    # latest blessed model.
    max_language_drop: float = fraction(0.05)
