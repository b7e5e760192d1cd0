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


def print_run_summary(config, paths) -> None:
    """Prints what the run wrote and where, read back from ML Metadata."""
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
