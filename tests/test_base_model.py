"""Base-model import: one set of tiny random weights written as Google's TF1 release, a Hugging
Face folder and a keras-hub preset must load into the same encoder (and heads), and bad folders
must fail before training with the file and the variable named."""

import dataclasses
import json
import pathlib
import shutil

import numpy as np
import pytest

from components.base_model import tiny
from components.base_model.checkpoint import CheckpointError, inspect_checkpoint, load_checkpoint
from components.base_model.heads import MLM_KEYS, NSP_KEYS

CONFIG = tiny.bert_config(len(tiny.TINY_VOCAB))


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """name -> folder: the same weights in every format (and both Hugging Face namings)."""
    root = tmp_path_factory.mktemp("checkpoints")
    weights = tiny.random_bert_weights(CONFIG, seed=7)
    folders = {
        "bert-tf1": tiny.write_tf1_checkpoint(root / "multi_cased_tiny", weights, CONFIG, tiny.TINY_VOCAB),
        "huggingface": tiny.write_huggingface_checkpoint(root / "hf_legacy", weights, CONFIG, tiny.TINY_VOCAB),
        "huggingface-current": tiny.write_huggingface_checkpoint(
            root / "hf_current", weights, CONFIG, tiny.TINY_VOCAB, legacy_layer_norm=False),
        "huggingface-bare": tiny.write_huggingface_checkpoint(
            root / "hf_bare", {k: v for k, v in weights.items() if k.startswith("bert/")}, CONFIG,
            tiny.TINY_VOCAB, legacy_layer_norm=False, model_prefix=""),
    }
    folders["keras-hub"] = tiny.write_keras_hub_preset(root / "keras_hub", folders["huggingface"])
    return {"root": root, "weights": weights, **folders}


def _format(name: str) -> str:
    return "huggingface" if name.startswith("huggingface") else name


