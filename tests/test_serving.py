"""The exported SavedModel (components/contracts.py): signatures, assets, hostile input, a clean process."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import test_finetuning_support as support

LABELS = ["science/technology", "travel", "politics", "sports"]
SEQ_LEN = 16
MAX_BATCH = 8  # the export's max_serving_batch: HOSTILE (7 rows) fits, 9 rows do not
SIGNATURES = {"serving_default": "examples", "predict_text": "text",
              "transformed_labels": "examples"}
# The TF Text ops the graph needs (notes/finetuning.md lists them for TF Serving).
EXPECTED_TF_TEXT_OPS = {"FastBertNormalize", "FastWordpieceTokenizeWithOffsets"}
HOSTILE = [
    b"",
    b"   \t \r\n  ",
    ("Pack my box with five dozen liquor jugs. " * 2500)[:100_000].encode(),
    b"\xff\xfe invalid \xc3\x28 utf-8 \xed\xa0\x80",
    b"\x00\x01\x07 control \x1b[31m chars \x7f",
    "emoji 😀🎉👍🏽 🇩🇪".encode(),
    "Hello мир 世界 مرحبا नमस्ते สวัสดี Ελλάδα 안녕 ok".encode(),
]
VOCAB_TEXTS = [
    "The cat sat on the mat. Le café est déjà prêt.",
    "東京は日本の首都です。北京是中国的首都。",
    "สวัสดีครับ ภาษาไทย", "مرحبا بالعالم", "नमस्ते दुनिया", "Привет мир", "Ελλάδα",
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(export dir, in-process loaded SavedModel) of an untrained tiny classifier."""
    import keras
    import tensorflow as tf

    from models.classifier import build_classifier
    from models.encoder import build_encoder
    from models.encoder_config import EncoderConfig
    from models.serving import export_serving_model

    root = tmp_path_factory.mktemp("serving")
    vocab_dir = support.build_vocab(VOCAB_TEXTS, root / "vocab")
    vocab_size = len((vocab_dir / "vocab.txt").read_text("utf-8").splitlines())
    keras.utils.set_random_seed(0)
    encoder = build_encoder(EncoderConfig.preset("tiny", vocab_size, max_sequence_length=SEQ_LEN))
    export_serving_model(build_classifier(encoder, len(LABELS), 0.1, seed=0), vocab_dir, LABELS,
                         SEQ_LEN, root / "model", max_batch=MAX_BATCH)
    return root / "model", tf.saved_model.load(str(root / "model"))


