"""Issue 12 probe (notes/crosslingual.md, "The alignment objective"): can the aligned sentences of
the pretraining corpus alone put the languages' word pieces in one space?

Learns a word-piece embedding table (vocabulary size x 128, nothing else) with the multi-way
contrastive loss of `models.pretraining_model.alignment_loss` on the sentences that all 16
languages share (NTREX-128 lines, SIB-200 train/dev rows by index_id; never SIB-200 test), then
a logistic regression on each SIB-200 row's mean piece embedding, trained on the English train
rows and tested on every language's test rows, before (random table) and after. Writes the
table to OUT/embeddings.npy. One JSON line per result.

    PYTHONPATH=. .venv/bin/python notes/scripts/bag_alignment_probe.py VOCAB_DIR LABELLED_EXAMPLES \
        STEPS TEMPERATURE OUT [NTREX_DIR SIB200_DIR]
"""

import csv
import json
import pathlib
import sys
import time

import keras
import numpy as np
import tensorflow as tf
from sklearn.linear_model import LogisticRegression

from components.finetuning import data
from components.pretraining_examples.tokenizers import load_tokenizer_fn
from models.pretraining_model import alignment_loss

vocab_dir, examples_uri, steps, temperature = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
out = pathlib.Path(sys.argv[5])
ntrex = pathlib.Path(sys.argv[6] if len(sys.argv) > 6 else "../shared/data/ntrex")
sib200 = pathlib.Path(sys.argv[7] if len(sys.argv) > 7 else "../shared/data/sib200")
out.mkdir(parents=True, exist_ok=True)
tokenize = load_tokenizer_fn(vocab_dir)
vocab_size = sum(1 for _ in open(f"{vocab_dir}/vocab.txt", encoding="utf-8"))
GROUPS, PIECES, HIDDEN = 32, 64, 128

# Sentences all 16 languages share: NTREX lines, SIB-200 train/dev rows.
columns = [path.read_text(encoding="utf-8").splitlines() for path in sorted(ntrex.glob("newstest2019-*.txt"))]
sentences = [list(row) for row in zip(*columns)]
folders = sorted(p for p in sib200.iterdir() if p.is_dir())
by_index = {}
for k, folder in enumerate(folders):
    for split in ("train", "dev"):
        with open(folder / f"{split}.tsv", encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                by_index.setdefault(row["index_id"], [None] * len(folders))[k] = row["text"]
sentences += [texts for texts in by_index.values() if all(texts)]
languages = len(columns)
ids = np.zeros((len(sentences), languages, PIECES), np.int32)
for n, pieces in enumerate(tokenize([text for texts in sentences for text in texts])):
    ids[n // languages, n % languages, :len(pieces[:PIECES])] = pieces[:PIECES]
print(json.dumps({"aligned_sentences": len(sentences), "languages": languages}), flush=True)

table = tf.Variable(tf.random.normal((vocab_size, HIDDEN), stddev=0.02, seed=0))
optimizer = keras.optimizers.Adam(3e-3)


def bags(x):
    """Mean piece embedding, padding (0) and the special ids (< 4) left out."""
    weights = tf.cast(x > 3, tf.float32)[..., None]
    return tf.reduce_sum(tf.gather(table, x) * weights, -2) / tf.maximum(tf.reduce_sum(weights, -2), 1.0)


@tf.function
def step(x):
    with tf.GradientTape() as tape:
        loss, correct, count = alignment_loss(bags(x), tf.cast(tf.reduce_any(x > 0, -1), tf.float32), temperature)
    optimizer.apply_gradients(zip(tape.gradient(loss, [table]), [table]))
    return loss, correct / count


split = {s: data.read_split([f"{examples_uri}/Split-{s}/*"]) for s in ("train", "test")}
labels = data.label_vocabulary(split["train"])
y = {s: data.label_ids(v, labels) for s, v in split.items()}
row_pieces = {s: tokenize([t.decode("utf-8") for t in split[s].text]) for s in split}


def features(s):
    x = np.zeros((len(row_pieces[s]), 128), np.int32)
    for i, pieces in enumerate(row_pieces[s]):
        x[i, :len(pieces[:128])] = pieces[:128]
    return bags(tf.constant(x)).numpy()


def probe(tag):
    f = {s: features(s) for s in split}
    english = split["train"].language == "en"
    language = split["test"].language
    for c in (1.0, 10.0, 100.0):
        pred = LogisticRegression(C=c, max_iter=3000).fit(f["train"][english], y["train"][english]).predict(f["test"])
        accuracy = {code: float((pred[language == code] == y["test"][language == code]).mean())
                    for code in sorted(set(language))}
        print(json.dumps({"table": tag, "C": c, "en": round(accuracy["en"], 3),
                          "non_en": round(float(np.mean([v for k, v in accuracy.items() if k != "en"])), 3),
                          "by_language": {k: round(v, 3) for k, v in accuracy.items()}}), flush=True)


probe("random")
rng = np.random.default_rng(0)
started = time.time()
for i in range(1, steps + 1):
    loss, accuracy = step(tf.constant(ids[rng.choice(len(sentences), GROUPS, replace=False)]))
    if i % 500 == 0:
        print(json.dumps({"step": i, "loss": round(float(loss), 3), "retrieval": round(float(accuracy), 3),
                          "s": round(time.time() - started)}), flush=True)
probe(f"aligned_{steps}")
np.save(out / "embeddings.npy", table.numpy())