def _inputs(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(0, len(tiny.TINY_VOCAB), size=(3, 16)).astype("int32")
    padding = np.ones((3, 16), "int32")
    padding[1, 10:] = 0
    segments = np.zeros((3, 16), "int32")
    segments[:, 8:] = 1
    return {"token_ids": token_ids, "segment_ids": segments, "padding_mask": padding}


@pytest.mark.parametrize("name", ["huggingface", "huggingface-current", "huggingface-bare", "keras-hub"])
def test_same_weights_give_the_same_encoder_outputs_in_every_format(checkpoints, name):
    reference = load_checkpoint("bert-tf1", str(checkpoints["bert-tf1"])).encoder
    other = load_checkpoint(_format(name), str(checkpoints[name])).encoder
    inputs = _inputs()
    expected, got = reference(inputs), other(inputs)
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_allclose(np.asarray(got[key]), np.asarray(expected[key]), atol=1e-5)
    # Not trivially equal: the random weights make outputs far from zero and row-dependent.
    assert float(np.abs(np.asarray(expected["sequence_output"])).mean()) > 0.1
    # And the TF1 mapping put each variable where the config says (no silent reshape of a wrong one).
    np.testing.assert_array_equal(
        np.asarray(reference.token_embedding.embeddings),
        checkpoints["weights"]["bert/embeddings/word_embeddings"])


def test_heads_load_the_same_from_tf1_and_huggingface(checkpoints):
    tf1 = load_checkpoint("bert-tf1", str(checkpoints["bert-tf1"])).heads
    weights = checkpoints["weights"]
    np.testing.assert_array_equal(tf1.mlm[MLM_KEYS[0]], weights["cls/predictions/transform/dense/kernel"])
    np.testing.assert_array_equal(tf1.nsp[NSP_KEYS[0]], weights["cls/seq_relationship/output_weights"].T)
    for name in ("huggingface", "huggingface-current"):
        hf = load_checkpoint("huggingface", str(checkpoints[name])).heads
        for key, value in tf1.arrays().items():
            np.testing.assert_array_equal(hf.arrays()[key], value, err_msg=f"{name}: {key}")
    assert load_checkpoint("huggingface", str(checkpoints["huggingface-bare"])).heads is None
    assert load_checkpoint("keras-hub", str(checkpoints["keras-hub"])).heads is None


def test_inspect_reads_shape_vocabulary_and_casing(checkpoints):
    tf1 = inspect_checkpoint("bert-tf1", str(checkpoints["bert-tf1"]))
    assert tf1.encoder.to_dict() == {"vocab_size": len(tiny.TINY_VOCAB), "num_layers": 2, "hidden_dim": 32,
                                     "num_heads": 2, "intermediate_dim": 64, "max_sequence_length": 64,
                                     "dropout": 0.1}
    assert tf1.vocabulary == list(tiny.TINY_VOCAB)
    assert tf1.heads == ("mlm", "nsp")
    # Google names its cased multilingual release multi_cased_*; the folder here is too.
    assert tf1.lower_case is False and "folder name" in tf1.casing_from
    hf = inspect_checkpoint("huggingface", str(checkpoints["huggingface"]))
    assert hf.lower_case is False and hf.casing_from.endswith("(do_lower_case)")
    keras_hub = inspect_checkpoint("keras-hub", str(checkpoints["keras-hub"]))
    assert keras_hub.lower_case is False and keras_hub.encoder == hf.encoder


def test_casing_follows_the_checkpoint(tmp_path, checkpoints):
    uncased = tmp_path / "uncased_L-2_H-32_A-2"
    shutil.copytree(checkpoints["bert-tf1"], uncased)
    assert inspect_checkpoint("bert-tf1", str(uncased)).lower_case is True
    # A folder name that says nothing: the vocabulary decides (TINY_VOCAB has "The", "Über").
    plain = tmp_path / "plain"
    shutil.copytree(checkpoints["bert-tf1"], plain)
    info = inspect_checkpoint("bert-tf1", str(plain))
    assert info.lower_case is False and info.casing_from.endswith("(upper-case tokens)")
    assert inspect_checkpoint("bert-tf1", str(plain), lower_case=True).lower_case is True
    hf = tmp_path / "hf_uncased"
    shutil.copytree(checkpoints["huggingface"], hf)
    (hf / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    assert inspect_checkpoint("huggingface", str(hf)).lower_case is True


# --- Bad input: each error names the file and the variable or key, before any weight is read.

def _copy(checkpoints, name, tmp_path) -> pathlib.Path:
    target = tmp_path / name
    shutil.copytree(checkpoints[name], target)
    return target


@pytest.mark.parametrize("name,file,variable", [
    ("bert-tf1", "vocab.txt", "bert/embeddings/word_embeddings"),
    ("huggingface", "vocab.txt", "bert.embeddings.word_embeddings.weight"),
    ("keras-hub", "assets/tokenizer/vocabulary.txt", "layers/reversible_embedding/vars/0"),
])
def test_vocabulary_of_another_size_than_the_embedding_is_refused(checkpoints, tmp_path, name, file, variable):
    folder = _copy(checkpoints, name, tmp_path)
    with open(folder / file, "a", encoding="utf-8") as handle:
        handle.write("extra\n")
    with pytest.raises(CheckpointError) as error:
        inspect_checkpoint(_format(name), str(folder))
    message = str(error.value)
    assert str(folder / file) in message and variable in message
    assert f"{len(tiny.TINY_VOCAB) + 1} tokens" in message and f"{len(tiny.TINY_VOCAB)} rows" in message


@pytest.mark.parametrize("name,variable", [
    ("bert-tf1", "bert/embeddings/position_embeddings"),
    ("huggingface", "bert.embeddings.position_embeddings.weight"),
    ("keras-hub", "layers/position_embedding/vars/0"),
])
def test_position_embeddings_shorter_than_the_configured_length_are_refused(checkpoints, name, variable):
    with pytest.raises(CheckpointError) as error:
        inspect_checkpoint(_format(name), str(checkpoints[name]), max_seq_length=128,
                           setting="finetuning.max_seq_length")
    message = str(error.value)
    assert variable in message and "64 positions" in message and "finetuning.max_seq_length=128" in message
    # At the checkpoint's own length it is fine.
    assert inspect_checkpoint(_format(name), str(checkpoints[name]), max_seq_length=64).encoder.max_sequence_length == 64


def test_missing_tf1_variable_is_named(checkpoints, tmp_path):
    weights = dict(checkpoints["weights"])
    del weights["bert/encoder/layer_1/attention/self/key/kernel"]
    folder = tiny.write_tf1_checkpoint(tmp_path / "tf1", weights, CONFIG, tiny.TINY_VOCAB)
    with pytest.raises(CheckpointError, match=r"bert_model\.ckpt: missing variable "
                                              r"bert/encoder/layer_1/attention/self/key/kernel"):
        inspect_checkpoint("bert-tf1", str(folder))
    # An incomplete head is an error too (a complete head or none at all is fine).
    weights = dict(checkpoints["weights"])
    del weights["cls/predictions/output_bias"]
    folder = tiny.write_tf1_checkpoint(tmp_path / "tf1_head", weights, CONFIG, tiny.TINY_VOCAB)
    with pytest.raises(CheckpointError, match="missing variable cls/predictions/output_bias"):
        inspect_checkpoint("bert-tf1", str(folder))


def test_missing_huggingface_tensor_is_named(checkpoints, tmp_path):
    from safetensors.numpy import load_file, save_file

    folder = _copy(checkpoints, "huggingface-current", tmp_path)
    tensors = load_file(str(folder / "model.safetensors"))
    del tensors["bert.encoder.layer.1.output.LayerNorm.weight"]
    save_file(tensors, str(folder / "model.safetensors"))
    with pytest.raises(CheckpointError) as error:
        inspect_checkpoint("huggingface", str(folder))
    assert str(folder / "model.safetensors") in str(error.value)
    assert "missing tensor bert.encoder.layer.1.output.LayerNorm.weight" in str(error.value)


def test_missing_keras_hub_variable_is_named(checkpoints, tmp_path):
    import h5py

    folder = _copy(checkpoints, "keras-hub", tmp_path)
    name = "layers/transformer_encoder_1/_self_attention_layer/key_dense/vars/1"
    with h5py.File(folder / "model.weights.h5", "a") as handle:
        del handle[name]
    with pytest.raises(CheckpointError) as error:
        inspect_checkpoint("keras-hub", str(folder))
    assert str(folder / "model.weights.h5") in str(error.value) and f"missing variable {name}" in str(error.value)


def test_folders_of_another_architecture_are_refused(checkpoints, tmp_path):
    hf = _copy(checkpoints, "huggingface", tmp_path)
    config = json.loads((hf / "config.json").read_text())
    (hf / "config.json").write_text(json.dumps({**config, "model_type": "roberta"}))
    with pytest.raises(CheckpointError, match=r"config\.json: model_type is 'roberta', expected 'bert'"):
        inspect_checkpoint("huggingface", str(hf))

    electra = {name.replace("bert/", "electra/", 1): value
               for name, value in checkpoints["weights"].items()}
    folder = tiny.write_tf1_checkpoint(tmp_path / "electra", electra, CONFIG, tiny.TINY_VOCAB)
    with pytest.raises(CheckpointError, match=r"bert_model\.ckpt: no variable bert/embeddings/word_embeddings.*"
                                              r"electra.*not a BERT model"):
        inspect_checkpoint("bert-tf1", str(folder))

    preset = _copy(checkpoints, "keras-hub", tmp_path)
    config = json.loads((preset / "config.json").read_text())
    (preset / "config.json").write_text(json.dumps({**config, "class_name": "GPT2Backbone"}))
    with pytest.raises(CheckpointError, match=r"config\.json: class_name is 'GPT2Backbone'"):
        inspect_checkpoint("keras-hub", str(preset))

    # The right files under the wrong format name: the error says which format it looks like.
    with pytest.raises(CheckpointError, match=r"bert_config\.json: not found.*looks like a huggingface"):
        inspect_checkpoint("bert-tf1", str(checkpoints["huggingface"]))
    with pytest.raises(CheckpointError, match=r"config\.json: not found.*looks like a bert-tf1"):
        inspect_checkpoint("huggingface", str(checkpoints["bert-tf1"]))


def test_pytorch_only_folder_names_the_missing_safetensors(checkpoints, tmp_path):
    folder = _copy(checkpoints, "huggingface", tmp_path)
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"model\.safetensors: not found \(the folder has "
                                              r"pytorch_model\.bin\).*safe_serialization=True"):
        inspect_checkpoint("huggingface", str(folder))


def test_remote_folder_is_copied_then_loaded(checkpoints):
    import tensorflow as tf

    remote = "ram://checkpoints/hf"
    for path in pathlib.Path(checkpoints["huggingface"]).iterdir():
        tf.io.gfile.makedirs(remote)
        tf.io.gfile.copy(str(path), f"{remote}/{path.name}", overwrite=True)
    imported = load_checkpoint("huggingface", remote)
    local = load_checkpoint("huggingface", str(checkpoints["huggingface"]))
    assert imported.info.path == remote
    np.testing.assert_array_equal(np.asarray(imported.encoder.pooled_dense.kernel),
                                  np.asarray(local.encoder.pooled_dense.kernel))
    # Errors name the remote files, not the temporary local copy.
    with pytest.raises(CheckpointError, match=rf"^{remote}/model\.safetensors: "
                                              r"bert\.embeddings\.position_embeddings\.weight has 64"):
        load_checkpoint("huggingface", remote, max_seq_length=65)
    # A TF1 release's folder name still tells its casing when it is read from a bucket.
    uncased = "ram://checkpoints/uncased_L-2_H-32_A-2"
    tf.io.gfile.makedirs(uncased)
    for path in pathlib.Path(checkpoints["bert-tf1"]).iterdir():
        tf.io.gfile.copy(str(path), f"{uncased}/{path.name}", overwrite=True)
    assert load_checkpoint("bert-tf1", uncased, heads=False).info.lower_case is True


def test_checkpoint_import_command_writes_a_keras_hub_preset(checkpoints, tmp_path):
    import keras_hub
    from click.testing import CliRunner

    from pipeline import cli

    out = tmp_path / "preset"
    result = CliRunner().invoke(cli.main, ["checkpoint", "import", "--format", "bert-tf1", "--input",
                                           str(checkpoints["bert-tf1"]), "--output", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["heads"] == ["mlm", "nsp"] and summary["vocab_size"] == len(tiny.TINY_VOCAB)

    # Loadable by keras-hub alone, with the same outputs as the TF1 checkpoint.
    backbone = keras_hub.models.BertBackbone.from_preset(str(out))
    reference = load_checkpoint("bert-tf1", str(checkpoints["bert-tf1"]))
    inputs = _inputs(1)
    np.testing.assert_allclose(np.asarray(backbone(inputs)["sequence_output"]),
                               np.asarray(reference.encoder(inputs)["sequence_output"]), atol=1e-5)
    tokenizer = keras_hub.models.BertTokenizer.from_preset(str(out))
    assert tokenizer.get_vocabulary() == list(tiny.TINY_VOCAB)
    ids = np.asarray(tokenizer("The cats sat.")).tolist()
    assert ids == [tiny.TINY_VOCAB.index(t) for t in ("The", "cat", "##s", "sat", ".")]

    # Read back as a keras-hub checkpoint, the heads came along (pretraining_heads.npz).
    again = load_checkpoint("keras-hub", str(out))
    assert again.info.heads == ("mlm", "nsp")
    for key, value in reference.heads.arrays().items():
        np.testing.assert_array_equal(again.heads.arrays()[key], value)


def test_checkpoint_inspect_command_reports_errors_by_file(checkpoints, tmp_path):
    from click.testing import CliRunner

    from pipeline import cli

    result = CliRunner().invoke(cli.main, ["checkpoint", "inspect", "--format", "huggingface", "--input",
                                           str(checkpoints["huggingface"]), "--max-seq-length", "128"])
    assert result.exit_code == 1
    assert "bert.embeddings.position_embeddings.weight has 64 positions" in result.output
    result = CliRunner().invoke(cli.main, ["checkpoint", "inspect", "--format", "huggingface", "--input",
                                           str(checkpoints["huggingface"])])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["encoder"]["max_sequence_length"] == 64


# --- Continued pretraining: the pretraining Trainer starts from the imported encoder and heads.

def _random_instances(path: pathlib.Path, count: int, seq_len: int, vocab_size: int) -> None:
    import tensorflow as tf

    rng = np.random.default_rng(0)

    def ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))

    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for _ in range(count):
            tokens = [4] + list(rng.integers(7, vocab_size, seq_len - 3)) + [5, 5]
            feature = {"token_ids": ints(tokens), "segment_ids": ints([0] * (seq_len // 2) + [1] * (seq_len // 2)),
                       "next_sentence_label": ints([int(rng.integers(0, 2))]),
                       "language": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"en"]))}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())


