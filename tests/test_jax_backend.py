"""`mbert bench jax-pretrain`: its FLOP count, chip peaks, and a tiny run under KERAS_BACKEND=jax."""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import pytest

from benchmarks.jax_pretrain import peak_bf16_flops, train_flops

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = ["--layers", "2", "--hidden", "32", "--heads", "2", "--intermediate", "64", "--vocab-size", "500",
        "--seq-len", "16", "--batch", "8", "--predictions", "4", "--steps", "2", "--warmup", "1",
        "--check-steps", "4", "--check-batch", "4", "--learning-rate", "1e-2"]


def test_flops_are_six_params_tokens_plus_attention_when_dense():
    layers, hidden, inter, vocab, seq, batch, predictions = 12, 768, 3072, 119547, 128, 256, 20
    flops, attention = train_flops(layers, hidden, inter, vocab, seq, batch, predictions, sparse_last_layer=False)
    layer_params = layers * (4 * hidden**2 + 2 * hidden * inter)
    heads = 6 * batch * predictions * (hidden**2 + vocab * hidden) + 6 * batch * (hidden**2 + 2 * hidden)
    assert attention == 12 * layers * hidden * seq**2 * batch
    assert flops == 6 * layer_params * batch * seq + attention + heads
    # The sparse last layer skips Q, O and the feed-forward block on all but 1 + P rows.
    sparse, sparse_attention = train_flops(layers, hidden, inter, vocab, seq, batch, predictions, sparse_last_layer=True)
    saved = 6 * batch * (seq - 1 - predictions) * (2 * hidden**2 + 2 * hidden * inter)
    assert flops - sparse == saved + attention - sparse_attention
    assert sparse_attention == attention * (layers - 1) / layers + 12 * batch * (1 + predictions) * seq * hidden


def test_peak_flops_by_device_kind():
    assert peak_bf16_flops("NVIDIA H200") == 989e12
    assert peak_bf16_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert peak_bf16_flops("NVIDIA H100 PCIe") == 756e12
    assert peak_bf16_flops("NVIDIA A100-SXM4-80GB") == 312e12
    assert peak_bf16_flops("cpu") is None


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed (pip install '.[test]')")
def test_tiny_run_under_jax_matches_float32_and_learns(tmp_path):
    # bf16 on the CPU takes the accelerator's path: the loss check runs against float32.
    output = tmp_path / "result.json"
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.jax_pretrain", *TINY, "--precision", "mixed_bfloat16",
         "--output", str(output)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == json.loads(output.read_text())
    assert result["platform"] == "cpu" and result["precision"] == "mixed_bfloat16"
    assert result["tokens_per_s"] > 0 and result["step_s"] > 0 and result["step_s_without_optimizer"] > 0
    assert result["mfu"] is None and result["peak_memory_bytes"] is None  # no bf16 peak or stats on a CPU
    assert result["model_flops_per_step"] == train_flops(2, 32, 64, 500, 16, 8, 4, sparse_last_layer=True)[0]
    check = result["loss_check"]
    losses, reference = check["losses"], check["cpu_float32_losses"]
    assert len(losses) == len(reference) == 4
    assert losses[-1] < losses[0] - 0.5, losses  # the fixed batch is being learned
    assert reference[-1] < reference[0] - 0.5, reference
    assert check["match"] is True and check["max_relative_deviation"] <= check["rtol"]
