"""`mbert bench pretrain-parity`: the project's pretraining against Hugging Face, same batches.

Both implementations start from the same weights (`benchmarks/parity_init.py`) and train on the
same masked batches, dumped once from the project's input pipeline (language mixing, dynamic
masking): the project's compiled train step (components/pretraining/steps.py, the Trainer's
own step, optimiser and schedule) and Hugging Face `BertForPreTraining` in the peer environment
(`benchmarks/hf_reference.py`, PyTorch CPU). Every `--eval-every` steps both score the same
held-out batches. Prints one JSON line:

    {"ours": {"final_heldout_mlm_loss", "heldout_mlm_accuracy", "wall_s",
              "time_to_reference_loss_s", "train_loss"...},
     "reference": {...}, "max_abs_train_loss_diff": ..., "targets": {...}}

`--fixture DIR` instead writes the regression guard of tests/test_learning.py: the training
batches (no weights: the test rebuilds them from the seed) and the reference's loss curve.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import tempfile
import time
from typing import Any, Optional

import click
import numpy as np

from benchmarks.parity_init import initial_weights

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
REFERENCE_SCRIPT = REPO_ROOT / "benchmarks" / "hf_reference.py"
PEER_ENV_SCRIPT = REPO_ROOT.parent / "shared" / "bench" / "peer_env.sh"
BATCH_KEYS = ("token_ids", "segment_ids", "padding_mask", "mask_positions", "position_ids",
              "mask_ids", "mask_weights", "next_sentence_label")


def make_recipe(*, vocab_size: int, num_layers: int, hidden_dim: int, num_heads: int,
                intermediate_dim: int, seq_len: int, batch_size: int, train_steps: int,
                learning_rate: float, warmup_steps: int, max_predictions: int = 20,
                next_sentence_prediction: bool = True, eval_every: int = 50,
                seed: int = 0) -> dict[str, Any]:
    """Everything both sides need to build and train the same model (JSON-able)."""
    return dict(vocab_size=vocab_size, num_layers=num_layers, hidden_dim=hidden_dim,
                num_heads=num_heads, intermediate_dim=intermediate_dim,
                max_sequence_length=max(seq_len, 512), seq_len=seq_len, batch_size=batch_size,
                train_steps=train_steps, learning_rate=learning_rate, warmup_steps=warmup_steps,
                weight_decay=0.01, clip_norm=1.0, epsilon=1e-6, dropout=0.0,
                max_predictions=max_predictions,
                next_sentence_prediction=next_sentence_prediction, eval_every=eval_every,
                seed=seed, threads=os.cpu_count() or 1)


def build_model(recipe: dict[str, Any]):
    """The project's PretrainingModel for the recipe, with the shared initial weights."""
    from models.encoder import build_encoder
    from models.encoder_config import EncoderConfig
    from models.pretraining_model import PretrainingModel

    config = EncoderConfig(
        vocab_size=recipe["vocab_size"], num_layers=recipe["num_layers"],
        hidden_dim=recipe["hidden_dim"], num_heads=recipe["num_heads"],
        intermediate_dim=recipe["intermediate_dim"],
        max_sequence_length=recipe["max_sequence_length"], dropout=recipe["dropout"])
    model = PretrainingModel(build_encoder(config, dtype="float32"))
    model.build()
    weights = initial_weights({v.path: v.shape for v in model.weights}, recipe["seed"])
    for variable in model.weights:
        variable.assign(weights[variable.path])
    return model, weights


def dump_batches(files: list[str], vocab_dir: str, *, batch_size: int, seq_len: int,
                 steps: int, max_predictions: int, seed: int) -> list[dict[str, np.ndarray]]:
    """`steps` masked batches from the project's training input pipeline, as numpy."""
    from components.pretraining import data
    from components.pretraining import masking

    kwargs = masking.masking_kwargs_from_vocab(vocab_dir)
    kwargs.update(max_predictions=max_predictions)
    dataset = data.make_dataset(files, batch_size, seq_len, kwargs, training=True, seed=seed)
    return [{key: batch[key].numpy() for key in BATCH_KEYS} for batch in dataset.take(steps)]


def _evaluate(eval_step, heldout) -> dict[str, float]:
    losses, hits, counts = [], 0.0, 0.0
    for batch in heldout:
        out = eval_step(batch)
        losses.append(float(out["mlm_loss"]))
        hits += float(out["mlm_correct"].numpy().sum())
        counts += float(out["mlm_count"].numpy().sum())
    return {"mlm_loss": float(np.mean(losses)), "mlm_accuracy": hits / max(counts, 1.0)}


