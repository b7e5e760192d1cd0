"""`mbert bench jax-pretrain`: the project's MLM + NSP training step under KERAS_BACKEND=jax.

The model is `models/` code as the Trainer uses it (`BertBackbone` + `PretrainingModel`, keras
and keras.ops only) and BERT's optimiser (components/pretraining/schedule.py); the step is one
`jax.jit` of Keras' stateless API: forward, backward, global-norm clipping and AdamW. It runs on
the first JAX device (a GPU or TPU where there is one, else the CPU) with a device-resident
random batch, so the input pipeline is not part of the figure. Prints one JSON line:

- `device`, `platform`, `precision` (mixed_bfloat16 on an accelerator, float32 on a CPU);
- `step_s`: median seconds of a timed training step (the loss fetched every step);
  `tokens_per_s` = batch * seq_len / step_s;
- `step_s_without_optimizer`: the same step without the AdamW update (gradients only), to tell
  how much of the step the optimiser takes; `attention_flops_share` says how much attention does;
- `mfu` = model FLOPs per second / the chip's dense bf16 peak (`PEAK_BF16_FLOPS`; null on a CPU or
  an unknown chip); `peak_memory_bytes` from the device's memory stats (null where it has none);
- `loss_check`: `check_steps` training steps on one fixed batch of `check_batch` sequences from
  the same initial weights, on the device in its precision and, unless that already is float32
  on a CPU, again in float32 on the CPU: the two loss lists must agree within `rtol` (bf16).

Model FLOPs of one training step (forward + backward = 3 x forward, 2 FLOPs per multiply-add),
counting the work the step does, with B = batch, T = seq_len, H = hidden, I = intermediate,
L = layers, P = predictions per sequence, V = vocabulary, q = query rows of a layer (T, or
1 + P for the last layer when `sparse_last_layer` runs it at [CLS] and the masked rows only):

    per layer:  6 * B * (T * 2H^2 + q * (2H^2 + 2HI))    dense: K, V on every row; Q, O, FFN on q rows
              + 12 * B * q * T * H                     attention scores and values
    heads:      6 * B * P * (H^2 + V * H)              MLM transform + tied vocabulary projection
              + 6 * B * (H^2 + 2H)                     pooler + NSP

i.e. 6 * params * tokens for the dense parts plus 12 * L * H * T^2 * B for attention in the dense
case. Embedding look-ups, layer norms, softmax and the optimiser are not counted.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import statistics
import subprocess
import sys
import time

import click

from benchmarks.pretrain import random_masked_batch

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

# Dense bf16 peak FLOP/s by device kind (vendor data sheets; SXM parts). The first key found in
# the device's `device_kind` wins, so more specific names come first.
PEAK_BF16_FLOPS = {
    "H100 PCIe": 756e12,
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "TPU v5p": 459e12,
    "TPU v5 lite": 197e12,
    "TPU v4": 275e12,
}
# Loss agreement between the device's precision and float32 on the CPU: about five bf16 ulps.
LOSS_RTOL = 2e-2
_MODEL_INPUTS = ("token_ids", "segment_ids", "padding_mask", "mask_positions")


def train_flops(layers: int, hidden: int, intermediate: int, vocab_size: int, seq_len: int, batch: int,
                predictions: int, sparse_last_layer: bool) -> tuple[float, float]:
    """Model FLOPs of one training step and the attention part of them (module docstring formula)."""
    dense = attention = 0.0
    for index in range(layers):
        rows = 1 + predictions if sparse_last_layer and index == layers - 1 else seq_len
        dense += 6 * batch * (seq_len * 2 * hidden**2 + rows * (2 * hidden**2 + 2 * hidden * intermediate))
        attention += 12 * batch * rows * seq_len * hidden
    heads = 6 * batch * predictions * (hidden**2 + vocab_size * hidden) + 6 * batch * (hidden**2 + 2 * hidden)
    return dense + attention + heads, attention


def peak_bf16_flops(device_kind: str) -> float | None:
    """The chip's dense bf16 peak from `PEAK_BF16_FLOPS`, None when the kind is not listed."""
    for name, flops in PEAK_BF16_FLOPS.items():
        if name.lower() in device_kind.lower():
            return flops
    return None


