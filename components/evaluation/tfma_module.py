"""Evaluator user module (`Evaluator(module_path=...)`): TF Text ops loaded before the model.

The exported model tokenises in its graph with tensorflow-text ops (FastBertNormalize,
FastWordpieceTokenizeWithOffsets); `tf.saved_model.load` fails with "Op type not registered"
unless tensorflow_text was imported in that process first. TFMA 0.47 tries that import itself,
but best-effort: when it fails it only logs at INFO level and the load fails later, deep inside
Beam. Through this module the Evaluator imports tensorflow_text as a hard requirement (a missing
package fails at start with an ImportError naming it), and the model loader it returns is a
function of this module, so a Beam worker process that unpickles the loader imports this module,
and with it tensorflow_text, before it loads the model.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import tensorflow_model_analysis as tfma
import tensorflow_text  # noqa: F401  (registers the TF Text ops the serving graph uses)


def _construct_with_tf_text(construct_fn: Callable[[], Any]) -> Any:
    import tensorflow_text as _  # noqa: F401  (worker processes: ops before the load)

    return construct_fn()


def custom_eval_shared_model(eval_saved_model_path: str, model_name: str,
                             eval_config: tfma.EvalConfig, **kwargs) -> tfma.EvalSharedModel:
    """TFX Evaluator calls this: TFMA's default shared model, loaded with TF Text ops."""
    shared = tfma.default_eval_shared_model(
        eval_saved_model_path=eval_saved_model_path, model_name=model_name,
        eval_config=eval_config, **kwargs)
    loader = shared.model_loader
    return shared._replace(model_loader=tfma.types.ModelLoader(
        construct_fn=functools.partial(_construct_with_tf_text, loader.construct_fn),
        tags=loader.tags))
