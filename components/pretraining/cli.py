"""`python -m components.pretraining.cli`: pretraining outside TFX (and the subprocess the tests kill).

Prints the TrainResult as one JSON line; `--result FILE` also writes it there.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys

import click


@click.command("pretrain")
@click.option("--train-files", required=True, multiple=True, help="Glob(s) of pretraining-instance TFRecords.")
@click.option("--eval-files", multiple=True, help="Glob(s) for evaluation (none: skip).")
@click.option("--model-dir", required=True, type=click.Path(), help="Checkpoints, logs, step log.")
@click.option("--vocab-dir", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--export-dir", type=click.Path(), default=None, help="Export the encoder here (components/contracts.py).")
@click.option("--hparams", "hparams_json", default="{}", help="PretrainingConfig keys (the YAML pretraining: section, plus seq_len and seed) as a JSON object.")
@click.option("--result", "result_path", type=click.Path(), default=None, help="Also write the result JSON here.")
def pretrain(train_files, eval_files, model_dir, vocab_dir, export_dir, hparams_json, result_path):
    """Pretrains an encoder with masked LM + next-sentence prediction (resumes if checkpointed)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from components.pretraining.training import train

    try:
        hparams = json.loads(hparams_json)
    except json.JSONDecodeError as error:
        raise click.BadParameter(f"not valid JSON: {error}", param_hint="--hparams") from None
    result = train(
        hparams,
        list(train_files),
        list(eval_files) or None,
        model_dir,
        vocab_dir=vocab_dir,
        export_dir=export_dir,
    )
    line = json.dumps(dataclasses.asdict(result))
    if result_path:
        with open(result_path, "w", encoding="utf-8") as f:
            f.write(line + "\n")
    click.echo(line)


if __name__ == "__main__":
    sys.exit(pretrain())
