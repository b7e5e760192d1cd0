"""The model learns: memorisation, label alignment, and a guard against Hugging Face's curve.

tests/data/learning/ was written once by `mbert bench pretrain-parity --fixture` (command in
notes/pretraining.md): 80 masked batches (8 x 32 tokens) of real NTREX-128 instances from the
committed sample, cut with a WordPiece vocabulary of 4,000 learned on that sample, and the loss
curve Hugging Face `BertForPreTraining` (PyTorch, peer environment) produced on them from the
same initial weights (benchmarks/parity_init.py: a function of the seed, rebuilt here).
"""

import json
import pathlib

import numpy as np
import pytest
import tensorflow as tf

import test_finetuning_support as support
from benchmarks.pretrain_parity import build_model, read_batches, train_ours
from components.finetuning import trainer_module as tm
from components.pretraining.schedule import make_optimizer
from components.pretraining.steps import make_eval_step, make_train_step

FIXTURE = pathlib.Path(__file__).parent / "data" / "learning"


@pytest.fixture(scope="module")
def fixture_batches():
    recipe, train, heldout = read_batches(FIXTURE / "batches.npz")
    return recipe, train, heldout


def _tensors(batch):
    return {key: tf.constant(value) for key, value in batch.items()}


def _train_and_score(recipe, batches, steps, learning_rate):
    """Trains the tiny model on `batches` (cycled, masks fixed); MLM accuracy on them after."""
    import keras

    keras.utils.set_random_seed(0)
    model, _ = build_model(recipe)
    optimizer = make_optimizer(learning_rate, 10, steps, weight_decay=0.0)
    step = make_train_step(model, optimizer, tf.distribute.get_strategy())
    for i in range(steps):
        step(batches[i % len(batches)])
    score = make_eval_step(model)
    hits = sum(float(score(b)["mlm_correct"].numpy().sum()) for b in batches)
    count = sum(float(score(b)["mlm_count"].numpy().sum()) for b in batches)
    return hits / count


def test_tiny_preset_memorises_64_real_instances_with_fixed_masks(fixture_batches):
    recipe, train, _ = fixture_batches
    assert (recipe["num_layers"], recipe["hidden_dim"], recipe["num_heads"],
            recipe["intermediate_dim"]) == (2, 32, 2, 64)  # the tiny preset's shape
    batches = [_tensors(b) for b in train[:8]]  # 8 x 8 = 64 instances
    assert sum(int(b["token_ids"].shape[0]) for b in batches) == 64
    assert _train_and_score(recipe, batches, steps=400, learning_rate=1e-2) >= 0.95


def test_labels_align_with_the_positions_they_score(fixture_batches):
    """With the true token left in place at every predicted position, a model whose labels
    and positions line up learns to copy it; one slot off, it could not."""
    recipe, train, _ = fixture_batches
    batches = []
    for batch in train[:8]:
        rows = np.arange(batch["token_ids"].shape[0])[:, None]
        original = batch["token_ids"].copy()
        real = batch["mask_weights"] > 0
        original[np.broadcast_to(rows, real.shape)[real], batch["mask_positions"][real]] = \
            batch["mask_ids"][real]
        # The label at slot j is the unmasked token at mask_positions[j]; [MASK] never is.
        assert not np.any(batch["mask_ids"][real] == 4)
        batches.append(_tensors({**batch, "token_ids": original}))
    assert _train_and_score(recipe, batches, steps=150, learning_rate=1e-2) >= 0.9


def test_loss_curve_matches_the_hugging_face_reference(fixture_batches):
    recipe, train, heldout = fixture_batches
    reference = json.loads((FIXTURE / "reference_curve.json").read_text())
    ours = train_ours(recipe, train, heldout)
    gaps = np.abs(np.array(ours["train_loss"]) - np.array(reference["train_loss"]))
    assert len(gaps) == len(train) == 80
    assert gaps.max() <= 0.05, f"step {int(gaps.argmax())}: {gaps.max():.4f} nats apart"
    for mine, theirs in zip(ours["eval"], reference["eval"]):
        assert mine["step"] == theirs["step"]
        assert abs(mine["mlm_loss"] - theirs["mlm_loss"]) <= 0.05
    # The curve is a learning one: a guard on a flat curve would guard nothing.
    assert reference["eval"][0]["mlm_loss"] - reference["eval"][-1]["mlm_loss"] > 0.3


def test_classifier_memorises_64_sib200_rows(sib200_dir, tmp_path):
    codes = list(support.SIB_LANGS)  # 8 languages x 8 rows
    rows = [(text, support.SIB_LANGS[code], label, f"{code}-{i}", source)
            for code in codes
            for i, label, text, source in support.read_sib200(sib200_dir, code, "train", 8)]
    assert len(rows) == 64 and len({r[2] for r in rows}) >= 5
    examples = support.write_examples(tmp_path / "examples", {"train": rows, "eval": rows})
    pretrained = support.tiny_pretrained_dir(tmp_path / "encoder", [r[0] for r in rows], seq_len=64)
    params = tm.finetuning_config({"train_languages": ["all"], "max_seq_length": 64,
                                   "batch_size": 16, "epochs": 60, "learning_rate": 3e-3,
                                   "dropout": 0.0, "early_stopping_patience": 60,
                                   "random_init": True})
    tm.finetune([str(examples / "Split-train/*")], [str(examples / "Split-eval/*")],
                str(tmp_path / "serving"), str(tmp_path / "run"), params,
                base_model=str(pretrained))
    served = tf.saved_model.load(str(tmp_path / "serving")).signatures["predict_text"]
    predicted = served(text=tf.constant([r[0] for r in rows]))["label"].numpy()
    accuracy = np.mean([p.decode() == r[2] for p, r in zip(predicted, rows)])
    assert accuracy >= 0.95, accuracy
