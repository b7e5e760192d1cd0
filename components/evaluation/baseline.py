"""The baseline for the push gate: the latest blessed model other than the candidate itself.

TFX's LatestBlessedModelStrategy returns the newest blessed model, which on a re-run with
unchanged inputs is the (cached) candidate itself: the Evaluator would then see a new baseline,
re-run, and compare the model with itself. Leaving the candidate out keeps a re-run with
unchanged inputs fully cached, and a new candidate is still compared with the model it would
replace.

A backfill (`mbert run --span N`) compares with the model blessed at that time: the newest
blessed model trained on an earlier span (the span property of the Examples its Trainer read;
inputs without span patterns count as span 0), not one trained on later data.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy)

MODEL_KEY = "model"
BLESSING_KEY = "model_blessing"
CANDIDATE_KEY = "candidate"
EXAMPLES_KEY = "examples"  # the Trainer's input whose span a model was trained on
_INPUT_EVENTS = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)
_OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)


def training_span(store: mlmd.MetadataStore, model_id: int) -> int:
    """The newest span among the Examples the Trainer that produced the model read (0 when
    they have none)."""
    producers = [e.execution_id for e in store.get_events_by_artifact_ids([model_id])
                 if e.type in _OUTPUT_EVENTS]
    example_ids = [e.artifact_id for e in store.get_events_by_execution_ids(producers)
                   if e.type in _INPUT_EVENTS and e.path.steps and e.path.steps[0].key == EXAMPLES_KEY]
    spans = [a.properties["span"].int_value for a in store.get_artifacts_by_id(example_ids)
             if "span" in a.properties]
    return max(spans, default=0)


class LatestBlessedOtherModelStrategy(LatestBlessedModelStrategy):
    """Resolves the newest blessed Model whose id is not among the `candidate` channel's.

    Args (the Resolver's `config`):
      before_span: None, or a backfill's span: only models trained on an earlier span count.
    """

    def __init__(self, before_span: Optional[int] = None):
        self._before_span = before_span

    def resolve_artifacts(self, store, input_dict: Dict[str, List[types.Artifact]]
                          ) -> Optional[Dict[str, List[types.Artifact]]]:
        candidate_ids = {artifact.id for artifact in input_dict.get(CANDIDATE_KEY, [])}
        models = [m for m in input_dict[MODEL_KEY] if m.id not in candidate_ids]
        if self._before_span is not None:
            models = [m for m in models if training_span(store, m.id) < self._before_span]
        result = self._resolve({MODEL_KEY: models, BLESSING_KEY: list(input_dict[BLESSING_KEY])},
                               MODEL_KEY, BLESSING_KEY)
        result[CANDIDATE_KEY] = list(input_dict.get(CANDIDATE_KEY, []))
        return result
