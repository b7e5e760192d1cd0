"""`mbert run`: the pipeline on this machine (LocalDagRunner, SQLite ML Metadata, Beam DirectRunner).

Output layout under --output (default outputs/<pipeline_name>):
  tfx/               pipeline root: every component's artifacts
  metadata.sqlite    ML Metadata: executions, artifacts, lineage (what caching reads)
  serving/           pushed models in TF Serving's layout + models.config
"""

from __future__ import annotations

import logging
import os
import pathlib
import sys
import time
import warnings

import click

from pipeline.config import DEFAULT_CONFIG, REPO_ROOT, check_inputs_exist, load_config

# Beam's DirectRunner with one worker process per core (0 = as many as there are cores).
LOCAL_BEAM_ARGS = ["--direct_running_mode=multi_processing", "--direct_num_workers=0"]


def quiet_logs(verbose: bool) -> None:
    """Shows which component runs, and errors; TensorFlow, absl and Beam chatter only if verbose."""
    if verbose:
        return
    # Environment too, so Beam's worker processes inherit the quiet.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    warnings.filterwarnings("ignore")
    for name in ("apache_beam", "tensorflow", "tfx", "ml_metadata"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # TFX reports progress through absl at INFO: keep INFO flowing into our handler only.
    absl_logger = logging.getLogger("absl")
    absl_logger.setLevel(logging.INFO)
    absl_logger.propagate = False
    absl_logger.handlers = [_ComponentProgressHandler()]


class _ComponentProgressHandler(logging.Handler):
    """Prints a line when a TFX component starts or finishes, and any error; drops the rest."""

    def __init__(self):
        super().__init__(level=logging.INFO)
        self._started: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Component ") and message.endswith(" is running."):
            name = message[len("Component "):-len(" is running.")]
            self._started[name] = time.monotonic()
            click.echo(f"▶ {name} ...", err=True)
        elif message.startswith("Component ") and message.endswith(" is finished."):
            name = message[len("Component "):-len(" is finished.")]
            seconds = time.monotonic() - self._started.get(name, time.monotonic())
            click.echo(f"✓ {name} ({seconds:.0f} s)", err=True)
        elif record.levelno >= logging.ERROR:
            click.echo(f"error: {message}", err=True)


def run_pipeline(config_path: pathlib.Path | str, output_dir: pathlib.Path | str,
                 span: int | None = None) -> dict:
    """Runs the pipeline locally and returns the resolved paths.

    Span patterns in the inputs resolve when each ingestion runs: the newest span, or `span`
    (a backfill of one past span).
    """
    from tfx import v1 as tfx

    from components.base_model.preflight import check_base_model
    from pipeline.pipeline import PipelinePaths, create_pipeline

    config = load_config(config_path)
    check_inputs_exist(config)
    base_model_fingerprint = check_base_model(config)
    output_dir = pathlib.Path(output_dir).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    serving_dir = pathlib.Path(config.push.serving_dir)
    if not serving_dir.is_absolute():
        serving_dir = output_dir / serving_dir
    paths = PipelinePaths(
        pipeline_root=str(output_dir / "tfx"),
        metadata_path=str(output_dir / "metadata.sqlite"),
        serving_dir=str(serving_dir),
    )
    beam_args = LOCAL_BEAM_ARGS + list(config.beam_pipeline_args)
    tfx.orchestration.LocalDagRunner().run(
        create_pipeline(config, paths, beam_args, span=span,
                        base_model_fingerprint=base_model_fingerprint))
    return {"config": config, "paths": paths}


@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=str(DEFAULT_CONFIG),
              show_default=True, help="Pipeline settings (YAML).")
@click.option("--output", "output_dir", type=click.Path(file_okay=False), default=None,
              help="Where artifacts, ML Metadata and pushed models go [outputs/<pipeline_name>].")
@click.option("--span", type=click.IntRange(min=0), default=None,
              help="Re-run one past span of the span-pattern inputs (a backfill) instead of the newest.")
@click.option("--verbose", is_flag=True, help="Show TensorFlow, TFX and Beam logs.")
def run(config_path: str, output_dir: str | None, span: int | None, verbose: bool) -> None:
    """Run the whole pipeline locally (LocalDagRunner, SQLite metadata, Beam DirectRunner)."""
    from pipeline.config import ConfigError

    quiet_logs(verbose)
    try:
        config = load_config(config_path)
        check_inputs_exist(config)
    except ConfigError as e:
        raise click.ClickException(str(e)) from e
    output_dir = output_dir or str(REPO_ROOT / "outputs" / config.pipeline_name)
    started = time.monotonic()
    try:
        result = run_pipeline(config_path, output_dir, span=span)
    except ConfigError as e:  # e.g. a base_model checkpoint that does not fit, a span without patterns
        raise click.ClickException(str(e)) from e
    click.echo(f"pipeline {config.pipeline_name} finished in {time.monotonic() - started:.0f} s")
    click.echo(f"artifacts: {result['paths'].pipeline_root}")
    click.echo(f"ML Metadata: {result['paths'].metadata_path}")
    from pipeline.summary import print_run_summary
    print_run_summary(result["config"], result["paths"])


if __name__ == "__main__":
    sys.exit(run())
