"""Stand-ins shared by the fine-tuning / evaluation / push tests (no test functions here).

Builds, from SIB-200 rows: Examples TFRecords in the Examples layout (components/contracts.py), a small hand-rolled
WordPiece vocabulary (components/vocabulary/files.py) and a tiny pretrained-encoder folder (models/encoder.py export_encoder),
so these stages are tested without running ingestion, vocabulary or pretraining.
"""

from __future__ import annotations

import collections
import csv
import pathlib
import re
import unicodedata

from components.vocabulary.files import tokenizer_settings, write_vocabulary

SIB_LANGS = {"eng_Latn": "en", "deu_Latn": "de", "fra_Latn": "fr", "rus_Cyrl": "ru",
             "zho_Hans": "zh-Hans", "arb_Arab": "ar", "hin_Deva": "hi", "tha_Thai": "th"}
RESERVED = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def read_sib200(sib200_dir: pathlib.Path, code: str, split: str, limit: int | None = None):
    """Rows (index_id, category, text, line_number) of one SIB-200 file."""
    path = sib200_dir / code / f"{split}.tsv"
    rows = []
    with path.open(encoding="utf-8", newline="") as f:
        for line_number, row in enumerate(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE), 2):
            rows.append((row["index_id"], row["category"], row["text"], f"{path}:{line_number}"))
            if limit and len(rows) >= limit:
                break
    return rows


def write_examples(out_dir: pathlib.Path, splits: dict[str, list[tuple[str, str, str, str, str]]]):
    """Writes {split: [(text, language, label, doc_id, source)]} as Examples GZIP TFRecords."""
    import tensorflow as tf

    def _bytes(value: str | bytes):
        value = value.encode("utf-8") if isinstance(value, str) else value
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    for split, rows in splits.items():
        folder = out_dir / f"Split-{split}"
        folder.mkdir(parents=True, exist_ok=True)
        options = tf.io.TFRecordOptions(compression_type="GZIP")
        with tf.io.TFRecordWriter(str(folder / "data_tfrecord-00000-of-00001.gz"), options) as w:
            for text, language, label, doc_id, source in rows:
                example = tf.train.Example(features=tf.train.Features(feature={
                    "text": _bytes(text), "language": _bytes(language), "label": _bytes(label),
                    "doc_id": _bytes(doc_id), "source": _bytes(source),
                    "sentence_index": tf.train.Feature(int64_list=tf.train.Int64List(value=[0])),
                }))
                w.write(example.SerializeToString())
    return out_dir


def sib200_examples(sib200_dir: pathlib.Path, out_dir: pathlib.Path, train_langs, eval_langs,
                    train_rows: int, eval_rows: int, eval_source: str = "dev") -> pathlib.Path:
    """Examples: `train_rows` train rows of each of train_langs, and an eval split of
    `eval_rows` rows of each of eval_langs read from SIB-200's `eval_source` file."""
    splits = {"train": [], "eval": []}
    for code, tag in SIB_LANGS.items():
        if tag in train_langs:
            splits["train"] += [(t, tag, c, f"{code}-{i}", s)
                                for i, c, t, s in read_sib200(sib200_dir, code, "train", train_rows)]
        if tag in eval_langs:
            splits["eval"] += [(t, tag, c, f"{code}-{i}", s)
                               for i, c, t, s in read_sib200(sib200_dir, code, eval_source, eval_rows)]
    return write_examples(out_dir, splits)


def _words(text: str):
    # Roughly BERT's basic tokenizer: whitespace and punctuation split.
    return [w for w in re.split(r"(\W)", text) if w.strip()]


def build_vocab(texts, out_dir: pathlib.Path, max_words: int = 3000) -> pathlib.Path:
    """A small cased WordPiece vocabulary: reserved, every character (+ ## form), common words."""
    chars, words = collections.Counter(), collections.Counter()
    for text in texts:
        for word in _words(text):
            words[word] += 1
            chars.update(word)
    vocab = list(RESERVED)
    for ch, _ in chars.most_common():
        if unicodedata.category(ch)[0] in "CZ":
            continue
        vocab += [ch, "##" + ch]
    seen = set(vocab)
    for word, _ in words.most_common(max_words):
        if word not in seen:
            vocab.append(word)
            seen.add(word)
    write_vocabulary(out_dir, vocab, tokenizer_settings(vocab, lower_case=False, reserved=RESERVED))
    return out_dir


def tiny_pretrained_dir(out_dir: pathlib.Path, texts, seq_len: int = 32, seed: int = 1,
                        **overrides) -> pathlib.Path:
    """An encoder export (models.encoder.export_encoder): a tiny random encoder + vocabulary
    (`overrides`: EncoderConfig fields, e.g. num_layers)."""
    import keras

    from models.encoder import build_encoder, export_encoder
    from models.encoder_config import EncoderConfig

    vocab_dir = build_vocab(texts, out_dir.parent / (out_dir.name + "_vocab"))
    vocab_size = len((vocab_dir / "vocab.txt").read_text("utf-8").splitlines())
    keras.utils.set_random_seed(seed)
    config = EncoderConfig.preset("tiny", vocab_size, max_sequence_length=seq_len, **overrides)
    return export_encoder(build_encoder(config), out_dir, vocab_dir)


def export_tiny_model(root: pathlib.Path, labels, seq_len: int = 16, seed: int = 0,
                      vocab_texts=("The cat sat on the mat.", "東京 北京", "สวัสดี", "مرحبا")) -> pathlib.Path:
    """Exports an untrained tiny classifier (serving SavedModel) to root/model."""
    import keras

    from models.classifier import build_classifier
    from models.encoder import build_encoder
    from models.encoder_config import EncoderConfig
    from models.serving import export_serving_model

    vocab_dir = build_vocab(list(vocab_texts), root / "vocab")
    vocab_size = len((vocab_dir / "vocab.txt").read_text("utf-8").splitlines())
    keras.utils.set_random_seed(seed)
    encoder = build_encoder(EncoderConfig.preset("tiny", vocab_size, max_sequence_length=seq_len))
    export_serving_model(build_classifier(encoder, len(labels), 0.1, seed=seed), vocab_dir,
                         list(labels), seq_len, root / "model")
    return root / "model"


def pipeline_inputs(examples_dir: pathlib.Path, model_dir: pathlib.Path, model_id: str):
    """(ImportExampleGen of a `sib200_examples` folder, Importer of a Model folder whose serving
    files sit under Format-Serving/) for hand-built test pipelines."""
    import tfx
    from tfx import v1 as tfxv1

    example_gen = tfxv1.components.ImportExampleGen(
        input_base=str(examples_dir),
        input_config=tfxv1.proto.Input(splits=[
            tfxv1.proto.Input.Split(name="train", pattern="Split-train/*"),
            tfxv1.proto.Input.Split(name="eval", pattern="Split-eval/*"),
        ]))
    model = tfxv1.dsl.Importer(
        source_uri=str(model_dir), artifact_type=tfxv1.types.standard_artifacts.Model,
        # Marks the folder as a current-format Model (serving files under Format-Serving/).
        custom_properties={"tfx_version": tfx.__version__},
    ).with_id(model_id)
    return example_gen, model
