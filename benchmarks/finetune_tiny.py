"""`mbert bench finetune-tiny`: the pipeline's tail on real data, timed, with its language table.

Runs Trainer (fine-tuning) -> latest-blessed resolver -> Evaluator (sliced by language) -> Pusher
through the LocalDagRunner on an ingested Examples folder (`mbert ingest --format sib200`) and
an encoder export folder, or a fresh tiny encoder over a vocabulary folder (`--vocab`, no
pretraining). Writes `<output>/reports/eval_by_language.{json,md,png}` and prints one JSON line.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import time

import click


def _encoder_folder(output: pathlib.Path, pretrained: pathlib.Path | None,
                    vocab: pathlib.Path | None, preset: str, seq_len: int, seed: int) -> pathlib.Path:
    """A Model-artifact folder (`<uri>/Format-Serving/`, an encoder export) for the Importer."""
    uri = output / "encoder_model"
    serving = uri / "Format-Serving"
    if serving.exists():
        shutil.rmtree(serving)
    if pretrained is not None:
        shutil.copytree(pretrained, serving)
        return uri
    import keras

    from models.encoder import build_encoder, export_encoder
    from models.encoder_config import EncoderConfig

    vocab_size = sum(1 for _ in open(vocab / "vocab.txt", encoding="utf-8"))
    keras.utils.set_random_seed(seed)
    config = EncoderConfig.preset(preset, vocab_size, max_sequence_length=seq_len)
    export_encoder(build_encoder(config), serving, vocab)
    return uri


@click.command(help="Fine-tune, evaluate by language and push through the LocalDagRunner; one JSON line.")
@click.option("--examples", required=True, type=click.Path(exists=True, file_okay=False, path_type=pathlib.Path),
              help="Ingested labelled Examples folder (Split-train, Split-eval, Split-test).")
@click.option("--pretrained", type=click.Path(exists=True, file_okay=False, path_type=pathlib.Path),
              help="Encoder export folder (encoder.keras + vocabulary).")
@click.option("--vocab", type=click.Path(exists=True, file_okay=False, path_type=pathlib.Path),
              help="Without --pretrained: a vocabulary folder for a fresh (unpretrained) encoder.")
@click.option("--preset", default="tiny", show_default=True)
@click.option("--output", required=True, type=click.Path(file_okay=False, path_type=pathlib.Path))
@click.option("--train-language", "train_languages", multiple=True, default=["en"], show_default=True)
@click.option("--eval-split", default="test", show_default=True)
@click.option("--seq-len", default=64, show_default=True)
@click.option("--epochs", default=10, show_default=True)
@click.option("--batch-size", default=32, show_default=True)
@click.option("--learning-rate", default=1e-3, show_default=True)
@click.option("--seed", default=0, show_default=True)
def finetune_tiny(examples, pretrained, vocab, preset, output, train_languages, eval_split, seq_len,
                  epochs, batch_size, learning_rate, seed) -> None:
    import tfx
    from tfx import v1 as tfxv1

    from components.evaluation.component import create_evaluator, latest_blessed_model_resolver
    from components.evaluation.report import write_report
    from components.push.component import MBertPusher
    from components.finetuning import trainer_module as tm
    from components.trainer import custom_config

    if (pretrained is None) == (vocab is None):
        raise click.UsageError("give exactly one of --pretrained and --vocab")
    output.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    encoder_uri = _encoder_folder(output, pretrained, vocab, preset, seq_len, seed)
    splits = sorted(p.name[len("Split-"):] for p in examples.glob("Split-*"))
    examples_in = tfxv1.dsl.Importer(
        source_uri=str(examples), artifact_type=tfxv1.types.standard_artifacts.Examples,
        properties={"split_names": json.dumps(splits)}).with_id("labelled_examples")
    encoder_in = tfxv1.dsl.Importer(
        source_uri=str(encoder_uri), artifact_type=tfxv1.types.standard_artifacts.Model,
        custom_properties={"tfx_version": tfx.__version__}).with_id("pretrained_encoder")
    trainer = tfxv1.components.Trainer(
        run_fn="components.finetuning.trainer_module.run_fn",
        examples=examples_in.outputs["result"], base_model=encoder_in.outputs["result"],
        train_args=tfxv1.proto.TrainArgs(), eval_args=tfxv1.proto.EvalArgs(),
        custom_config=custom_config(tm.finetuning_config({
            "train_languages": list(train_languages), "max_seq_length": seq_len, "epochs": epochs,
            "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed})))
    resolver = latest_blessed_model_resolver()
    evaluator = create_evaluator(examples_in.outputs["result"], trainer.outputs["model"],
                                 resolver.outputs["model"], example_splits=[eval_split])
    pusher = MBertPusher(model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
                         serving_dir=str(output / "serving"), model_name="finetune_tiny")
    tfxv1.orchestration.LocalDagRunner().run(tfxv1.dsl.Pipeline(
        pipeline_name="finetune_tiny", pipeline_root=str(output / "pipeline_root"),
        components=[examples_in, encoder_in, trainer, resolver, evaluator, pusher],
        enable_cache=False,
        metadata_connection_config=tfxv1.orchestration.metadata.sqlite_metadata_connection_config(
            str(output / "metadata.sqlite"))))
    report = write_report(output / "pipeline_root", output / "reports")
    click.echo(json.dumps({
        "wall_s": round(time.perf_counter() - started, 1),
        "train_languages": list(train_languages), "eval_split": eval_split,
        "encoder": str(pretrained) if pretrained else f"fresh {preset} (no pretraining)",
        "overall": report["overall"],
        "languages": {tag: row["accuracy"] for tag, row in report["languages"].items()},
        "blessed": report["blessed"], "serving_dir": str(output / "serving"),
    }))
