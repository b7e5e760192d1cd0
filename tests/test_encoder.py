"""Encoder config, encoder export/load, pretraining heads, schedule and hardware choices."""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from components.pretraining import hardware
from components.pretraining.schedule import WarmupLinearDecay, make_optimizer
from components.vocabulary import files
from models.encoder import build_encoder, export_encoder, load_pretrained_encoder
from models.encoder_config import EncoderConfig
from models.masked_lm_head import TiedMaskedLMHead
from models.next_sentence_head import NextSentenceHead
from models.pretraining_model import PretrainingModel, pretraining_losses

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
VOCAB = 50
SEQ = 16


def _tiny(**overrides) -> EncoderConfig:
    return EncoderConfig.preset("tiny", VOCAB, max_sequence_length=SEQ, **overrides)


def _batch(batch=3, predictions=4, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    padding = np.ones((batch, SEQ), bool)
    padding[0, 10:] = False  # one padded row
    return {
        "token_ids": rng.integers(5, VOCAB, (batch, SEQ)).astype("int32"),
        "segment_ids": (np.arange(SEQ)[None, :] >= 8).repeat(batch, 0).astype("int32"),
        "padding_mask": padding,
        "mask_positions": np.sort(rng.choice(np.arange(1, 10), (batch, predictions)), axis=1).astype("int32"),
        "mask_ids": rng.integers(5, VOCAB, (batch, predictions)).astype("int32"),
        "mask_weights": np.array([[1, 1, 1, 0]] * batch, "float32")[:, :predictions],
        "next_sentence_label": np.array([0, 1, 0][:batch], "int32"),
    }


# --- EncoderConfig ----------------------------------------------------------------------------


def test_presets_have_the_documented_shapes():
    assert _shape(EncoderConfig.preset("tiny", 100)) == (2, 32, 2, 64)
    assert _shape(EncoderConfig.preset("small", 100)) == (4, 256, 4, 1024)
    assert _shape(EncoderConfig.preset("base", 119547)) == (12, 768, 12, 3072)
    assert EncoderConfig.preset("base", 119547).vocab_size == 119547


def _shape(config):
    return (config.num_layers, config.hidden_dim, config.num_heads, config.intermediate_dim)


def test_config_json_round_trip(tmp_path):
    config = _tiny(dropout=0.05)
    assert EncoderConfig.from_json(config.to_json()) == config
    config.save(tmp_path / "encoder_config.json")
    assert EncoderConfig.load(tmp_path / "encoder_config.json") == config
    assert json.loads(config.to_json()) == {
        "vocab_size": 50, "num_layers": 2, "hidden_dim": 32, "num_heads": 2,
        "intermediate_dim": 64, "max_sequence_length": 16, "dropout": 0.05,
    }


def test_config_rejects_unknown_keys_and_wrong_types(tmp_path):
    text = json.dumps({**_tiny().to_dict(), "hiden_dim": 64})
    with pytest.raises(ValueError, match=r"unknown EncoderConfig key 'hiden_dim'"):
        EncoderConfig.from_json(text)
    bad_file = tmp_path / "encoder_config.json"
    bad_file.write_text(json.dumps({**_tiny().to_dict(), "num_layers": "2"}))
    with pytest.raises(ValueError, match=rf"{bad_file}: EncoderConfig.num_layers must be a positive integer, got '2'"):
        EncoderConfig.load(bad_file)
    with pytest.raises(ValueError, match=r"hidden_dim \(30\) must be a multiple of EncoderConfig.num_heads \(4\)"):
        EncoderConfig(vocab_size=10, num_layers=1, hidden_dim=30, num_heads=4, intermediate_dim=8)
    with pytest.raises(ValueError, match=r"missing EncoderConfig key 'vocab_size'"):
        EncoderConfig.from_dict({"num_layers": 1, "hidden_dim": 8, "num_heads": 2, "intermediate_dim": 8})
    with pytest.raises(ValueError, match=r"unknown encoder preset 'huge'"):
        EncoderConfig.preset("huge", 10)
    with pytest.raises(ValueError, match=r"EncoderConfig.dropout must be a number in \[0, 1\), got 1.5"):
        _tiny(dropout=1.5)


# --- encoder build / export / load -----------------------------------------------------------


def test_build_encoder_outputs():
    encoder = build_encoder(_tiny())
    batch = _batch()
    out = encoder({k: batch[k] for k in ("token_ids", "segment_ids", "padding_mask")})
    assert tuple(out["sequence_output"].shape) == (3, SEQ, 32)
    assert tuple(out["pooled_output"].shape) == (3, 32)


def _vocab_dir(tmp_path, size=VOCAB):
    vocab_dir = tmp_path / "vocab"
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"t{i}" for i in range(size - 5)]
    files.write_vocabulary(vocab_dir, tokens, files.tokenizer_settings(tokens, lower_case=False))
    return vocab_dir


