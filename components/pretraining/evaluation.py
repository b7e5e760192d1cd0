"""Held-out metrics of the pretraining model: MLM accuracy (overall, by language), MLM loss, NSP.

NSP accuracy comes with the share a constant answer would score (`nsp_majority_accuracy`):
next-sentence prediction has learned something only above it.
"""

from __future__ import annotations

import tensorflow as tf

from components.pretraining import data
from components.pretraining.steps import make_eval_step


def evaluate(model, files, hparams, masking_kwargs) -> dict:
    """MLM accuracy (overall and per language), MLM loss, NSP accuracy on the eval files."""
    dataset = data.make_dataset(
        files, hparams.eval_batch_size, hparams.seq_len, masking_kwargs, training=False, seed=hparams.seed
    )
    if hparams.eval_steps:
        dataset = dataset.take(hparams.eval_steps)
    step = make_eval_step(model, jit_compile=False)  # ragged last batch: no point compiling shapes
    correct, count, by_language = 0.0, 0.0, {}
    nsp_correct = nsp_count = nsp_random = examples = 0.0
    mlm_loss_sum = 0.0
    batches = 0
    try:
        for batch in dataset:
            languages = batch.pop("language").numpy()
            out = {k: v.numpy() for k, v in step(batch).items()}
            batches += 1
            mlm_loss_sum += float(out["mlm_loss"])
            nsp_correct += float(out["nsp_correct"].sum())
            nsp_count += float(out["nsp_count"].sum())
            nsp_random += float(out["nsp_random"].sum())
            examples += len(languages)
            for language, hit, seen in zip(languages, out["mlm_correct"], out["mlm_count"]):
                entry = by_language.setdefault(language.decode("utf-8") or "und", [0.0, 0.0])
                entry[0] += float(hit)
                entry[1] += float(seen)
            correct += float(out["mlm_correct"].sum())
            count += float(out["mlm_count"].sum())
    except tf.errors.DataLossError:
        raise data.BadInputError(f"eval data: corrupt TFRecord data in {data.find_corrupt_file(files)}") from None
    if batches == 0:
        raise data.BadInputError(f"eval data: no complete records in {files[:5]}")
    random_share = nsp_random / max(nsp_count, 1.0)
    return {
        "mlm_accuracy": correct / max(count, 1.0),
        "mlm_loss": mlm_loss_sum / batches,
        "nsp_accuracy": nsp_correct / max(nsp_count, 1.0),
        # What always answering the more frequent NSP label scores: NSP has learned something
        # only above it.
        "nsp_majority_accuracy": max(random_share, 1.0 - random_share),
        "examples": int(examples),
        "mlm_accuracy_by_language": {lang: hit / max(seen, 1.0) for lang, (hit, seen) in sorted(by_language.items())},
    }
