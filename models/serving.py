"""The exported serving model: raw text or serialized tf.Examples in, class probabilities out.

Tokenisation runs inside the graph, from the vocabulary files that travel as SavedModel assets, so
the served model needs TensorFlow + tensorflow-text and nothing from this project. The same
`ServingModule.featurize` feeds fine-tuning (tf.data) and serving, so the two cannot drift apart.

Signatures (components/contracts.py):
  serving_default(examples: tf.string [batch] serialized tf.Example with a `text` feature)
  predict_text(text: tf.string [batch] raw UTF-8)
    -> {"probabilities": float32 [batch, num_classes], "label": tf.string [batch],
        "label_id": int64 [batch]}
  transformed_labels(examples) -> {"label_index": int64 [batch]}: the example's `label` feature
    looked up in labels.txt (-1 when unknown); TFMA reads it as the label (a preprocessing
    function), because TFMA's multi-class metrics want class ids, not strings.

Beside the SavedModel, `assets.extra/classifier_config.json` (which TF Serving ignores) describes
the Keras classifier inside it: encoder shape, pooling, number of classes and packed length, so
the classifier can be rebuilt from the SavedModel's variables (`load_classifier`), e.g. as the
teacher of a distillation (components/compression).

Every signature takes exactly a 1-D string batch: anything else (a scalar, a 2-D batch) is an
InvalidArgument error naming the input, and so is an Example without `text` or a predict call
with more than `max_batch` rows. Each input row gets exactly one output row.
"""

from __future__ import annotations

import json
import os
import pathlib
import tempfile
from typing import Sequence

import keras
import tensorflow as tf

from models.classifier import LOGITS_LAYER, MEAN_POOLING_LAYER, build_classifier, encoder_of
from models.encoder import build_encoder, config_from_backbone
from models.encoder_config import EncoderConfig
from models.packer import SegmentPacker
from models.tokenizer import load_tokenizer

LABELS_FILE = "labels.txt"
CLASSIFIER_CONFIG_FILE = "assets.extra/classifier_config.json"
TEXT_FEATURE = "text"
LABEL_FEATURE = "label"
LABEL_INDEX_KEY = "label_index"
_REPLACEMENT_CHAR = 0xFFFD
DEFAULT_MAX_BATCH = 1024


def default_max_input_chars(seq_len: int) -> int:
    """Characters kept per input before tokenising: far more than seq_len tokens ever need.

    The cap bounds the work a hostile 100,000-character input can cause; a sequence of `seq_len`
    word pieces very rarely spans more than 30 characters per piece.
    """
    return max(1000, 30 * seq_len)


def sanitize_text(text: tf.Tensor, max_input_chars: int) -> tf.Tensor:
    """Makes any byte string safe to tokenise: valid UTF-8, at most `max_input_chars` characters.

    Invalid UTF-8 bytes become U+FFFD instead of failing the whole batch; the character cap keeps
    a 100,000-character input from costing more than a long sentence.

    Args:
      text: tf.string [batch].
      max_input_chars: characters kept from the start of each string.

    Returns:
      tf.string [batch].
    """
    text = tf.strings.unicode_transcode(
        text, input_encoding="UTF-8", output_encoding="UTF-8", errors="replace",
        replacement_char=_REPLACEMENT_CHAR)
    return tf.strings.substr(text, 0, max_input_chars, unit="UTF8_CHAR")


