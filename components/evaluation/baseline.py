"""The baseline for the push gate: the latest blessed model other than the candidate itself.

TFX's LatestBlessedModelStrategy returns the newest blessed model, which on a re-run with
unchanged inputs is the (cached) candidate itself: the Evaluator would then see a new baseline,
re-run, and compare the model with itself. Leaving the candidate out keeps a re-run with
unchanged inputs fully cached, and a new candidate is still compared with the model it would
replace.
"""

from __future__ import annotations

from typing import Dict, List, Optional

from tfx import types
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy)

MODEL_KEY = "model"
BLESSING_KEY = "model_blessing"
CANDIDATE_KEY = "candidate"


class LatestBlessedOtherModelStrategy(LatestBlessedModelStrategy):
    """Resolves the newest blessed Model whose id is not among the `candidate` channel's."""

    def resolve_artifacts(self, store, input_dict: Dict[str, List[types.Artifact]]
                          ) -> Optional[Dict[str, List[types.Artifact]]]:
        candidate_ids = {artifact.id for artifact in input_dict.get(CANDIDATE_KEY, [])}
        models = [m for m in input_dict[MODEL_KEY] if m.id not in candidate_ids]
        result = self._resolve({MODEL_KEY: models, BLESSING_KEY: list(input_dict[BLESSING_KEY])},
                               MODEL_KEY, BLESSING_KEY)
        result[CANDIDATE_KEY] = list(input_dict.get(CANDIDATE_KEY, []))
        return result
