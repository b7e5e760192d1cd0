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
import numpy as np

_SENTENCES = [
    "The new stadium will host the final match of the season next spring.",
    "Die Regierung hat am Montag ein neues Gesetz zur Energiepolitik vorgestellt.",
    "Les chercheurs ont découvert une nouvelle espèce de grenouille en Amazonie.",
    "El museo abrirá una exposición dedicada a la pintura del siglo XIX.",
    "Врачи рекомендуют больше двигаться и меньше сидеть.",
    "科学家们在南极发现了一种新的微生物。",
    "旅客可以在車站購買前往山區的火車票。",
    "観光客は古い町並みを歩いて楽しんだ。",
    "선수들은 결승전을 앞두고 마지막 훈련을 했다.",
    "أعلنت الحكومة عن خطة جديدة لدعم السياحة.",
    "खिलाड़ियों ने फाइनल मैच से पहले अभ्यास किया।",
    "নতুন হাসপাতালটি আগামী মাসে খোলা হবে।",
    "นักท่องเที่ยวจำนวนมากเดินทางมาเที่ยวทะเลในช่วงฤดูร้อน",
    "Seçim sonuçları yarın açıklanacak.",
    "Οι επιστήμονες μελετούν τις αλλαγές του κλίματος.",
    "Watalii wengi hutembelea mbuga za wanyama kila mwaka.",
]


def _percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = np.asarray(samples_s) * 1000.0
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "calls": len(ms)}


@click.command(help="p50/p99 latency of predict_text for batch 1 and batch 32 (one JSON line).")
@click.option("--model", "model_path", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=pathlib.Path),
              help="A SavedModel folder, or <serving_dir>/<model_name> (newest version).")
@click.option("--iterations", default=300, show_default=True, type=click.IntRange(min=10))
@click.option("--warmup", default=20, show_default=True, type=click.IntRange(min=1))
def predict_latency(model_path: pathlib.Path, iterations: int, warmup: int) -> None:
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the graph's tokenizer ops)

    if not (model_path / "saved_model.pb").exists():
        from components.push.publish import newest_version_dir

        model_path = newest_version_dir(model_path)
    started = time.perf_counter()
    predict = tf.saved_model.load(str(model_path)).signatures["predict_text"]
    load_s = time.perf_counter() - started
    batches = {
        "batch_1": tf.constant(_SENTENCES[:1]),
        "batch_32": tf.constant((_SENTENCES * 2)[:32]),
    }
    result = {"model": str(model_path), "load_s": round(load_s, 3),
              "threads": tf.config.threading.get_intra_op_parallelism_threads()}
    for name, batch in batches.items():
        for _ in range(warmup):
            predict(text=batch)["probabilities"].numpy()
        samples = []
        for _ in range(iterations):
            start = time.perf_counter()
            predict(text=batch)["probabilities"].numpy()
            samples.append(time.perf_counter() - start)
        result[name] = _percentiles(samples)
    click.echo(json.dumps(result))
