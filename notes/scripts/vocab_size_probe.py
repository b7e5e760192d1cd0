"""Issue 12 diagnosis: does the 8k vocabulary cost the classifier its topic words?

For each vocabulary (a folder per size, learned by the pipeline's own Beam vocabulary stage on the
cross-lingual pretraining corpus), on SIB-200 (train -> test, 16 languages):
  bow      TF-IDF over the word pieces + logistic regression (C = 10), trained on English rows
           (zero-shot to the others) and on all 16 languages' rows: how much topic a bag of
           these pieces carries, with no encoder at all;
  ft_rand  a random-init `compact` encoder (2L/128H), mean pooling, fine-tuned on all 16
           languages' rows (STEPS = "1200") or on one language's (STEPS = "1200:en") for the steps (lr 1e-3, seq 128, batch 32, best weights by dev
           loss): what the network learns from the labels alone through this tokenisation.
Prints one JSON line per (vocabulary, probe).

    PYTHONPATH=. .venv/bin/python notes/scripts/vocab_size_probe.py LABELLED_EXAMPLES OUT STEPS[:LANG] VOCAB_DIR...
"""

import json
import pathlib
import sys
import time

import keras
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from components.finetuning import data
from components.finetuning import trainer_module as tm
from components.pretraining_examples.tokenizers import load_tokenizer_fn
from models.encoder import build_encoder, export_encoder
from models.encoder_config import EncoderConfig

examples_uri, out = sys.argv[1], pathlib.Path(sys.argv[2])
steps, _, train_language = sys.argv[3].partition(":")
steps, train_language = int(steps), train_language or "all"
vocab_dirs = sys.argv[4:]
split = {s: data.read_split([f"{examples_uri}/Split-{s}/*"]) for s in ("train", "eval", "test")}
labels = data.label_vocabulary(split["train"])
ids = {s: data.label_ids(v, labels) for s, v in split.items()}


def scores(pred):
    y, lang = ids["test"], split["test"].language
    by = {code: (float((pred[lang == code] == y[lang == code]).mean()),
                 float(f1_score(y[lang == code], pred[lang == code], average="macro")))
          for code in sorted(set(lang))}
    non = [v for k, v in by.items() if k != "en"]
    return {"en_acc": round(by["en"][0], 4), "non_en_acc": round(float(np.mean([a for a, _ in non])), 4),
            "non_en_f1": round(float(np.mean([f for _, f in non])), 4),
            "by_language": {k: round(v[0], 4) for k, v in by.items()}}


for vocab_dir in vocab_dirs:
    vocab_size = sum(1 for _ in open(f"{vocab_dir}/vocab.txt", encoding="utf-8"))
    tokenize = load_tokenizer_fn(vocab_dir)
    pieces = {s: tokenize([t.decode("utf-8") for t in split[s].text]) for s in split}
    english = split["train"].language == "en"
    words = sum(len(t.split()) for t in split["train"].text[english])
    fertility = sum(len(p) for p, e in zip(pieces["train"], english) if e) / words
    docs = {s: [" ".join(map(str, p)) for p in pieces[s]] for s in split}
    for train_on in ("en", "all") if train_language == "all" else ():
        mask = english if train_on == "en" else np.ones(len(docs["train"]), bool)
        vectorizer = TfidfVectorizer(token_pattern=r"\S+", sublinear_tf=True)
        features = vectorizer.fit_transform([d for d, m in zip(docs["train"], mask) if m])
        model = LogisticRegression(C=10, max_iter=3000).fit(features, ids["train"][mask])
        pred = model.predict(vectorizer.transform(docs["test"]))
        print(json.dumps({"vocab_size": vocab_size, "probe": f"bow_{train_on}",
                          "en_pieces_per_word": round(fertility, 3), **scores(pred)}), flush=True)
    started = time.time()
    run = out / f"v{vocab_size}_{train_language}"
    keras.utils.set_random_seed(0)
    export_encoder(build_encoder(EncoderConfig.preset("compact", vocab_size, max_sequence_length=128,
                                                      dropout=0.0)), run / "encoder", vocab_dir)
    params = tm.finetuning_config({"train_languages": [train_language], "pooling": "mean", "max_seq_length": 128,
                                   "learning_rate": 1e-3, "train_steps": steps, "eval_every": 200,
                                   "early_stopping_patience": 5})
    tm.finetune([f"{examples_uri}/Split-train/*"], [f"{examples_uri}/Split-eval/*"],
                str(run / "serving"), str(run / "run"), params, base_model=str(run / "encoder"),
                vocab_dir=vocab_dir)
    import tensorflow as tf

    served = tf.saved_model.load(str(run / "serving"))
    texts = split["test"].text.tolist()
    pred = np.concatenate([served.signatures["predict_text"](text=tf.constant(texts[i:i + 256]))["label_id"].numpy()
                           for i in range(0, len(texts), 256)])
    print(json.dumps({"vocab_size": vocab_size, "probe": f"ft_rand_{train_language}", "steps": steps,
                      "seconds": round(time.time() - started), **scores(pred)}), flush=True)