@pytest.fixture(scope="module")
def imported_export(checkpoints, tmp_path_factory):
    """The TF1 tiny checkpoint written as the importer does: Vocabulary files + encoder export."""
    from components.base_model.outputs import write_encoder, write_vocabulary

    root = tmp_path_factory.mktemp("imported")
    imported = load_checkpoint("bert-tf1", str(checkpoints["bert-tf1"]))
    write_vocabulary(imported.info, str(root / "vocabulary"))
    write_encoder(imported, str(root / "encoder"), str(root / "vocabulary"))
    return {"root": root, "imported": imported, "vocab_dir": root / "vocabulary", "encoder_dir": root / "encoder"}


def test_restore_initial_model_copies_encoder_and_heads(imported_export):
    from components.base_model.initial_model import restore_initial_model
    from models.encoder import build_encoder
    from models.pretraining_model import PretrainingModel

    imported = imported_export["imported"]
    model = PretrainingModel(build_encoder(imported.info.encoder, dtype="float32"))
    model.build()
    assert restore_initial_model(model, str(imported_export["encoder_dir"])) == ("mlm", "nsp")
    for got, want in zip(model.encoder.get_weights(), imported.encoder.get_weights()):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.asarray(model.next_sentence_head.classifier.kernel),
                                  imported.heads.nsp["next_sentence_head/classifier/kernel"])
    np.testing.assert_array_equal(np.asarray(model.masked_lm_head.output_bias),
                                  imported.heads.mlm["masked_lm_head/output_bias"])


