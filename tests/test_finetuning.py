"""Fine-tuning: data selection and labels, encoder sources, the Trainer's run on SIB-200 rows."""

import json
import types

import numpy as np
import pytest

import test_finetuning_support as support
from components import settings
from components.finetuning import data
from components.finetuning import trainer_module as tm
from components.trainer import custom_config

SIB_LABELS = ["entertainment", "geography", "health", "politics", "science/technology", "sports",
              "travel"]


@pytest.fixture(scope="module")
def sib_rows(sib200_dir, tmp_path_factory):
    """(examples dir, pretrained dir): 32 train + 12 dev rows of en, de, zh-Hans."""
    root = tmp_path_factory.mktemp("finetuning")
    langs = ["en", "de", "zh-Hans"]
    examples = support.sib200_examples(sib200_dir, root / "examples", langs, langs, 32, 12)
    texts = [row[2] for code in support.SIB_LANGS
             for row in support.read_sib200(sib200_dir, code, "train", 32)]
    return examples, support.tiny_pretrained_dir(root / "pretrained", texts)


def _split(rows):
    return data.LabelledSplit(
        text=np.array([r[0].encode() for r in rows], dtype=object),
        language=np.array([r[1] for r in rows], dtype=object),
        label=np.array([r[2] for r in rows], dtype=object),
        source=np.array([r[3] for r in rows], dtype=object))


def test_config_rejects_unknown_keys_and_bad_values():
    with pytest.raises(ValueError, match="unknown key finetuning.epoch "):
        tm.finetuning_config({"epoch": 3})
    with pytest.raises(ValueError, match=r"finetuning.batch_size: expected int, got str \('32'\)"):
        tm.finetuning_config({"batch_size": "32"})
    with pytest.raises(ValueError, match="finetuning.max_serving_batch: must be >= 1, got 0"):
        tm.finetuning_config({"max_serving_batch": 0})
    with pytest.raises(ValueError, match="finetuning.early_stopping_metric: expected one of loss, accuracy"):
        tm.finetuning_config({"early_stopping_metric": "f1"})
    # One default, whoever builds the settings: the YAML section's.
    from pipeline.config import config_from_dict

    assert tm.finetuning_config({"epochs": 1}).train_languages == ["en"]
    assert config_from_dict({}).finetuning == tm.finetuning_config({})
    assert tm.finetuning_config({}).max_serving_batch == 1024


def test_run_fn_reads_one_serialised_config(tmp_path):
    """run_fn takes the settings as one JSON value, checked by the YAML's rules."""
    fn_args = types.SimpleNamespace(custom_config={"config": '{"batch_size": 0}'}, model_run_dir=str(tmp_path))
    with pytest.raises(ValueError, match="finetuning.batch_size: must be >= 1, got 0"):
        tm.run_fn(fn_args)
    fn_args.custom_config = {"batch_size": 8}
    with pytest.raises(ValueError, match="unknown key 'batch_size'"):
        tm.run_fn(fn_args)
    config = tm.finetuning_config({"train_languages": ["all"], "batch_size": 8})
    assert settings.from_json(type(config), custom_config(config)["config"], "finetuning") == config


def test_read_split_reads_every_record_with_its_source(sib_rows):
    examples, _ = sib_rows
    split = data.read_split([str(examples / "Split-train" / "*")])
    assert len(split) == 96
    assert split.counts_by_language() == {"de": 32, "en": 32, "zh-Hans": 32}
    assert set(split.label) <= set(SIB_LABELS)
    assert split.source[0].endswith("eng_Latn/train.tsv:2")
    with pytest.raises(FileNotFoundError, match="no Examples files match"):
        data.read_split([str(examples / "Split-nope" / "*")])


def test_language_filter_keeps_only_the_requested_languages():
    split = _split([("a", "en", "x", "f:1"), ("b", "de", "y", "f:2"), ("c", "en", "y", "f:3")])
    assert data.filter_languages(split, ["en"], "train").counts_by_language() == {"en": 2}
    assert len(data.filter_languages(split, "all", "train")) == 3
    assert len(data.filter_languages(split, None, "train")) == 3
    with pytest.raises(ValueError, match=r"\['sw'\] have no rows in the train split .*'de', 'en'"):
        data.filter_languages(split, ["en", "sw"], "train")


