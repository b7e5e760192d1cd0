"""`mbert checkpoint`: convert a BERT checkpoint to a keras-hub preset, or check one.

  mbert checkpoint import --format bert-tf1 --input multi_cased_L-12_H-768_A-12 --output mbert_preset
  mbert checkpoint inspect --format huggingface --input bert-base-multilingual-cased

The preset loads with `keras_hub.models.BertBackbone.from_preset(DIR)` and
`keras_hub.models.BertTokenizer.from_preset(DIR)`, so a conversion can be checked by hand.
"""

from __future__ import annotations

import json

import click

from components.base_model.formats import FORMATS

_FORMAT = click.option("--format", "checkpoint_format", type=click.Choice(FORMATS), required=True,
                       help="Checkpoint format of --input.")
_INPUT = click.option("--input", "input_dir", required=True,
                      help="Checkpoint folder (local or gs://).")
_CASING = click.option("--lower-case/--cased", "lower_case", default=None,
                       help="Override the casing read from the checkpoint.")


@click.group()
def checkpoint():
    """Import BERT checkpoints (Google TF1, Hugging Face, keras-hub)."""


@checkpoint.command("import")
@_FORMAT
@_INPUT
@click.option("--output", "output_dir", required=True, help="keras-hub preset folder to write.")
@_CASING
def import_command(checkpoint_format: str, input_dir: str, output_dir: str, lower_case) -> None:
    """Write a keras-hub preset (backbone, tokenizer, pretraining heads) from a checkpoint."""
    from components.base_model.checkpoint import CheckpointError, load_checkpoint
    from components.base_model.outputs import write_keras_hub_preset

    try:
        imported = load_checkpoint(checkpoint_format, input_dir, lower_case=lower_case)
    except CheckpointError as error:
        raise click.ClickException(str(error)) from error
    write_keras_hub_preset(imported, output_dir)
    click.echo(json.dumps({"output": output_dir, **imported.info.summary()}, indent=2))


@checkpoint.command("inspect")
@_FORMAT
@_INPUT
@_CASING
@click.option("--max-seq-length", type=int, default=0, help="Check the position embeddings cover it.")
def inspect_command(checkpoint_format: str, input_dir: str, lower_case, max_seq_length: int) -> None:
    """Print a checkpoint's shape, vocabulary size, casing and heads (weights are not read)."""
    from components.base_model.checkpoint import CheckpointError, inspect_checkpoint, local_folder

    try:
        with local_folder(checkpoint_format, input_dir) as local_dir:
            info = inspect_checkpoint(checkpoint_format, local_dir, path=input_dir,
                                      lower_case=lower_case, max_seq_length=max_seq_length,
                                      setting="--max-seq-length")
    except CheckpointError as error:
        raise click.ClickException(str(error)) from error
    click.echo(json.dumps(info.summary(), indent=2))