def test_pretraining_trainer_starts_from_initial_model_dir(imported_export, tmp_path):
    from components import settings
    from components.pretraining.config import PretrainingConfig
    from components.pretraining.training import train
    from models.encoder import load_pretrained_encoder

    records = tmp_path / "train.tfrecord.gz"
    _random_instances(records, 8, 16, len(tiny.TINY_VOCAB))
    hparams = {"train_steps": 1, "batch_size": 4, "seq_len": 16, "max_predictions": 3,
               "warmup_steps": 0, "weight_decay": 0.0, "eval_steps": None,
               "mixed_precision": "false", "jit_compile": "false", "seed": 1,
               "preset": "small"}  # ignored: the shape comes from the initial model
    # Learning rate 0 (refused by the settings' rules, so set past them): nothing may move.
    config = dataclasses.replace(settings.parse(PretrainingConfig, hparams, "pretraining"), learning_rate=0.0)
    result = train(config, str(records), None, tmp_path / "model",
                   vocab_dir=imported_export["vocab_dir"], export_dir=tmp_path / "export",
                   initial_model_dir=str(imported_export["encoder_dir"]))
    assert result.steps_run == 1
    exported = load_pretrained_encoder(tmp_path / "export")
    # Learning rate 0: the exported encoder is the imported one, not a fresh `small` preset.
    for got, want in zip(exported.get_weights(), imported_export["imported"].encoder.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_initial_model_must_fit_vocabulary_and_length(imported_export):
    from components.base_model.initial_model import initial_encoder_config

    folder = str(imported_export["encoder_dir"])
    assert initial_encoder_config(folder, len(tiny.TINY_VOCAB), 64, {"dropout": 0.0}).dropout == 0.0
    with pytest.raises(ValueError, match=r"encoder_config\.json: vocab_size is 29 but the vocabulary has 30"):
        initial_encoder_config(folder, 30, 16, {})
    with pytest.raises(ValueError, match=r"encoder_config\.json: max_sequence_length is 64, shorter than seq_len 128"):
        initial_encoder_config(folder, len(tiny.TINY_VOCAB), 128, {})
    with pytest.raises(ValueError, match=r"encoder\.num_layers=4 does not fit the base model"):
        initial_encoder_config(folder, len(tiny.TINY_VOCAB), 16, {"num_layers": 4})


def test_vocabulary_artifact_tokenises_with_the_checkpoints_casing(checkpoints, tmp_path):
    """The Vocabulary files BaseModelImport writes drive the pipeline's one tokenizer."""
    import tensorflow as tf

    from components.base_model.outputs import write_vocabulary
    from models.tokenizer import load_tokenizer

    ids = {token: i for i, token in enumerate(tiny.TINY_VOCAB)}
    for lower_case, expected in ((False, ["The", "Über", "café"]), (True, ["the", "[UNK]", "[UNK]"])):
        info = inspect_checkpoint("bert-tf1", str(checkpoints["bert-tf1"]), lower_case=lower_case)
        folder = tmp_path / f"vocab-{lower_case}"
        stats = write_vocabulary(info, str(folder))
        assert stats["source"]["lower_case"] is lower_case and stats["vocab_size"] == len(tiny.TINY_VOCAB)
        tokenizer = load_tokenizer(str(folder))
        got = tokenizer.tokenize(tf.constant(["The Über café"])).merge_dims(1, -1).to_list()[0]
        assert got == [ids[token] for token in expected], lower_case
        settings = json.loads((folder / "tokenizer.json").read_text())
        # BERT's reserved block up to [MASK]: [PAD], [unused0], [unused1], [UNK], [CLS], [SEP], [MASK].
        assert settings["reserved_tokens"] == list(tiny.TINY_VOCAB[:7])