class ServingModule(tf.Module):
    """Tokenizer + packer + classifier, with the SavedModel signatures below.

    Args:
      classifier: Keras model from the three encoder inputs to logits [batch, num_classes].
      vocab_dir: folder with `vocab.txt` and `tokenizer.json` (components/contracts.py), read by the shared
        `models.tokenizer.load_tokenizer`.
      labels_file: `labels.txt`, one label per line, line number = class id.
      seq_len: packed sequence length.
      max_input_chars: characters kept per input (default `default_max_input_chars(seq_len)`).
      max_batch: most rows one predict call may send (`serving_default`, `predict_text`); it
        bounds the memory one request can take.
    """

    def __init__(self, classifier: keras.Model, vocab_dir: str | os.PathLike,
                 labels_file: str | os.PathLike, seq_len: int, max_input_chars: int | None = None,
                 max_batch: int = DEFAULT_MAX_BATCH):
        super().__init__(name="mbert_serving")
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ValueError(f"max_batch must be a positive int, got {max_batch!r}")
        self.classifier = classifier
        self.seq_len = int(seq_len)
        self.max_input_chars = int(max_input_chars or default_max_input_chars(self.seq_len))
        self.max_batch = max_batch
        # The shared tokenizer carries vocab.txt and tokenizer.json as assets itself.
        self.tokenizer = load_tokenizer(str(vocab_dir))
        self.packer = SegmentPacker(self.seq_len, self.tokenizer.cls_id, self.tokenizer.sep_id,
                                    self.tokenizer.pad_id)
        self.labels_asset = tf.saved_model.Asset(str(labels_file))
        self.labels = pathlib.Path(labels_file).read_text("utf-8").splitlines()
        self.id_to_label = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                self.labels_asset, tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER,
                tf.string, tf.lookup.TextFileIndex.WHOLE_LINE),
            default_value="")
        self.label_to_id = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                self.labels_asset, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
                tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER),
            default_value=-1)

    def featurize(self, text: tf.Tensor) -> dict[str, tf.Tensor]:
        """tf.string [batch] -> the encoder inputs, each [batch, seq_len]."""
        text = sanitize_text(text, self.max_input_chars)
        ids = self.tokenizer.tokenize(text)  # int32 [batch, (pieces)]
        return self.packer.pack(ids)  # each [batch, seq_len]

    def label_ids(self, labels: tf.Tensor) -> tf.Tensor:
        """tf.string [batch] -> int64 [batch], -1 for a label not in labels.txt."""
        return self.label_to_id.lookup(labels)

    def _predict(self, text: tf.Tensor) -> dict[str, tf.Tensor]:
        logits = self.classifier(self.featurize(text), training=False)  # (B, C)
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
        return {
            "probabilities": probabilities,
            "label": self.id_to_label.lookup(label_id),
            "label_id": label_id,
        }

    @staticmethod
    def _one_dimensional(batch: tf.Tensor) -> tf.Tensor:
        """batch itself, checked at run time to be 1-D ([batch]).

        The signature's [None] spec is not enforced when a loaded SavedModel is called, and the
        tokenizer crashes the process on a scalar. Rank checks are folded away against that
        static spec; EnsureShape is the check that survives: "Shape of tensor text [] is not
        compatible with expected shape [?]".
        """
        return tf.ensure_shape(batch, [None])

    def _capped(self, batch: tf.Tensor, signature: str) -> tf.Tensor:
        """batch [rows], after checking rows <= max_batch (before any work is done on it)."""
        batch = self._one_dimensional(batch)
        check = tf.debugging.assert_less_equal(
            tf.size(batch), self.max_batch,
            message=f"{signature}: too many rows in one call; this model takes at most "
                    f"{self.max_batch} (finetuning.max_serving_batch): send smaller batches")
        with tf.control_dependencies([check]):
            return tf.identity(batch)

    @staticmethod
    def _parse(examples: tf.Tensor, key: str, required: bool) -> tf.Tensor:
        # A required feature missing from an Example fails the call, naming the feature.
        feature = (tf.io.FixedLenFeature([], tf.string) if required
                   else tf.io.FixedLenFeature([], tf.string, default_value=""))
        return tf.io.parse_example(examples, {key: feature})[key]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def predict_text(self, text):
        return self._predict(self._capped(text, "predict_text"))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serving_default(self, examples):
        examples = self._capped(examples, "serving_default")
        return self._predict(self._parse(examples, TEXT_FEATURE, required=True))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transformed_labels(self, examples):
        # Not capped: TFMA sends it its own batch sizes, and a label lookup costs little.
        labels = self._parse(self._one_dimensional(examples), LABEL_FEATURE, required=False)
        return {LABEL_INDEX_KEY: self.label_ids(labels)}

    def save(self, export_dir: str | os.PathLike) -> None:
        """Writes the SavedModel with its three signatures and its classifier_config.json."""
        tf.saved_model.save(
            self, str(export_dir),
            signatures={
                "serving_default": self.serving_default,
                "predict_text": self.predict_text,
                "transformed_labels": self.transformed_labels,
            })
        config_path = pathlib.Path(export_dir) / CLASSIFIER_CONFIG_FILE
        config_path.parent.mkdir(parents=True, exist_ok=True)
        config_path.write_text(json.dumps(describe_classifier(self.classifier, self.seq_len),
                                          indent=2, sort_keys=True) + "\n", encoding="utf-8")