def test_label_vocabulary_is_sorted_or_given_and_bad_labels_name_their_source():
    split = _split([("a", "en", "travel", "t.tsv:2"), ("b", "en", "health", "t.tsv:3")])
    assert data.label_vocabulary(split) == ["health", "travel"]
    assert data.label_vocabulary(split, ["travel", "health", "sports"]) == ["travel", "health", "sports"]
    assert data.label_ids(split, ["travel", "health"]).tolist() == [0, 1]
    with pytest.raises(ValueError, match=r"label 'health' at t.tsv:3 is not in the given labels"):
        data.label_vocabulary(split, ["travel"])
    unlabelled = _split([("a", "en", "travel", "t.tsv:2"), ("b", "en", "", "t.tsv:9")])
    with pytest.raises(ValueError, match=r"1 rows have no 'label' feature, first at t.tsv:9"):
        data.label_vocabulary(unlabelled)
    with pytest.raises(ValueError, match="at least 2 labels"):
        data.label_vocabulary(_split([("a", "en", "travel", "t.tsv:2")]))


def test_shuffled_labels_keep_their_counts_but_not_their_rows():
    ids = np.repeat(np.arange(7, dtype=np.int32), 20)
    shuffled = data.shuffle_labels(ids, seed=3)
    assert np.bincount(shuffled).tolist() == [20] * 7
    assert (shuffled == ids).mean() < 0.4
    np.testing.assert_array_equal(shuffled, data.shuffle_labels(ids, seed=3))


def test_finetune_on_english_exports_a_serving_model(sib_rows, tmp_path):
    import tensorflow as tf

    examples, pretrained = sib_rows
    params = tm.finetuning_config({"train_languages": ["en"], "max_seq_length": 32,
                                   "batch_size": 8, "epochs": 5, "learning_rate": 1e-3,
                                   "max_serving_batch": 2})
    summary = tm.finetune([str(examples / "Split-train/*")], [str(examples / "Split-eval/*")],
                          str(tmp_path / "serving"), str(tmp_path / "run"), params,
                          base_model=str(pretrained), train_steps=6)
    # Only English rows were used, for training and for early stopping alike.
    assert summary["train_counts"] == {"en": 32} and summary["eval_counts"] == {"en": 12}
    assert summary["steps_per_epoch"] == 4 and summary["epochs_run"] <= 2
    assert summary["labels"] == sorted(summary["labels"]) and set(summary["labels"]) <= set(SIB_LABELS)
    assert json.loads((tmp_path / "run" / "finetuning_summary.json").read_text()) == summary
    model = tf.saved_model.load(str(tmp_path / "serving"))
    assert (tmp_path / "serving" / "assets" / "labels.txt").read_text().splitlines() == summary["labels"]
    outputs = model.signatures["predict_text"](text=tf.constant(["Die Wahl", "选举"]))
    assert outputs["probabilities"].shape == (2, len(summary["labels"]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="at most 2"):
        model.signatures["predict_text"](text=tf.constant(["a", "b", "c"]))


@pytest.mark.parametrize("freeze", [True, False])
def test_frozen_embeddings_stay_as_pretrained_and_the_layers_above_train(sib_rows, tmp_path, freeze):
    import tensorflow as tf

    from models.encoder import EMBEDDING_LAYERS, load_pretrained_encoder

    examples, pretrained = sib_rows
    params = tm.finetuning_config({"train_languages": ["en"], "max_seq_length": 32, "batch_size": 8,
                                   "learning_rate": 1e-2, "train_steps": 4, "eval_every": 4,
                                   "freeze_embeddings": freeze})
    tm.finetune([str(examples / "Split-train/*")], [str(examples / "Split-eval/*")],
                str(tmp_path / "serving"), str(tmp_path / "run"), params, base_model=str(pretrained))
    reader = tf.train.load_checkpoint(str(tmp_path / "serving" / "variables" / "variables"))
    exported = {key: reader.get_tensor(key) for key in reader.get_variable_to_shape_map()
                if key.startswith("classifier/")}
    encoder = load_pretrained_encoder(str(pretrained))

    def unchanged(layer_name):
        """Whether every weight of the pretrained layer is in the exported model as it was."""
        return all(any(np.array_equal(weight, value) for value in exported.values())
                   for weight in encoder.get_layer(layer_name).get_weights())

    assert not unchanged("transformer_layer_0")
    for name in EMBEDDING_LAYERS:
        assert unchanged(name) == freeze, name


def test_encoder_from_a_local_keras_nlp_preset_folder(tmp_path):
    import keras_hub

    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(3)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]",
                                                              "hello", "world", "##s", "!"]
    preset = tmp_path / "bert_preset"
    keras_hub.models.BertBackbone(
        vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16,
        max_sequence_length=16).save_to_preset(str(preset))
    keras_hub.models.BertTokenizer(vocabulary=vocab, lowercase=False).save_to_preset(str(preset))
    params = tm.finetuning_config({"pretrained_preset_dir": str(preset), "max_seq_length": 16})
    encoder, vocab_dir = tm.resolve_encoder(params, None, tmp_path / "work")
    assert encoder.vocabulary_size == len(vocab)
    assert (vocab_dir / "vocab.txt").read_text().splitlines() == vocab
    settings = json.loads((vocab_dir / "tokenizer.json").read_text())
    assert settings["reserved_tokens"] == vocab[:8] and settings["lower_case"] is False
    from models.tokenizer import load_tokenizer

    ids = load_tokenizer(str(vocab_dir)).tokenize(["hello worlds!"]).to_list()
    assert ids == [[8, 9, 10, 11]]  # hello world ##s !