class _Trainer:
    """A `PretrainingModel` in one precision and its jitted stateless training step."""

    def __init__(self, args: dict, precision: str):
        import jax
        import keras
        import numpy as np

        from components.pretraining.schedule import make_optimizer
        from models.encoder import build_encoder
        from models.encoder_config import EncoderConfig
        from models.pretraining_model import PretrainingModel, pretraining_losses

        config = EncoderConfig(
            vocab_size=args["vocab_size"], num_layers=args["layers"], hidden_dim=args["hidden"],
            num_heads=args["heads"], intermediate_dim=args["intermediate"],
            max_sequence_length=max(512, args["seq_len"]), dropout=args["dropout"],
        )
        keras.utils.set_random_seed(args["seed"])
        # The Keras variables stay in host memory: the step's state (`state`) is the only copy on
        # the device, as in a training loop, so peak memory is not inflated by a second one.
        with jax.default_device(jax.devices("cpu")[0]):
            self.model = PretrainingModel(build_encoder(config, dtype=precision),
                                          sparse_last_layer=bool(args["sparse_last_layer"]))
            self.model.build()
            # No warm-up: the loss check's few steps train at the peak rate.
            self.optimizer = make_optimizer(args["learning_rate"], warmup_steps=0, total_steps=100_000)
            self.optimizer.build(self.model.trainable_variables)
        # Each run starts from fresh device buffers of these values (the step donates its state).
        self.initial_weights = [
            np.asarray(v.value) for v in self.model.trainable_variables + self.model.non_trainable_variables
        ]
        self._initial_optimizer = [np.asarray(v.value) for v in self.optimizer.variables]
        model, optimizer = self.model, self.optimizer

        def loss_and_state(trainable, non_trainable, batch):
            inputs = {key: batch[key] for key in _MODEL_INPUTS}
            outputs, non_trainable = model.stateless_call(trainable, non_trainable, inputs, training=True)
            return pretraining_losses(outputs, batch)["loss"], non_trainable

        gradients = jax.value_and_grad(loss_and_state, has_aux=True)

        def train_step(state, batch):
            trainable, non_trainable, optimizer_state = state
            (loss, non_trainable), grads = gradients(trainable, non_trainable, batch)
            trainable, optimizer_state = optimizer.stateless_apply(optimizer_state, grads, trainable)
            return (trainable, non_trainable, optimizer_state), loss

        def gradients_only(state, batch):
            trainable, non_trainable, _ = state
            (loss, _), grads = gradients(trainable, non_trainable, batch)
            squares = [jax.numpy.sum(jax.numpy.square(g.astype("float32"))) for g in grads]
            return loss, jax.numpy.sqrt(sum(squares))

        self.train_step = jax.jit(train_step, donate_argnums=0)
        self.gradients_only = jax.jit(gradients_only)

    def state(self, device, weights):
        """Device buffers of (trainable, non-trainable, optimizer) values, from host `weights`."""
        import jax

        count = len(self.model.trainable_variables)
        state = (weights[:count], weights[count:], self._initial_optimizer)
        return jax.device_put(state, device)

    def losses(self, device, weights, batch: dict, steps: int) -> list[float]:
        """Losses of `steps` training steps on one batch (each the loss before its update)."""
        import jax

        state, batch = self.state(device, weights), jax.device_put(batch, device)
        losses = []
        for _ in range(steps):
            state, loss = self.train_step(state, batch)
            losses.append(float(loss))
        return losses

    def time_steps(self, device, batch: dict, steps: int, warmup: int, optimizer: bool = True) -> list[float]:
        """Seconds of each of `steps` timed steps after `warmup` (compilation) steps."""
        import jax

        state, batch = self.state(device, self.initial_weights), jax.device_put(batch, device)
        seconds = []
        for index in range(warmup + steps):
            start = time.perf_counter()
            if optimizer:
                state, loss = self.train_step(state, batch)
            else:
                loss, _ = self.gradients_only(state, batch)
            # Fetching the loss each step is what a real loop does (logging, NaN check).
            if not math.isfinite(float(loss)):
                raise RuntimeError(f"training step {index} gave loss {float(loss)}")
            if index >= warmup:
                seconds.append(time.perf_counter() - start)
        return seconds


