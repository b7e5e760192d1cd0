"""Latency of a served model's `predict_text`: the harness of `mbert bench predict-latency`, the
compression gate and `mbert bench compress`.

Times single calls (one sentence, or a batch) after warm-up calls (the first calls trace and
allocate), in the calling process, with only TensorFlow + tensorflow-text loaded for the model.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

# One news-style sentence per language of the shared data, so that every script is tokenised.
SENTENCES = [
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


def load_predict_text(model_dir: str) -> Callable:
    """The `predict_text` signature of a serving SavedModel (tensorflow-text ops registered)."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the graph's tokenizer ops)

    return tf.saved_model.load(str(model_dir)).signatures["predict_text"]


def percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = np.asarray(samples_s) * 1000.0
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "calls": len(ms)}


def time_calls(predict: Callable, batch, iterations: int, warmup: int) -> list[float]:
    """Seconds per call of predict(text=batch), after `warmup` untimed calls."""
    for _ in range(warmup):
        predict(text=batch)["probabilities"].numpy()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        predict(text=batch)["probabilities"].numpy()
        samples.append(time.perf_counter() - start)
    return samples


def compare(predicts: dict[str, Callable], iterations: int = 200, warmup: int = 20,
            rounds: int = 5) -> dict[str, dict[str, float]]:
    """p50/p99 of single-sentence calls for several models, measured in alternating rounds so
    that a noisy neighbour slows them all alike; the sentence changes from call to call."""
    import tensorflow as tf

    sentences = [tf.constant([s]) for s in SENTENCES]
    samples: dict[str, list[float]] = {name: [] for name in predicts}
    per_round = max(1, iterations // rounds)
    for name, predict in predicts.items():
        time_calls(predict, sentences[0], 0, warmup)
    for _ in range(rounds):
        for name, predict in predicts.items():
            for i in range(per_round):
                samples[name] += time_calls(predict, sentences[i % len(sentences)], 1, 0)
    return {name: percentiles(values) for name, values in samples.items()}
