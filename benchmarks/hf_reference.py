"""The independent implementation: Hugging Face `BertForPreTraining` trained on dumped batches.

Runs in the peer environment (`../shared/bench/peer_env.sh`: PyTorch CPU + transformers; no
TensorFlow), called by `benchmarks/pretrain_parity.py`:

    PEER_PYTHON benchmarks/hf_reference.py --batches BATCHES.npz --output CURVE.json

BATCHES.npz (written by the project side) holds the recipe (`recipe`: JSON), the initial
weights (`weight/<keras variable path>`), the training batches (`train/<key>`: one leading axis
of steps) and the held-out batches (`heldout/<key>`), keys as in components/pretraining/masking.py. The model,
optimiser and schedule follow the recipe: AdamW with decoupled weight decay except on biases
and layer norms, global-norm clipping, the project's warm-up + linear decay; dropout 0 when the
recipe says so. Writes {"train_loss": [...per step...], "eval": [{"step", "mlm_loss",
"mlm_accuracy", "wall_s"}], "wall_s": ...} where wall_s counts training steps only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
from transformers import BertConfig, BertForPreTraining

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.parity_init import learning_rate  # noqa: E402  (numpy only)


def _linear(weight: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(weight.T))


def hf_state(weights: dict[str, np.ndarray], hidden: int, layers: int) -> dict[str, torch.Tensor]:
    """Keras variable paths -> BertForPreTraining state-dict entries (kernels transposed,
    attention heads flattened)."""
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    state = {
        "bert.embeddings.word_embeddings.weight": t(weights["token_embedding/embeddings"]),
        "bert.embeddings.position_embeddings.weight": t(weights["position_embedding/embeddings"]),
        "bert.embeddings.token_type_embeddings.weight": t(weights["segment_embedding/embeddings"]),
        "bert.embeddings.LayerNorm.weight": t(weights["embeddings_layer_norm/gamma"]),
        "bert.embeddings.LayerNorm.bias": t(weights["embeddings_layer_norm/beta"]),
        "bert.pooler.dense.weight": _linear(weights["pooled_dense/kernel"]),
        "bert.pooler.dense.bias": t(weights["pooled_dense/bias"]),
        "cls.predictions.transform.dense.weight": _linear(
            weights["pretraining_model/masked_lm_head/transform_dense/kernel"]),
        "cls.predictions.transform.dense.bias": t(
            weights["pretraining_model/masked_lm_head/transform_dense/bias"]),
        "cls.predictions.transform.LayerNorm.weight": t(
            weights["pretraining_model/masked_lm_head/transform_layer_norm/gamma"]),
        "cls.predictions.transform.LayerNorm.bias": t(
            weights["pretraining_model/masked_lm_head/transform_layer_norm/beta"]),
        "cls.predictions.bias": t(weights["pretraining_model/masked_lm_head/output_bias"]),
        "cls.seq_relationship.weight": _linear(
            weights["pretraining_model/next_sentence_head/classifier/kernel"]),
        "cls.seq_relationship.bias": t(
            weights["pretraining_model/next_sentence_head/classifier/bias"]),
    }
    for i in range(layers):
        k, h = f"transformer_layer_{i}/", f"bert.encoder.layer.{i}."
        for name in ("query", "key", "value"):
            kernel = weights[f"{k}self_attention_layer/{name}/kernel"]  # (H, heads, head_dim)
            state[f"{h}attention.self.{name}.weight"] = _linear(kernel.reshape(hidden, hidden))
            state[f"{h}attention.self.{name}.bias"] = t(
                weights[f"{k}self_attention_layer/{name}/bias"].reshape(hidden))
        output = weights[f"{k}self_attention_layer/attention_output/kernel"]  # (heads, dim, H)
        pairs = {
            "attention.output.dense.weight": _linear(output.reshape(hidden, hidden)),
            "attention.output.dense.bias": t(weights[f"{k}self_attention_layer/attention_output/bias"]),
            "attention.output.LayerNorm.weight": t(weights[f"{k}self_attention_layer_norm/gamma"]),
            "attention.output.LayerNorm.bias": t(weights[f"{k}self_attention_layer_norm/beta"]),
            "intermediate.dense.weight": _linear(weights[f"{k}feedforward_intermediate_dense/kernel"]),
            "intermediate.dense.bias": t(weights[f"{k}feedforward_intermediate_dense/bias"]),
            "output.dense.weight": _linear(weights[f"{k}feedforward_output_dense/kernel"]),
            "output.dense.bias": t(weights[f"{k}feedforward_output_dense/bias"]),
            "output.LayerNorm.weight": t(weights[f"{k}feedforward_layer_norm/gamma"]),
            "output.LayerNorm.bias": t(weights[f"{k}feedforward_layer_norm/beta"]),
        }
        state.update({h + name: value for name, value in pairs.items()})
    return state


def build_model(recipe: dict, weights: dict[str, np.ndarray]) -> BertForPreTraining:
    config = BertConfig(
        vocab_size=recipe["vocab_size"], hidden_size=recipe["hidden_dim"],
        num_hidden_layers=recipe["num_layers"], num_attention_heads=recipe["num_heads"],
        intermediate_size=recipe["intermediate_dim"],
        max_position_embeddings=recipe["max_sequence_length"], type_vocab_size=2,
        hidden_act="gelu_pytorch_tanh",  # the tanh GELU of BERT and of keras-hub's layers
        hidden_dropout_prob=recipe["dropout"], attention_probs_dropout_prob=recipe["dropout"],
        layer_norm_eps=1e-12)
    model = BertForPreTraining(config)
    state = hf_state(weights, recipe["hidden_dim"], recipe["num_layers"])
    missing, unexpected = model.load_state_dict(state, strict=False)
    # The decoder weight is tied to the word embeddings and its bias to cls.predictions.bias.
    left = [name for name in missing if not name.startswith("cls.predictions.decoder")]
    if left or unexpected:
        raise ValueError(f"weights do not fit BertForPreTraining: missing {left}, "
                         f"unexpected {unexpected}")
    model.tie_weights()
    return model


def _inputs(batch: dict[str, np.ndarray]) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """A masked batch -> BertForPreTraining inputs, MLM labels (-100 = not scored), NSP labels."""
    token_ids = torch.from_numpy(batch["token_ids"].astype(np.int64))
    labels = torch.full_like(token_ids, -100)
    rows = np.repeat(np.arange(token_ids.shape[0])[:, None], batch["mask_positions"].shape[1], 1)
    real = batch["mask_weights"] > 0
    labels[torch.from_numpy(rows[real]), torch.from_numpy(batch["mask_positions"][real].astype(np.int64))] = \
        torch.from_numpy(batch["mask_ids"][real].astype(np.int64))
    nsp = batch["next_sentence_label"].astype(np.int64)
    inputs = {
        "input_ids": token_ids,
        "token_type_ids": torch.from_numpy(batch["segment_ids"].astype(np.int64)),
        "attention_mask": torch.from_numpy(batch["padding_mask"].astype(np.int64)),
        "position_ids": torch.from_numpy(batch["position_ids"].astype(np.int64)),
    }
    return inputs, labels, torch.from_numpy(np.where(nsp < 0, -100, nsp))


def _losses(model, batch, next_sentence_prediction: bool):
    inputs, labels, nsp_labels = _inputs(batch)
    out = model(**inputs)
    logits = out.prediction_logits
    mlm_loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 labels.reshape(-1), ignore_index=-100)
    scored = labels != -100
    hits = (logits.argmax(-1) == labels) & scored
    loss = mlm_loss
    if next_sentence_prediction and bool((nsp_labels != -100).any()):
        loss = loss + torch.nn.functional.cross_entropy(out.seq_relationship_logits, nsp_labels,
                                                        ignore_index=-100)
    return loss, mlm_loss, int(hits.sum()), int(scored.sum())


def _optimizer(model, recipe):
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(parameter)
    return torch.optim.AdamW([{"params": decay, "weight_decay": recipe["weight_decay"]},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=recipe["learning_rate"], betas=(0.9, 0.999),
                             eps=recipe["epsilon"])


def evaluate(model, heldout: list[dict], next_sentence_prediction: bool) -> dict:
    model.eval()
    with torch.no_grad():
        results = [_losses(model, batch, next_sentence_prediction) for batch in heldout]
    model.train()
    return {"mlm_loss": float(np.mean([float(r[1]) for r in results])),
            "mlm_accuracy": sum(r[2] for r in results) / max(sum(r[3] for r in results), 1)}


def train(recipe: dict, weights: dict, train_batches: list[dict], heldout: list[dict]) -> dict:
    torch.manual_seed(recipe["seed"])
    torch.set_num_threads(recipe.get("threads", os.cpu_count() or 1))
    model = build_model(recipe, weights)
    model.train()
    optimizer = _optimizer(model, recipe)
    nsp = recipe["next_sentence_prediction"]
    curve = {"train_loss": [], "train_mlm_loss": [], "eval": []}
    wall = 0.0
    for step, batch in enumerate(train_batches):
        if recipe["eval_every"] and step % recipe["eval_every"] == 0 and heldout:
            curve["eval"].append({"step": step, "wall_s": wall, **evaluate(model, heldout, nsp)})
        start = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, recipe["learning_rate"], recipe["warmup_steps"],
                                        recipe["train_steps"])
            # Keras' Adam adds epsilon to sqrt(v) before bias correction (Kingma & Ba's
            # "epsilon hat"), torch after it: this epsilon makes torch's update the same.
            group["eps"] = recipe["epsilon"] / math.sqrt(1.0 - 0.999 ** (step + 1))
        loss, mlm_loss, _, _ = _losses(model, batch, nsp)
        optimizer.zero_grad()
        loss.backward()
        if recipe["clip_norm"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), recipe["clip_norm"])
        optimizer.step()
        wall += time.perf_counter() - start
        curve["train_loss"].append(loss.item())
        curve["train_mlm_loss"].append(mlm_loss.item())
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"reference loss is {float(loss)} at step {step}")
    if heldout:
        curve["eval"].append({"step": len(train_batches), "wall_s": wall,
                              **evaluate(model, heldout, nsp)})
    curve["wall_s"] = wall
    return curve


def load_batches(path: str) -> tuple[dict, dict, list[dict], list[dict]]:
    """BATCHES.npz -> (recipe, weights, training batches, held-out batches)."""
    data = np.load(path)
    recipe = json.loads(str(data["recipe"]))
    weights = {k[len("weight/"):]: data[k] for k in data.files if k.startswith("weight/")}

    def batches(prefix):
        # Each data[key] decompresses the whole array again (and a row slice keeps it alive):
        # read every array once.
        arrays = {k[len(prefix):]: data[k] for k in data.files if k.startswith(prefix)}
        if not arrays:
            return []
        steps = next(iter(arrays.values())).shape[0]
        return [{k: array[i] for k, array in arrays.items()} for i in range(steps)]

    return recipe, weights, batches("train/"), batches("heldout/")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    recipe, weights, train_batches, heldout = load_batches(args.batches)
    curve = train(recipe, weights, train_batches, heldout)
    curve["implementation"] = f"transformers {__import__('transformers').__version__} BertForPreTraining, torch {torch.__version__}"
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump(curve, f)


if __name__ == "__main__":
    main()