def measure(args: dict) -> dict:
    """Runs the benchmark in this process (KERAS_BACKEND must already be jax); returns the result."""
    import jax
    import keras
    import numpy as np

    if keras.backend.backend() != "jax":
        raise RuntimeError(f"the Keras backend is {keras.backend.backend()!r}; set KERAS_BACKEND=jax")
    device = jax.devices()[0]
    precision = args["precision"]
    if precision == "auto":
        # bf16 matmuls are what accelerators are built for; CPUs emulate them slowly.
        precision = "float32" if device.platform == "cpu" else "mixed_bfloat16"
    trainer = _Trainer(args, precision)
    batch = random_masked_batch(args["batch"], args["seq_len"], args["predictions"], args["vocab_size"])
    check_batch = random_masked_batch(
        args["check_batch"], args["seq_len"], args["predictions"], args["vocab_size"], seed=1
    )

    losses = trainer.losses(device, trainer.initial_weights, check_batch, args["check_steps"])
    reference = None
    if device.platform != "cpu" or precision != "float32":
        cpu = jax.devices("cpu")[0]
        reference = _Trainer(args, "float32").losses(cpu, trainer.initial_weights, check_batch, args["check_steps"])
    step_seconds = trainer.time_steps(device, batch, args["steps"], args["warmup"])
    gradient_seconds = trainer.time_steps(device, batch, args["steps"], args["warmup"], optimizer=False)

    step_s = statistics.median(step_seconds)
    flops, attention_flops = train_flops(
        args["layers"], args["hidden"], args["intermediate"], args["vocab_size"], args["seq_len"],
        args["batch"], args["predictions"], bool(args["sparse_last_layer"]),
    )
    peak = peak_bf16_flops(device.device_kind) if device.platform != "cpu" else None
    stats = device.memory_stats()
    deviation = (
        max(abs(a - b) / abs(b) for a, b in zip(losses, reference)) if reference is not None else None
    )
    return {
        "benchmark": "jax-pretrain",
        "device": device.device_kind,
        "platform": device.platform,
        "precision": precision,
        "tokens_per_s": round(args["batch"] * args["seq_len"] / step_s),
        "step_s": round(step_s, 5),
        "step_s_without_optimizer": round(statistics.median(gradient_seconds), 5),
        "runs_step_s": [round(s, 5) for s in step_seconds],
        "model_flops_per_step": flops,
        "attention_flops_share": round(attention_flops / flops, 4),
        "model_flops_per_s": round(flops / step_s),
        "peak_bf16_flops": peak,
        "mfu": round(flops / step_s / peak, 4) if peak else None,
        "peak_memory_bytes": stats.get("peak_bytes_in_use") if stats else None,
        "parameters": int(sum(np.prod(v.shape) for v in trainer.model.trainable_variables)),
        "loss_check": {
            "steps": args["check_steps"],
            "batch": args["check_batch"],
            "losses": [round(x, 5) for x in losses],
            "cpu_float32_losses": [round(x, 5) for x in reference] if reference is not None else None,
            "max_relative_deviation": round(deviation, 5) if deviation is not None else None,
            "rtol": LOSS_RTOL,
            "match": deviation <= LOSS_RTOL if deviation is not None else None,
        },
        "jax": jax.__version__,
        "keras": keras.__version__,
        "config": {k: v for k, v in args.items() if k != "output"},
    }


@click.command("jax-pretrain")
@click.option("--layers", default=12, show_default=True)
@click.option("--hidden", default=768, show_default=True)
@click.option("--heads", default=12, show_default=True)
@click.option("--intermediate", default=3072, show_default=True)
@click.option("--vocab-size", default=119547, show_default=True, help="M-BERT's public vocabulary.")
@click.option("--seq-len", default=128, show_default=True)
@click.option("--batch", default=256, show_default=True)
@click.option("--predictions", default=20, show_default=True, help="Masked positions per sequence.")
@click.option("--precision", type=click.Choice(["auto", "mixed_bfloat16", "float32"]), default="auto",
              show_default=True, help="auto: mixed_bfloat16 on a GPU/TPU, float32 on a CPU.")
@click.option("--sparse-last-layer", default=1, show_default=True, help="Run the last layer only at [CLS] + masked rows.")
@click.option("--dropout", default=0.1, show_default=True)
@click.option("--learning-rate", default=1e-4, show_default=True)
@click.option("--steps", default=10, show_default=True, help="Timed steps.")
@click.option("--warmup", default=2, show_default=True, help="Untimed steps first (compilation).")
@click.option("--check-steps", default=5, show_default=True, help="Steps of the loss check.")
@click.option("--check-batch", default=8, show_default=True, help="Sequences in the loss check's fixed batch.")
@click.option("--seed", default=0, show_default=True)
@click.option("--output", default=None, type=click.Path(dir_okay=False), help="Also write the JSON line here.")
def jax_pretrain(**args):
    """Tokens/s, MFU and memory of the MLM+NSP training step with KERAS_BACKEND=jax."""
    import importlib.util

    if os.environ.get("KERAS_BACKEND") != "jax" or (
        "keras" in sys.modules and sys.modules["keras"].backend.backend() != "jax"
    ):
        # Keras picks its backend at first import: measure in a fresh jax-backend process.
        if importlib.util.find_spec("jax") is None:
            raise click.ClickException("jax is not installed: pip install 'jax[cpu]' (or the CUDA build)")
        command = [sys.executable, "-m", "benchmarks.jax_pretrain"]
        for key, value in args.items():
            if value is not None:
                command += ["--" + key.replace("_", "-"), str(value)]
        env = dict(os.environ, KERAS_BACKEND="jax",
                   PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
        if subprocess.run(command, env=env, check=False).returncode != 0:
            raise click.ClickException("the jax-backend benchmark process failed (its error is above)")
        return
    line = json.dumps(measure(args))
    if args["output"]:
        pathlib.Path(args["output"]).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(args["output"]).write_text(line + "\n", encoding="utf-8")
    click.echo(line)


if __name__ == "__main__":
    sys.exit(jax_pretrain())