def train_ours(recipe: dict[str, Any], train: list[dict], heldout: list[dict]) -> dict[str, Any]:
    """The Trainer's compiled step on the given batches; the curve has the reference's layout."""
    import keras
    import tensorflow as tf

    from components.pretraining.schedule import make_optimizer
    from components.pretraining.steps import make_eval_step, make_train_step

    keras.utils.set_random_seed(recipe["seed"])
    model, _ = build_model(recipe)
    optimizer = make_optimizer(recipe["learning_rate"], recipe["warmup_steps"],
                               recipe["train_steps"], weight_decay=recipe["weight_decay"],
                               clip_norm=recipe["clip_norm"], epsilon=recipe["epsilon"])
    optimizer.build(model.trainable_variables)
    step_fn = make_train_step(model, optimizer, tf.distribute.get_strategy(),
                              next_sentence_prediction=recipe["next_sentence_prediction"])
    eval_step = make_eval_step(model)
    as_tensors = lambda b: {k: tf.constant(v) for k, v in b.items()}  # noqa: E731
    train = [as_tensors(b) for b in train]
    heldout = [as_tensors(b) for b in heldout]
    curve: dict[str, Any] = {"train_loss": [], "train_mlm_loss": [], "eval": []}
    wall = 0.0
    for step, batch in enumerate(train):
        if recipe["eval_every"] and step % recipe["eval_every"] == 0 and heldout:
            curve["eval"].append({"step": step, "wall_s": wall, **_evaluate(eval_step, heldout)})
        start = time.perf_counter()
        out = step_fn(batch)
        loss = float(out["loss"])  # waits for the step: the time is the step's
        wall += time.perf_counter() - start
        curve["train_loss"].append(loss)
        curve["train_mlm_loss"].append(float(out["mlm_loss"]))
    if heldout:
        curve["eval"].append({"step": len(train), "wall_s": wall, **_evaluate(eval_step, heldout)})
    curve["wall_s"] = wall
    return curve


def write_batches(path: pathlib.Path, recipe: dict, train: list[dict], heldout: list[dict],
                  weights: Optional[dict[str, np.ndarray]] = None) -> None:
    """The file hf_reference.py reads (weights left out for the committed fixture)."""
    arrays: dict[str, np.ndarray] = {"recipe": np.array(json.dumps(recipe))}
    for prefix, batches in (("train/", train), ("heldout/", heldout)):
        if batches:
            arrays.update({prefix + k: np.stack([b[k] for b in batches]) for k in batches[0]})
    for name, value in (weights or {}).items():
        arrays["weight/" + name] = value
    np.savez_compressed(path, **arrays)


def read_batches(path: pathlib.Path) -> tuple[dict, list[dict], list[dict]]:
    """(recipe, training batches, held-out batches) of a `write_batches` file."""
    data = np.load(path)
    recipe = json.loads(str(data["recipe"]))

    def batches(prefix):
        keys = [k for k in data.files if k.startswith(prefix)]
        steps = data[keys[0]].shape[0] if keys else 0
        return [{k[len(prefix):]: data[k][i] for k in keys} for i in range(steps)]

    return recipe, batches("train/"), batches("heldout/")


def run_reference(batches_file: pathlib.Path, peer_python: str) -> dict[str, Any]:
    """Runs hf_reference.py in the peer environment; returns its curve."""
    with tempfile.TemporaryDirectory() as tmp:
        output = pathlib.Path(tmp) / "curve.json"
        subprocess.run([peer_python, str(REFERENCE_SCRIPT), "--batches", str(batches_file),
                        "--output", str(output)], check=True)
        return json.loads(output.read_text())


