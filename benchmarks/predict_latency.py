"""`mbert bench predict-latency`: p50/p99 latency of a served model's `predict_text`.

Runs in the calling (fresh) process with only TensorFlow + tensorflow-text loaded, as a model
server would; times single calls of the `predict_text` signature on one sentence and on a batch
of 32, after warm-up calls (the first calls trace and allocate). Prints one JSON line.
"""

from __future__ import annotations

import json
import pathlib
import time

import click

from components.compression.latency import SENTENCES, load_predict_text, percentiles, time_calls


@click.command(help="p50/p99 latency of predict_text for batch 1 and batch 32 (one JSON line).")
@click.option("--model", "model_path", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=pathlib.Path),
              help="A SavedModel folder, or <serving_dir>/<model_name> (newest version).")
@click.option("--iterations", default=300, show_default=True, type=click.IntRange(min=10))
@click.option("--warmup", default=20, show_default=True, type=click.IntRange(min=1))
def predict_latency(model_path: pathlib.Path, iterations: int, warmup: int) -> None:
    import tensorflow as tf

    if not (model_path / "saved_model.pb").exists():
        from components.push.publish import newest_version_dir

        model_path = newest_version_dir(model_path)
    started = time.perf_counter()
    predict = load_predict_text(str(model_path))
    load_s = time.perf_counter() - started
    batches = {
        "batch_1": tf.constant(SENTENCES[:1]),
        "batch_32": tf.constant((SENTENCES * 2)[:32]),
    }
    result = {"model": str(model_path), "load_s": round(load_s, 3),
              "threads": tf.config.threading.get_intra_op_parallelism_threads()}
    for name, batch in batches.items():
        result[name] = percentiles(time_calls(predict, batch, iterations, warmup))
    click.echo(json.dumps(result))