def describe_classifier(classifier: keras.Model, seq_len: int) -> dict:
    """What rebuilds a `build_classifier` model: encoder shape, pooling, classes, packed length."""
    encoder = encoder_of(classifier)
    layer_names = {layer.name for layer in classifier.layers}
    return {
        "encoder": config_from_backbone(encoder).to_dict(),
        "pooling": "mean" if MEAN_POOLING_LAYER in layer_names else "cls",
        "num_classes": int(classifier.get_layer(LOGITS_LAYER).units),
        "seq_len": int(seq_len),
        # "int8" once `keras.Model.quantize` ran: such variables no longer fit a float model.
        "quantized": next((layer.dtype_policy.quantization_mode for layer in encoder.layers
                           if getattr(layer.dtype_policy, "quantization_mode", None)), None),
    }


def load_classifier(export_dir: str | os.PathLike) -> tuple[keras.Model, dict]:
    """Rebuilds the float Keras classifier of an exported serving model, with its weights.

    Returns:
      (classifier, its classifier_config.json).

    Raises:
      FileNotFoundError: the folder has no classifier_config.json (exported before it existed).
      ValueError: the config is not a float classifier's, or the variables do not fit it; the
        message names the file.
    """
    export_dir = pathlib.Path(export_dir)
    config_path = export_dir / CLASSIFIER_CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path}: not found; export the model again with this "
                                f"version's fine-tuning to use it as a teacher")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        encoder_config = EncoderConfig.from_dict(config["encoder"], where=str(config_path))
        pooling, num_classes = config["pooling"], int(config["num_classes"])
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{config_path}: not a classifier config ({error!r})") from None
    if config.get("quantized"):
        raise ValueError(f"{config_path}: a {config['quantized']} quantized model cannot be "
                         f"rebuilt as a float classifier")
    classifier = build_classifier(build_encoder(encoder_config, dtype="float32"), num_classes,
                                  pooling=pooling)
    variables = export_dir / "variables" / "variables"
    try:
        tf.train.Checkpoint(classifier=classifier).read(str(variables)).assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as error:
        raise ValueError(f"{variables}: the variables do not fit the classifier described in "
                         f"{config_path}: {str(error).splitlines()[0]}") from None
    return classifier, config


def write_labels(labels: Sequence[str], path: str | os.PathLike) -> pathlib.Path:
    """Writes labels.txt (line number = class id) and returns its path."""
    for label in labels:
        if not label or "\n" in label or "\r" in label:
            raise ValueError(f"label {label!r} cannot be written to a one-per-line labels.txt")
    if len(set(labels)) != len(labels):
        raise ValueError(f"duplicate labels in {list(labels)}")
    path = pathlib.Path(path)
    path.write_text("".join(f"{label}\n" for label in labels), encoding="utf-8")
    return path


def export_serving_model(classifier: keras.Model, vocab_dir: str | os.PathLike,
                         labels: Sequence[str], seq_len: int, export_dir: str | os.PathLike,
                         max_batch: int = DEFAULT_MAX_BATCH) -> None:
    """Exports classifier with in-graph tokenisation as a SavedModel (components/contracts.py)."""
    with tempfile.TemporaryDirectory() as tmp:
        labels_file = write_labels(labels, pathlib.Path(tmp) / LABELS_FILE)
        ServingModule(classifier, vocab_dir, labels_file, seq_len,
                      max_batch=max_batch).save(export_dir)