def _example(text: bytes, label: str | None = None) -> bytes:
    import tensorflow as tf

    feature = {"text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[text]))}
    if label is not None:
        feature["label"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[label.encode()]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _check_outputs(outputs, n):
    probabilities = np.asarray(outputs["probabilities"])
    assert probabilities.shape == (n, len(LABELS)) and probabilities.dtype == np.float32
    assert np.all(np.isfinite(probabilities))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    label_id = np.asarray(outputs["label_id"])
    assert label_id.dtype == np.int64
    np.testing.assert_array_equal(label_id, probabilities.argmax(axis=1))
    assert [LABELS[i] for i in label_id] == [v.decode() for v in np.asarray(outputs["label"])]


def test_assets_travel_with_the_model(exported):
    export_dir, _ = exported
    assets = sorted(p.name for p in (export_dir / "assets").iterdir())
    assert assets == ["labels.txt", "tokenizer.json", "vocab.txt"]
    assert (export_dir / "assets" / "labels.txt").read_text().splitlines() == LABELS


def test_both_signatures_give_valid_equal_outputs_on_hostile_input(exported):
    import tensorflow as tf

    _, model = exported
    by_text = model.signatures["predict_text"](text=tf.constant(HOSTILE))
    by_example = model.signatures["serving_default"](
        examples=tf.constant([_example(t) for t in HOSTILE]))
    _check_outputs(by_text, len(HOSTILE))
    _check_outputs(by_example, len(HOSTILE))
    np.testing.assert_allclose(by_text["probabilities"], by_example["probabilities"], atol=1e-6)


def test_every_signature_declares_a_1d_string_batch(exported):
    import tensorflow as tf

    _, model = exported
    assert set(model.signatures) == set(SIGNATURES)
    for name, input_name in SIGNATURES.items():
        _, kwargs = model.signatures[name].structured_input_signature
        assert kwargs == {input_name: tf.TensorSpec([None], tf.string, name=input_name)}


def test_inputs_that_are_not_a_1d_string_batch_are_rejected(exported):
    import tensorflow as tf

    _, model = exported
    for name, input_name in SIGNATURES.items():
        signature = model.signatures[name]
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=rf"Shape of tensor {input_name} \[2,2\] is not compatible"):
            signature(**{input_name: tf.constant([[_example(b"a")] * 2] * 2)})
        with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a string tensor"):
            signature(**{input_name: tf.constant([1, 2])})


_SCALAR_CALLS = r"""
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401
model = tf.saved_model.load(sys.argv[1])
example = tf.train.Example(features=tf.train.Features(feature={"text": tf.train.Feature(
    bytes_list=tf.train.BytesList(value=[b"hello"]))})).SerializeToString()
errors = {}
for name, kwargs in [("predict_text", {"text": tf.constant("hello")}),
                     ("serving_default", {"examples": tf.constant(example)}),
                     ("transformed_labels", {"examples": tf.constant(example)})]:
    try:
        model.signatures[name](**kwargs)
        errors[name] = None
    except tf.errors.InvalidArgumentError as error:
        errors[name] = error.message
print(json.dumps(errors))
"""


def test_a_scalar_string_is_rejected_and_does_not_kill_the_process(exported, tmp_path):
    # Before the run-time shape check, the tokenizer crashed the process (SIGSEGV, exit 139).
    export_dir, _ = exported
    result = subprocess.run([sys.executable, "-c", _SCALAR_CALLS, str(export_dir)],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, (result.returncode, result.stderr[-3000:])
    errors = json.loads(result.stdout.strip().splitlines()[-1])
    for name, input_name in SIGNATURES.items():
        assert f"Shape of tensor {input_name} [] is not compatible with expected shape [?]" in (
            errors[name] or ""), name


def test_an_example_without_text_is_rejected_not_read_as_empty(exported):
    import tensorflow as tf

    _, model = exported
    serving_default = model.signatures["serving_default"]
    _check_outputs(serving_default(examples=tf.constant([_example(b"")])), 1)
    missing = tf.train.Example().SerializeToString()
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"Feature: text \(data type: string\) is required"):
        serving_default(examples=tf.constant([_example(b"ok"), missing]))
    # The label is optional: TFMA's label lookup reads a missing one as unknown (-1).
    assert model.signatures["transformed_labels"](
        examples=tf.constant([missing]))["label_index"].numpy().tolist() == [-1]


def test_each_row_gets_one_output_row_up_to_the_batch_cap(exported):
    import tensorflow as tf

    _, model = exported
    for rows in (0, 1, MAX_BATCH):
        texts = [b"", b"x"] * (rows // 2) + [b"y"] * (rows % 2)
        _check_outputs(model.signatures["predict_text"](text=tf.constant(texts, tf.string)), rows)
        _check_outputs(model.signatures["serving_default"](
            examples=tf.constant([_example(t) for t in texts], tf.string)), rows)
    too_many = [b"x"] * (MAX_BATCH + 1)
    cap = rf"at most {MAX_BATCH} \(finetuning.max_serving_batch\)"
    with pytest.raises(tf.errors.InvalidArgumentError, match="predict_text: too many rows.*" + cap):
        model.signatures["predict_text"](text=tf.constant(too_many))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="serving_default: too many rows.*" + cap):
        model.signatures["serving_default"](examples=tf.constant([_example(t) for t in too_many]))
    # TFMA picks its own batch sizes for the label lookup, which costs little: not capped.
    labels = model.signatures["transformed_labels"](
        examples=tf.constant([_example(t, "travel") for t in too_many]))["label_index"]
    assert labels.numpy().tolist() == [1] * (MAX_BATCH + 1)


def test_the_batch_cap_must_be_a_positive_int():
    from models.serving import ServingModule

    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="max_batch must be a positive int"):
            ServingModule(None, "unused", "unused", seq_len=8, max_batch=bad)


def test_mbert_predict_gives_the_loaded_models_outputs_and_errors(exported, tmp_path):
    import tensorflow as tf
    from click.testing import CliRunner

    from components.push import publish
    from components.push.cli import predict, rejection_reason

    export_dir, model = exported
    publish.publish_version(export_dir, tmp_path / "serving", "m")
    lines = [text for text in HOSTILE if b"\n" not in text and b"\r" not in text]
    result = CliRunner().invoke(predict, ["--model", str(tmp_path / "serving" / "m")],
                                input=b"".join(text + b"\n" for text in lines))
    assert result.exit_code == 0, result.output
    # split("\n"), not splitlines(): a record may hold U+001C..U+001E, U+2028 in its text.
    records = [json.loads(line) for line in result.stdout_bytes.decode().split("\n") if line]
    direct = model.signatures["predict_text"](text=tf.constant(lines))
    assert [r["label"] for r in records] == [v.decode() for v in direct["label"].numpy()]
    np.testing.assert_allclose([[r["probabilities"][label] for label in LABELS] for r in records],
                               direct["probabilities"].numpy(), atol=1e-6)

    too_many = [b"x"] * (MAX_BATCH + 1)
    with pytest.raises(tf.errors.InvalidArgumentError) as direct_error:
        model.signatures["predict_text"](text=tf.constant(too_many))
    reason = rejection_reason(direct_error.value)
    assert reason.startswith("assertion failed: [predict_text: too many rows")
    result = CliRunner().invoke(
        predict, ["--model", str(tmp_path / "serving" / "m"), "--batch-size", str(MAX_BATCH + 1)],
        input=b"x\n" * (MAX_BATCH + 1))
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == f"Error: the model rejected a batch of {MAX_BATCH + 1}: {reason}"