def test_random_init_keeps_the_architecture_and_drops_the_weights(sib_rows, tmp_path):
    _, pretrained = sib_rows
    loaded, _ = tm.resolve_encoder(tm.finetuning_config({"max_seq_length": 32}), str(pretrained), tmp_path)
    fresh, _ = tm.resolve_encoder(tm.finetuning_config({"max_seq_length": 32, "random_init": True}),
                                  str(pretrained), tmp_path)
    assert fresh.get_config()["num_layers"] == loaded.get_config()["num_layers"] == 2
    assert [w.shape for w in fresh.get_weights()] == [w.shape for w in loaded.get_weights()]
    embedding = 0  # the token embedding: random in both, but not the same draw
    assert not np.allclose(fresh.get_weights()[embedding], loaded.get_weights()[embedding])


def test_encoder_problems_are_named(sib_rows, tmp_path):
    _, pretrained = sib_rows
    with pytest.raises(ValueError, match="finetuning.max_seq_length: 64 exceeds the encoder's max_sequence_length 32"):
        tm.resolve_encoder(tm.finetuning_config({"max_seq_length": 64}), str(pretrained), tmp_path)
    with pytest.raises(ValueError, match="no encoder"):
        tm.resolve_encoder(tm.finetuning_config({}), None, tmp_path)
    with pytest.raises(FileNotFoundError, match="pretrained_preset_dir"):
        tm.resolve_encoder(tm.finetuning_config({"pretrained_preset_dir": str(tmp_path / "x")}),
                           None, tmp_path)


def test_classifier_head_shapes_and_arguments():
    import keras

    from models.classifier import build_classifier
    from models.encoder import build_encoder
    from models.encoder_config import EncoderConfig

    encoder = build_encoder(EncoderConfig.preset("tiny", 20, max_sequence_length=8))
    model = build_classifier(encoder, 5, dropout=0.2)
    inputs = {"token_ids": np.ones((3, 8), "int32"), "segment_ids": np.zeros((3, 8), "int32"),
              "padding_mask": np.ones((3, 8), bool)}
    assert tuple(model(inputs).shape) == (3, 5)
    assert model.get_layer("classifier_dropout").rate == 0.2
    with pytest.raises(ValueError, match="num_classes must be >= 2"):
        build_classifier(encoder, 1)
    with pytest.raises(ValueError, match="dropout"):
        build_classifier(encoder, 3, dropout=1.0)
    assert isinstance(model, keras.Model)


def test_mean_pooling_reads_the_real_tokens_only():
    from models.classifier import build_classifier
    from models.encoder import build_encoder
    from models.encoder_config import EncoderConfig

    encoder = build_encoder(EncoderConfig.preset("tiny", 20, max_sequence_length=8, dropout=0.0))
    model = build_classifier(encoder, 3, dropout=0.0, seed=0, pooling="mean")
    tokens = np.array([[2, 7, 8, 9, 3, 0, 0, 0]], "int32")
    padded = {"token_ids": tokens, "segment_ids": np.zeros((1, 8), "int32"),
              "padding_mask": tokens != 0}
    # Other ids under the padding: the mean over real tokens (attention masks them too) stays.
    noisy = dict(padded, token_ids=np.where(tokens != 0, tokens, 11).astype("int32"))
    np.testing.assert_allclose(model(padded), model(noisy), atol=1e-6)
    cls_model = build_classifier(encoder, 3, dropout=0.0, seed=0, pooling="cls")
    assert not np.allclose(model(padded), cls_model(padded))
    with pytest.raises(ValueError, match="pooling must be one of"):
        build_classifier(encoder, 3, pooling="max")
