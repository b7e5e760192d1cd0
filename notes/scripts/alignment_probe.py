"""Diagnosis for issue 12 (notes/crosslingual.md, "An explicit alignment objective"): does a
translation-ranking (contrastive, in-batch negatives) objective on parallel sentences align the
languages of the pretrained encoder, so that a linear probe trained on English transfers?

    PYTHONPATH=. .venv/bin/python notes/scripts/alignment_probe.py ENCODER_DIR LABELLED_EXAMPLES OUT \
        STEPS pretrained|random LEARNING_RATE USE_SIB200_TRAIN_DEV(0|1)

Parallel rows: NTREX-128 lines (16-way) and, with 1, SIB-200 train+dev rows by index_id (never
test). Each step: 32 rows, two random languages each, mean-pooled encodings, symmetric InfoNCE at
temperature 0.05. Then the probe of transfer_probe.py (English train rows -> every language's
test rows). One JSON line per 50 steps and per probe.
"""
import json, pathlib, sys, time, random as pyrandom
import numpy as np, tensorflow as tf, keras
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from components.finetuning import data
from models.encoder import load_pretrained_encoder, build_encoder, config_from_backbone
from models.classifier import build_classifier
from models.serving import ServingModule, write_labels

encoder_dir, examples_uri, out = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
steps = int(sys.argv[4]); init = sys.argv[5]; lr = float(sys.argv[6]); use_sib = sys.argv[7] == "1"
out.mkdir(parents=True, exist_ok=True)
split = {s: data.read_split([f"{examples_uri}/Split-{s}/*"]) for s in ("train", "test")}
labels = data.label_vocabulary(split["train"])
ids = {s: data.label_ids(v, labels) for s, v in split.items()}
labels_file = write_labels(labels, out / "labels.txt")

ntrex = pathlib.Path("../shared/data/ntrex")
files = sorted(ntrex.glob("newstest2019-*.txt"))
columns = [f.read_text(encoding="utf-8").splitlines() for f in files]
rows = [list(r) for r in zip(*columns)]
if use_sib:
    sib = pathlib.Path("../shared/data/sib200")
    by_id = {}
    for d in sorted(p for p in sib.iterdir() if p.is_dir()):
        for part in ("train.tsv", "dev.tsv"):
            for line in (d / part).read_text(encoding="utf-8").splitlines()[1:]:
                idx, _, text = line.split("\t", 2)
                by_id.setdefault(idx, []).append(text)
    rows += [v for v in by_id.values() if len(v) == 16]
print(json.dumps({"parallel_rows": len(rows), "languages": len(files)}), flush=True)

pretrained = load_pretrained_encoder(encoder_dir)
encoder = pretrained if init == "pretrained" else build_encoder(config_from_backbone(pretrained))
module = ServingModule(build_classifier(encoder, len(labels), pooling="mean"), encoder_dir, labels_file, 128)

def pooled(x, training):
    seq = encoder(x, training=training)["sequence_output"]
    m = tf.cast(x["padding_mask"], seq.dtype)[..., None]
    return tf.reduce_sum(seq * m, 1) / tf.reduce_sum(m, 1)

opt = keras.optimizers.AdamW(learning_rate=lr, weight_decay=0.01)
# Pre-tokenise every row of every language once: [rows, 16, 128] per input.
flat = [t for r in rows for t in r]
parts = [module.featurize(tf.constant(flat[i:i + 512])) for i in range(0, len(flat), 512)]
TOK = {k: np.concatenate([p[k].numpy() for p in parts]).reshape(len(rows), 16, -1) for k in parts[0]}
print("tokenised", {k: v.shape for k, v in TOK.items()}, flush=True)

@tf.function
def step_fn(a, b):
    with tf.GradientTape() as tape:
        za = tf.math.l2_normalize(pooled(a, True), -1); zb = tf.math.l2_normalize(pooled(b, True), -1)
        logits = tf.matmul(za, zb, transpose_b=True) / 0.05
        y = tf.range(tf.shape(logits)[0])
        loss = (tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))
                + tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(y, tf.transpose(logits), from_logits=True))) / 2
    vs = [v for v in encoder.trainable_variables if "pooled_dense" not in v.path]
    grads = tape.gradient(loss, vs)
    grads, _ = tf.clip_by_global_norm(grads, 1.0)
    opt.apply_gradients(zip(grads, vs))
    return loss
rng = pyrandom.Random(0)
t0 = time.time(); losses = []
for step in range(steps):
    idx = np.array(rng.sample(range(len(rows)), 32))
    pairs = np.array([rng.sample(range(16), 2) for _ in idx])
    a = {k: tf.constant(v[idx, pairs[:, 0]]) for k, v in TOK.items()}
    b = {k: tf.constant(v[idx, pairs[:, 1]]) for k, v in TOK.items()}
    loss = step_fn(a, b)
    losses.append(float(loss))
    if (step + 1) % 50 == 0:
        print(json.dumps({"step": step + 1, "loss": round(float(np.mean(losses[-50:])), 4), "s": round(time.time() - t0)}), flush=True)

def features(s):
    texts = split[s].text.tolist(); feats = []
    for i in range(0, len(texts), 128):
        feats.append(pooled(module.featurize(tf.constant(texts[i:i + 128])), False).numpy())
    return np.concatenate(feats)
F = {s: features(s) for s in split}
en = split["train"].language == "en"
for C in (0.1, 1.0, 10.0):
    clf = LogisticRegression(C=C, max_iter=3000).fit(F["train"][en], ids["train"][en])
    pred = clf.predict(F["test"]); y = ids["test"]; lang = split["test"].language
    res = {c: float((pred[lang == c] == y[lang == c]).mean()) for c in sorted(set(lang))}
    f1 = {c: float(f1_score(y[lang == c], pred[lang == c], average="macro")) for c in sorted(set(lang))}
    print(json.dumps({"init": init, "steps": steps, "sib": use_sib, "C": C, "en_acc": round(res["en"], 3),
                      "non_en_acc": round(float(np.mean([v for k, v in res.items() if k != "en"])), 3),
                      "non_en_f1": round(float(np.mean([v for k, v in f1.items() if k != "en"])), 3),
                      "by_lang": {k: round(v, 2) for k, v in res.items()}}), flush=True)