def test_transformed_labels_maps_label_strings_to_ids(exported):
    import tensorflow as tf

    _, model = exported
    examples = [_example(b"x", "politics"), _example(b"x", "science/technology"),
                _example(b"x", "unknown"), _example(b"x")]
    ids = model.signatures["transformed_labels"](examples=tf.constant(examples))["label_index"]
    assert ids.numpy().tolist() == [2, 0, -1, -1]


def test_featurize_packs_cls_text_sep_and_caps_characters(tmp_path):
    import keras
    import tensorflow as tf

    from models.classifier import build_classifier
    from models.encoder import build_encoder
    from models.encoder_config import EncoderConfig
    from models.serving import ServingModule, default_max_input_chars, write_labels

    vocab_dir = support.build_vocab(["the cat sat"], tmp_path / "vocab")
    vocab = (vocab_dir / "vocab.txt").read_text("utf-8").splitlines()
    encoder = build_encoder(EncoderConfig.preset("tiny", len(vocab), max_sequence_length=8))
    module = ServingModule(build_classifier(encoder, 2), vocab_dir,
                           write_labels(["a", "b"], tmp_path / "labels.txt"), seq_len=8)
    features = module.featurize(tf.constant(["the cat", "", "cat " * 50_000]))
    ids = features["token_ids"].numpy()
    cls, sep = vocab.index("[CLS]"), vocab.index("[SEP]")
    assert ids[0].tolist() == [cls, vocab.index("the"), vocab.index("cat"), sep, 0, 0, 0, 0]
    assert ids[1].tolist() == [cls, sep, 0, 0, 0, 0, 0, 0]
    assert ids[2].tolist() == [cls] + [vocab.index("cat")] * 6 + [sep]
    assert features["padding_mask"].numpy().sum(axis=1).tolist() == [4, 2, 8]
    assert features["segment_ids"].numpy().max() == 0
    assert default_max_input_chars(8) == 1000 and default_max_input_chars(128) == 3840


_CLEAN_PROCESS = r"""
import json, sys
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework import op_def_registry

path = sys.argv[1]
hostile = [bytes.fromhex(h) for h in json.load(open(sys.argv[2]))]
graph = saved_model_pb2.SavedModel()
graph.ParseFromString(open(path + "/saved_model.pb", "rb").read())
ops = set()
for meta_graph in graph.meta_graphs:
    ops.update(node.op for node in meta_graph.graph_def.node)
    for function in meta_graph.graph_def.library.function:
        ops.update(node.op for node in function.node_def)
missing_without_tf_text = sorted(op for op in ops if op_def_registry.get(op) is None)
import tensorflow_text  # the only other import a server needs
missing_with_tf_text = sorted(op for op in ops if op_def_registry.get(op) is None)
model = tf.saved_model.load(path)
by_text = model.signatures["predict_text"](text=tf.constant(hostile))
project = sorted(m for m in sys.modules if m.split(".")[0] in ("models", "components", "pipeline"))
print(json.dumps({
    "tf_text_ops": missing_without_tf_text, "still_missing": missing_with_tf_text,
    "probabilities": by_text["probabilities"].numpy().tolist(),
    "label": [v.decode() for v in by_text["label"].numpy()], "project_modules": project}))
"""


def test_clean_process_with_only_tf_and_tf_text_gets_the_same_outputs(exported, tmp_path):
    """The pushed model (Pusher layout) in a process with only tensorflow + tensorflow_text."""
    import tensorflow as tf

    from components.push import publish

    export_dir, model = exported
    _, pushed = publish.publish_version(export_dir, tmp_path / "serving", "m")
    inputs = tmp_path / "hostile.json"
    inputs.write_text(json.dumps([h.hex() for h in HOSTILE]))
    result = subprocess.run(
        [sys.executable, "-c", _CLEAN_PROCESS, str(pushed), str(inputs)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
        env={**os.environ, "PYTHONPATH": "", "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    clean = json.loads(result.stdout.strip().splitlines()[-1])
    assert clean["project_modules"] == []
    assert set(clean["tf_text_ops"]) == EXPECTED_TF_TEXT_OPS
    assert clean["still_missing"] == []
    here = model.signatures["predict_text"](text=tf.constant(HOSTILE))
    np.testing.assert_allclose(clean["probabilities"], here["probabilities"].numpy(), atol=1e-6)
    assert clean["label"] == [v.decode() for v in here["label"].numpy()]
