"""Issue 12 diagnosis: is the zero-shot gap a language *offset* that a fixed projection removes?

Frozen encoder, mean-pooled vectors of each layer (embeddings, then each transformer layer),
logistic regression trained on English SIB-200 train rows, tested on all 16 languages' test rows.
Three views of the same vectors:
  raw       as the encoder gives them;
  centered  each language's mean subtracted (the mean of its *train* rows' vectors, no labels;
            needs the language at prediction time; Libovicky et al. 2019);
  projected the directions that separate the language means removed by one fixed projection
            (SVD of the centered language means, rank 15 for 16 languages; no language needed
            at prediction time; Xie et al. 2022's low-rank language subspace).
Prints one JSON line per (encoder, layer, view, C).

    PYTHONPATH=. .venv/bin/python notes/scripts/language_subspace_probe.py LABELLED_EXAMPLES ENCODER_DIR...

ENCODER_DIR: a pretraining Trainer's `Format-Serving` folder, or `random:<encoder dir>` for
the same architecture with fresh weights.
"""

import json
import sys

import numpy as np
import tensorflow as tf
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from components.finetuning import data
from models.encoder import build_encoder, config_from_backbone, load_pretrained_encoder
from models.packer import SegmentPacker
from models.serving import sanitize_text, default_max_input_chars
from models.tokenizer import load_tokenizer

examples_uri, encoder_dirs = sys.argv[1], sys.argv[2:]
split = {s: data.read_split([f"{examples_uri}/Split-{s}/*"]) for s in ("train", "test")}
labels = data.label_vocabulary(split["train"])
ids = {s: data.label_ids(v, labels) for s, v in split.items()}
lang = {s: split[s].language for s in split}


def scores(pred):
    y, language = ids["test"], lang["test"]
    by = {code: (float((pred[language == code] == y[language == code]).mean()),
                 float(f1_score(y[language == code], pred[language == code], average="macro")))
          for code in sorted(set(language))}
    non = [v for k, v in by.items() if k != "en"]
    return {"en_acc": round(by["en"][0], 4), "non_en_acc": round(float(np.mean([a for a, _ in non])), 4),
            "non_en_f1": round(float(np.mean([f for _, f in non])), 4),
            "by_language": {k: round(v[0], 3) for k, v in by.items()}}


def layer_means(encoder, featurize, texts):
    """Mean-pooled vectors of every layer: list (one per layer) of float32 [rows, hidden]."""
    out = None
    for i in range(0, len(texts), 128):
        x = featurize(tf.constant(texts[i:i + 128]))
        mask = tf.cast(x["padding_mask"], tf.float32)[..., None]
        tokens = encoder.token_embedding(x["token_ids"])
        h = encoder.embeddings_layer_norm(encoder.embeddings_add((
            tokens, encoder.position_embedding(tokens), encoder.segment_embedding(x["segment_ids"]))))
        pooled = [h]
        for layer in encoder.transformer_layers:
            h = layer(h, padding_mask=x["padding_mask"])
            pooled.append(h)
        pooled = [(tf.reduce_sum(tf.cast(p, tf.float32) * mask, 1) / tf.reduce_sum(mask, 1)).numpy()
                  for p in pooled]
        out = pooled if out is None else [np.concatenate([a, b]) for a, b in zip(out, pooled)]
    return out


def views(train, test):
    """(name, train vectors, test vectors) of the three views."""
    codes = sorted(set(lang["train"]))
    means = {c: train[lang["train"] == c].mean(0) for c in codes}
    centered = [train - np.stack([means[c] for c in lang["train"]]),
                test - np.stack([means[c] for c in lang["test"]])]
    matrix = np.stack([means[c] for c in codes])
    matrix = matrix - matrix.mean(0)
    _, _, vt = np.linalg.svd(matrix, full_matrices=False)
    basis = vt[:len(codes) - 1]  # (L-1, H)
    project = lambda v: v - (v @ basis.T) @ basis
    return [("raw", train, test), ("centered", *centered), ("projected", project(train), project(test))]


english = lang["train"] == "en"
for spec in encoder_dirs:
    random_init = spec.startswith("random:")
    encoder_dir = spec.split(":", 1)[1] if random_init else spec
    encoder = load_pretrained_encoder(encoder_dir)
    if random_init:
        encoder = build_encoder(config_from_backbone(encoder))
    tokenizer = load_tokenizer(encoder_dir)
    packer = SegmentPacker(128, tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id)
    featurize = lambda text: packer.pack(tokenizer.tokenize(sanitize_text(text, default_max_input_chars(128))))
    feats = {s: layer_means(encoder, featurize, split[s].text.tolist()) for s in split}
    for layer in range(len(feats["train"])):
        for name, train, test in views(feats["train"][layer], feats["test"][layer]):
            for C in (0.1, 1.0, 10.0):
                model = LogisticRegression(C=C, max_iter=3000).fit(train[english], ids["train"][english])
                print(json.dumps({"encoder": spec, "layer": layer, "view": name, "C": C,
                                  **scores(model.predict(test))}), flush=True)