def test_export_and_load_pretrained_encoder(tmp_path):
    encoder = build_encoder(_tiny(), dtype="mixed_bfloat16")
    batch = _batch()
    inputs = {k: batch[k] for k in ("token_ids", "segment_ids", "padding_mask")}
    export_dir = export_encoder(encoder, tmp_path / "export", _vocab_dir(tmp_path))
    assert sorted(p.name for p in export_dir.iterdir()) == ["encoder.keras", "encoder_config.json", "tokenizer.json", "vocab.txt"]
    assert EncoderConfig.load(export_dir / "encoder_config.json") == _tiny()
    loaded = load_pretrained_encoder(export_dir)
    assert loaded.dtype_policy.name == "float32"
    for a, b in zip(encoder.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    float_encoder = build_encoder(_tiny())
    float_encoder.set_weights(encoder.get_weights())
    np.testing.assert_allclose(
        np.asarray(loaded(inputs)["pooled_output"]), np.asarray(float_encoder(inputs)["pooled_output"]), atol=1e-6
    )


def test_export_refuses_a_vocabulary_of_another_size(tmp_path):
    with pytest.raises(ValueError, match=r"vocab.txt has 60 tokens but the encoder's vocab_size is 50"):
        export_encoder(build_encoder(_tiny()), tmp_path / "export", _vocab_dir(tmp_path, size=60))


def test_load_from_a_keras_hub_preset_folder(tmp_path):
    encoder = build_encoder(_tiny())
    encoder.save_to_preset(str(tmp_path / "preset"))
    assert {"config.json", "model.weights.h5"} <= {p.name for p in (tmp_path / "preset").iterdir()}
    loaded = load_pretrained_encoder(tmp_path / "preset")
    for a, b in zip(encoder.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert loaded.num_layers == 2 and loaded.hidden_dim == 32


def test_load_from_nothing_says_what_it_looked_for(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no pretrained encoder at .*empty: expected a folder with encoder.keras"):
        load_pretrained_encoder(tmp_path / "empty")


# --- heads and the pretraining model ---------------------------------------------------------


def test_mlm_head_is_tied_and_scores_only_masked_positions():
    keras.utils.set_random_seed(1)
    encoder = build_encoder(_tiny())
    model = PretrainingModel(encoder, sparse_last_layer=False)
    batch = _batch()
    out = model(batch)
    assert tuple(out["mlm_logits"].shape) == (3, 4, VOCAB)
    assert tuple(out["nsp_logits"].shape) == (3, 2)
    # The head owns no output kernel: transform dense (kernel, bias), layer norm (gamma, beta), bias.
    head_shapes = sorted(tuple(w.shape) for w in model.masked_lm_head.weights)
    assert head_shapes == sorted([(32, 32), (32,), (32,), (32,), (VOCAB,)])
    # Recompute by hand from the encoder output at the masked positions and the embedding matrix.
    sequence = np.asarray(encoder({k: batch[k] for k in ("token_ids", "segment_ids", "padding_mask")})["sequence_output"])
    gathered = np.take_along_axis(sequence, batch["mask_positions"][..., None], axis=1)
    head = model.masked_lm_head
    x = np.asarray(head.transform_layer_norm(head.transform_dense(gathered)))
    expected = x @ np.asarray(encoder.token_embedding.embeddings).T + np.asarray(head.output_bias)
    np.testing.assert_allclose(np.asarray(out["mlm_logits"]), expected, atol=1e-5)


def test_sparse_last_layer_equals_the_dense_computation():
    keras.utils.set_random_seed(2)
    model = PretrainingModel(build_encoder(_tiny()), sparse_last_layer=True)
    batch = _batch()
    sparse = model(batch)
    model.sparse_last_layer = False
    dense = model(batch)
    for key in ("mlm_logits", "nsp_logits"):
        np.testing.assert_allclose(np.asarray(sparse[key]), np.asarray(dense[key]), atol=1e-5)


def test_losses_ignore_padding_predictions():
    batch = _batch()
    logits = np.zeros((3, 4, VOCAB), "float32")
    logits[:, :, 7] = 10.0  # confident "7" everywhere
    batch["mask_ids"][:] = 7
    batch["mask_ids"][:, 3] = 9  # the padding slot (weight 0) is wrong: must not count
    stats = pretraining_losses({"mlm_logits": logits, "nsp_logits": np.zeros((3, 2), "float32")}, batch)
    np.testing.assert_allclose(np.asarray(stats["mlm_correct"]), [3, 3, 3])
    np.testing.assert_allclose(np.asarray(stats["mlm_count"]), [3, 3, 3])
    expected_xent = np.log1p((VOCAB - 1) * np.exp(-10.0))
    np.testing.assert_allclose(float(stats["mlm_loss"]), expected_xent * 9 / (9 + 1e-5), rtol=1e-4)
    np.testing.assert_allclose(float(stats["nsp_loss"]), np.log(2.0), rtol=1e-6)


@pytest.mark.parametrize(
    "layer",
    [
        TiedMaskedLMHead(vocabulary_size=VOCAB, hidden_dim=32, layer_norm_epsilon=1e-6, name="mlm"),
        NextSentenceHead(name="nsp"),
    ],
    ids=["masked_lm_head", "next_sentence_head"],
)
def test_head_get_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer) and restored.get_config() == config


def test_pretraining_model_get_config_round_trip():
    model = PretrainingModel(build_encoder(_tiny()), sparse_last_layer=False)
    clone = PretrainingModel.from_config(model.get_config())
    assert clone.sparse_last_layer is False
    assert clone.encoder.get_config() == model.encoder.get_config()


# --- schedule, optimiser, hardware -------------------------------------------------------------


def test_warmup_then_linear_decay_values():
    schedule = WarmupLinearDecay(1e-3, warmup_steps=4, total_steps=14)
    values = [float(schedule(step)) for step in (0, 3, 4, 9, 14, 20)]
    np.testing.assert_allclose(values, [2.5e-4, 1e-3, 1e-3, 5e-4, 0.0, 0.0], rtol=1e-6, atol=1e-12)
    assert WarmupLinearDecay.from_config(schedule.get_config()).get_config() == schedule.get_config()
    with pytest.raises(ValueError, match=r"warmup_steps=20, total_steps=10"):
        WarmupLinearDecay(1e-3, 20, 10)


def test_optimizer_decays_weights_but_not_biases_or_layer_norms():
    optimizer = make_optimizer(1e-3, 1, 10)
    kernel = keras.Variable(np.ones((2, 2)), name="kernel")
    bias = keras.Variable(np.ones((2,)), name="bias")
    gamma = keras.Variable(np.ones((2,)), name="gamma")
    assert optimizer._use_weight_decay(kernel)
    assert not optimizer._use_weight_decay(bias) and not optimizer._use_weight_decay(gamma)
    assert optimizer.global_clipnorm == 1.0


def test_cpu_bf16_detection_reads_cpu_flags(tmp_path):
    with_bf16 = tmp_path / "cpuinfo_bf16"
    with_bf16.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16 avx512_vnni\n")
    without = tmp_path / "cpuinfo_plain"
    without.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f\n")
    assert hardware.cpu_has_bf16(with_bf16) is True
    assert hardware.cpu_has_bf16(without) is False
    assert hardware.cpu_has_bf16(tmp_path / "missing") is False


def test_flags_and_strategy_selection():
    assert hardware.resolve_flag("auto", True, "k") is True
    assert hardware.resolve_flag(None, False, "k") is False
    assert hardware.resolve_flag("off", True, "k") is False
    with pytest.raises(ValueError, match=r"mixed_precision: expected true, false or 'auto', got 'maybe'"):
        hardware.resolve_flag("maybe", True, "mixed_precision")
    strategy = hardware.select_strategy(env={})
    assert strategy.num_replicas_in_sync == 1 and hardware.is_chief(strategy)
    # One-task TF_CONFIG is not multi-worker; malformed TF_CONFIG is named.
    single = json.dumps({"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 0}})
    assert hardware.select_strategy(env={"TF_CONFIG": single}).num_replicas_in_sync == 1
    with pytest.raises(ValueError, match=r"TF_CONFIG is not valid JSON"):
        hardware.select_strategy(env={"TF_CONFIG": "{cluster"})


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed (KERAS_BACKEND=jax check)")
def test_model_runs_under_the_jax_backend(tmp_path):
    # Same weights, same batch: the JAX backend's losses equal this (TensorFlow) process's.
    model = PretrainingModel(build_encoder(_tiny()))
    batch = _batch()
    expected = pretraining_losses(model(batch), batch)
    model.save_weights(tmp_path / "tiny.weights.h5")
    np.savez(tmp_path / "batch.npz", **batch)
    script = (
        "import json, sys, numpy as np, keras\n"
        "from models.encoder import build_encoder\n"
        "from models.encoder_config import EncoderConfig\n"
        "from models.pretraining_model import PretrainingModel, pretraining_losses\n"
        "assert keras.backend.backend() == 'jax'\n"
        f"m = PretrainingModel(build_encoder(EncoderConfig.preset('tiny', {VOCAB}, max_sequence_length={SEQ})))\n"
        "b = dict(np.load(sys.argv[1] + '/batch.npz')); m(b)\n"
        "m.load_weights(sys.argv[1] + '/tiny.weights.h5')\n"
        "losses = pretraining_losses(m(b), b)\n"
        "print(json.dumps({k: float(losses[k]) for k in ('mlm_loss', 'nsp_loss')}))\n"
    )
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    jax_losses = json.loads(done.stdout.strip().splitlines()[-1])
    for key, value in jax_losses.items():
        assert value == pytest.approx(float(expected[key]), rel=1e-4), key