def peer_python() -> str:
    """The peer environment's python (built by ../shared/bench/peer_env.sh if missing)."""
    if not PEER_ENV_SCRIPT.exists():
        raise click.ClickException(f"{PEER_ENV_SCRIPT}: not found (the peer environment's "
                                   f"builder); pass --peer-python")
    out = subprocess.run(["bash", str(PEER_ENV_SCRIPT)], check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def time_to_loss(curve: dict[str, Any], target: float) -> Optional[float]:
    """Training seconds until the held-out MLM loss is at or below `target` (None: never)."""
    for point in curve["eval"]:
        if point["mlm_loss"] <= target:
            return point["wall_s"]
    return None


def summary(curve: dict[str, Any]) -> dict[str, Any]:
    final = curve["eval"][-1] if curve["eval"] else {}
    return {"final_heldout_mlm_loss": final.get("mlm_loss"),
            "heldout_mlm_accuracy": final.get("mlm_accuracy"),
            "wall_s": round(curve["wall_s"], 2),
            "final_train_loss": curve["train_loss"][-1],
            "eval": curve["eval"]}


def compare(ours: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    """The JSON line: both summaries, the per-step gap and the issue's two targets."""
    target = reference["eval"][-1]["mlm_loss"]
    result = {"ours": summary(ours), "reference": summary(reference)}
    result["ours"]["time_to_reference_loss_s"] = time_to_loss(ours, target)
    gaps = np.abs(np.array(ours["train_loss"]) - np.array(reference["train_loss"]))
    result["max_abs_train_loss_diff"] = float(gaps.max())
    result["mean_abs_train_loss_diff"] = float(gaps.mean())
    reached = result["ours"]["time_to_reference_loss_s"]
    result["targets"] = {
        "final_loss_within_1.05x": result["ours"]["final_heldout_mlm_loss"] <= 1.05 * target,
        "reaches_reference_loss_sooner": reached is not None and reached < reference["wall_s"],
    }
    return result


@click.command("pretrain-parity")
@click.option("--examples", "examples_dir", type=click.Path(exists=True, file_okay=False),
              required=True, help="PretrainingExampleGen output (Split-train/, Split-eval/).")
@click.option("--vocab", "vocab_dir", type=click.Path(exists=True, file_okay=False),
              required=True, help="The Vocabulary artifact's folder the instances were cut with.")
@click.option("--steps", type=click.IntRange(1), default=600, show_default=True)
@click.option("--batch", "batch_size", type=click.IntRange(1), default=32, show_default=True)
@click.option("--seq-len", type=click.IntRange(8), default=128, show_default=True)
@click.option("--layers", type=click.IntRange(1), default=2, show_default=True)
@click.option("--hidden", type=click.IntRange(8), default=128, show_default=True)
@click.option("--heads", type=click.IntRange(1), default=2, show_default=True)
@click.option("--intermediate", type=click.IntRange(8), default=512, show_default=True)
@click.option("--lr", "learning_rate", type=float, default=1e-3, show_default=True)
@click.option("--warmup", "warmup_steps", type=click.IntRange(0), default=60, show_default=True)
@click.option("--predictions", type=click.IntRange(1), default=20, show_default=True)
@click.option("--nsp/--no-nsp", default=True, show_default=True)
@click.option("--eval-every", type=click.IntRange(0), default=50, show_default=True)
@click.option("--heldout-batches", type=click.IntRange(0), default=16, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--peer-python", "peer_python_path", default=None,
              help="Python of the peer environment (default: ../shared/bench/peer_env.sh's).")
@click.option("--fixture", type=click.Path(file_okay=False), default=None,
              help="Write the regression-guard fixture (batches + reference curve) here.")
def pretrain_parity(examples_dir, vocab_dir, steps, batch_size, seq_len, layers, hidden, heads,
                    intermediate, learning_rate, warmup_steps, predictions, nsp, eval_every,
                    heldout_batches, seed, peer_python_path, fixture):
    """Project pretraining vs Hugging Face BertForPreTraining on the same batches."""
    from components.vocabulary.files import read_vocab

    recipe = make_recipe(
        vocab_size=len(read_vocab(vocab_dir)), num_layers=layers,
        hidden_dim=hidden, num_heads=heads, intermediate_dim=intermediate, seq_len=seq_len,
        batch_size=batch_size, train_steps=steps, learning_rate=learning_rate,
        warmup_steps=warmup_steps, max_predictions=predictions, next_sentence_prediction=nsp,
        eval_every=eval_every, seed=seed)
    files = lambda split: sorted(str(p) for p in  # noqa: E731
                                 pathlib.Path(examples_dir, f"Split-{split}").glob("*.gz"))
    train = dump_batches(files("train"), vocab_dir, batch_size=batch_size, seq_len=seq_len,
                         steps=steps, max_predictions=predictions, seed=seed)
    heldout = dump_batches(files("eval"), vocab_dir, batch_size=batch_size, seq_len=seq_len,
                           steps=heldout_batches, max_predictions=predictions, seed=seed + 1)
    python = peer_python_path or peer_python()
    with tempfile.TemporaryDirectory() as tmp:
        batches_file = pathlib.Path(tmp) / "batches.npz"
        _, weights = build_model(recipe)
        write_batches(batches_file, recipe, train, heldout, weights)
        reference = run_reference(batches_file, python)
    if fixture:
        out = pathlib.Path(fixture)
        out.mkdir(parents=True, exist_ok=True)
        write_batches(out / "batches.npz", recipe, train, heldout)
        (out / "reference_curve.json").write_text(json.dumps(
            {"implementation": reference["implementation"],
             "train_loss": [round(x, 6) for x in reference["train_loss"]],
             "eval": reference["eval"]}, indent=1) + "\n")
    ours = train_ours(recipe, train, heldout)
    result = compare(ours, reference)
    result.update(recipe=recipe, implementation=reference["implementation"])
    click.echo(json.dumps(result))
