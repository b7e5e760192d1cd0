"""Diagnosis for issue 12 (notes/crosslingual.md): what does the pretrained encoder give a classifier?

Linear probe (frozen mean-pooled features + logistic regression) and fine-tuning runs, pretrained
vs random init, English SIB-200 train -> 16-language SIB-200 test. Usage (repository root):

    PYTHONPATH=. .venv/bin/python notes/scripts/transfer_probe.py ENCODER_DIR LABELLED_EXAMPLES OUT probe
    PYTHONPATH=. .venv/bin/python notes/scripts/transfer_probe.py ENCODER_DIR LABELLED_EXAMPLES OUT \
        'ft:<lr>:<random 0|1>:<steps>[:<json of more fine-tuning params>]'

ENCODER_DIR: a pretraining Trainer's `model/<id>/Format-Serving`; LABELLED_EXAMPLES: the
labelled ingestion's Examples folder (Split-train, Split-eval, Split-test). One JSON line a result.
"""
import json, pathlib, sys, time
import numpy as np, tensorflow as tf, keras
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from components.finetuning import data, trainer_module as tm
from models.encoder import load_pretrained_encoder, build_encoder, config_from_backbone
from models.classifier import build_classifier
from models.serving import ServingModule, write_labels

encoder_dir, examples_uri, out = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
mode = sys.argv[4] if len(sys.argv) > 4 else "probe"
out.mkdir(parents=True, exist_ok=True)
split = {s: data.read_split([f"{examples_uri}/Split-{s}/*"]) for s in ("train", "eval", "test")}
labels = data.label_vocabulary(split["train"])
ids = {s: data.label_ids(v, labels) for s, v in split.items()}
en = {s: split[s].language == "en" for s in split}

def scores(pred, s="test"):
    y, lang = ids[s], split[s].language
    res = {}
    for code in sorted(set(lang)):
        m = lang == code
        res[code] = (float((pred[m] == y[m]).mean()), float(f1_score(y[m], pred[m], average="macro")))
    non = [v for k, v in res.items() if k != "en"]
    return {"en_acc": res["en"][0], "non_en_acc": float(np.mean([a for a, _ in non])),
            "non_en_f1": float(np.mean([f for _, f in non]))}

def features(encoder, s):
    labels_file = write_labels(labels, out / "labels.txt")
    clf = build_classifier(encoder, len(labels), pooling="mean")
    module = ServingModule(clf, encoder_dir, labels_file, 128)
    feats = []
    texts = split[s].text.tolist()
    for i in range(0, len(texts), 128):
        x = module.featurize(tf.constant(texts[i:i + 128]))
        seq = encoder(x, training=False)["sequence_output"]
        m = tf.cast(x["padding_mask"], seq.dtype)[..., None]
        feats.append((tf.reduce_sum(seq * m, 1) / tf.reduce_sum(m, 1)).numpy())
    return np.concatenate(feats).astype(np.float32)

if mode == "probe":
    pretrained = load_pretrained_encoder(encoder_dir)
    random = build_encoder(config_from_backbone(pretrained))
    for name, enc in (("pretrained", pretrained), ("random", random)):
        t = time.time()
        F = {s: features(enc, s) for s in split}
        for C in (0.1, 1.0, 10.0):
            for train_on in ("en", "all"):
                mask = en["train"] if train_on == "en" else np.ones(len(ids["train"]), bool)
                lr = LogisticRegression(C=C, max_iter=3000).fit(F["train"][mask], ids["train"][mask])
                r = scores(lr.predict(F["test"]))
                print(json.dumps({"probe": name, "C": C, "train": train_on, **r, "s": round(time.time() - t)}), flush=True)
else:
    # fine-tune sweep: mode = "ft:<lr>:<random 0/1>:<steps>[:extra json]"
    _, lr, rnd, steps, *extra = mode.split(":", 4)
    params = tm.finetuning_config({"train_languages": ["en"], "pooling": "mean", "max_seq_length": 128,
                                   "learning_rate": float(lr), "random_init": rnd == "1",
                                   "train_steps": int(steps), "eval_every": 100,
                                   "early_stopping_patience": 5, **(json.loads(extra[0]) if extra else {})})
    t = time.time()
    run = out / mode.replace(":", "_").replace("{", "").replace("}", "").replace('"', "").replace(" ", "")[:80]
    summary = tm.finetune([f"{examples_uri}/Split-train/*"], [f"{examples_uri}/Split-eval/*"],
                          str(run / "serving"), str(run), params, base_model=encoder_dir)
    model = tf.saved_model.load(str(run / "serving"))
    texts = split["test"].text.tolist()
    pred = np.concatenate([model.signatures["predict_text"](text=tf.constant(texts[i:i + 256]))["label_id"].numpy()
                           for i in range(0, len(texts), 256)])
    best = int(np.argmin(summary["history"]["val_loss"]))
    print(json.dumps({"ft": mode, **scores(pred), "s": round(time.time() - t),
                      "best_eval": best, "val_acc": [round(v, 3) for v in summary["history"]["val_accuracy"]]}), flush=True)
