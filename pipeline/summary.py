"""What `mbert run` prints at the end: per-language counts, the evaluation table, the pushed model."""

from __future__ import annotations

import json
import pathlib

import click

from pipeline import metadata


def ingestion_table(summary: dict) -> str:
    """A fixed-width table of per-language counts from an ingestion summary.json."""
    languages = summary.get("languages", {})
    lines = [f"{'language':<10} {'records':>8} {'documents':>9} {'characters':>10} {'labels':>6}"]
    for tag in sorted(languages):
        row = languages[tag]
        lines.append(f"{tag:<10} {row['records']:>8} {row['documents']:>9} "
                     f"{row['characters']:>10} {len(row.get('labels', {})):>6}")
    lines.append(f"read {summary['records_read']}, accepted {summary['accepted']}, "
                 f"rejected {summary['rejected']} {summary.get('rejects_by_reason', {})}")
    return "\n".join(lines)


def print_run_summary(config, paths, backfill: bool = False) -> None:
    """Prints what the run wrote and where, read back from ML Metadata (a backfill pushes
    nothing: no push line)."""
    for name in ("corpus", "labelled"):
        uri = metadata.latest_output_uri(paths.metadata_path, config.pipeline_name,
                                         f"{name}_ingestion", "examples")
        if uri is None:
            continue
        summary = json.loads((pathlib.Path(uri) / "summary.json").read_text())
        click.echo(f"\n{name} ingestion -> {uri}\n{ingestion_table(summary)}")
        validation = metadata.latest_output_uri(paths.metadata_path, config.pipeline_name,
                                                f"{name}_validation", "anomalies")
        if validation:
            click.echo(f"statistics, schema and anomalies: {pathlib.Path(validation).parent.parent}")
    _print_evaluation_and_push(config, paths, backfill)


def _print_evaluation_and_push(config, paths, backfill: bool) -> None:
    from components.evaluation.report import format_language_table, write_report

    evaluation = metadata.latest_output_uri(paths.metadata_path, config.pipeline_name,
                                            "evaluator", "evaluation")
    if evaluation is None:
        return
    reports_dir = pathlib.Path(paths.pipeline_root).parent / "reports"
    report = write_report(evaluation, reports_dir)
    click.echo(f"\naccuracy by language ({', '.join(config.evaluation.splits)} split):")
    click.echo(format_language_table(report), nl=False)
    click.echo(f"report: {reports_dir}/eval_by_language.{{json,md,png}}")

    blessing = metadata.latest_output(paths.metadata_path, config.pipeline_name, "evaluator",
                                      "blessing")
    blessed = blessing is not None and metadata.custom_properties(blessing).get("blessed") == 1
    click.echo(f"model: {'BLESSED' if blessed else 'NOT BLESSED'}")
    if backfill:
        click.echo("backfill: compared with the model blessed before this span; nothing pushed")
        return
    pushed = metadata.latest_output(paths.metadata_path, config.pipeline_name, "pusher",
                                    "pushed_model")
    properties = metadata.custom_properties(pushed) if pushed is not None else {}
    if properties.get("pushed") == 1:
        click.echo(f"pushed model: {properties['pushed_destination']}")
        click.echo(f"try it: mbert predict --model {pathlib.Path(properties['pushed_destination']).parent} "
                   f"\"Hello, how are you?\"")
    else:
        click.echo(f"nothing pushed this run; serving folder: {paths.serving_dir}")
    if config.compression is not None:
        _print_compression(config, paths)


def _print_compression(config, paths) -> None:
    gate = metadata.latest_output(paths.metadata_path, config.pipeline_name, "compression_gate",
                                  "blessing")
    if gate is None:
        return
    verdict = metadata.custom_properties(gate)
    click.echo(f"compressed model: p50 {verdict['compressed_p50_ms']:.2f} ms vs the teacher's "
               f"{verdict['teacher_p50_ms']:.2f} ms; "
               + ("BLESSED" if verdict.get("blessed") == 1
                  else "NOT BLESSED: " + "; ".join(json.loads(verdict.get("reasons", "[]")))))
    pushed = metadata.latest_output(paths.metadata_path, config.pipeline_name, "compression_pusher",
                                    "pushed_model")
    properties = metadata.custom_properties(pushed) if pushed is not None else {}
    if properties.get("pushed") == 1:
        click.echo(f"pushed compressed model: {properties['pushed_destination']}")
