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
import shutil
import sys
import time
import warnings

import click
from absl import logging as absl_logging

from pipeline.config import DEFAULT_CONFIG, REPO_ROOT, check_inputs_exist, load_config

# Beam's DirectRunner with one worker process per core (0 = as many as there are cores).
LOCAL_BEAM_ARGS = ["--direct_running_mode=multi_processing", "--direct_num_workers=0"]
EVALUATOR_BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def quiet_logs(verbose: bool) -> None:
    """Shows which component runs, its progress and errors; TensorFlow, absl and Beam chatter
    (and per-batch progress bars, on a terminal) only if verbose."""
    from components import progress

    progress.request_per_batch_bars(verbose)
    if verbose:
        return
    # Environment too, so Beam's worker processes inherit the quiet.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    warnings.filterwarnings("ignore")
    for name in ("apache_beam", "tensorflow", "tfx", "ml_metadata"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # The stages' own warnings (a vocabulary smaller than asked for...) stay, as one plain line.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    handler = _ComponentProgressHandler(live=sys.stderr.isatty())
    # TFX reports progress through absl at INFO, training loops through mbert.progress: keep
    # both flowing into our handler only.
    for name in ("absl", progress.LOGGER_NAME):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        logger.handlers = [handler]
    # absl's verbosity flag too: saving a SavedModel sets the flag to FATAL and back to its
    # old value, which resets the absl logger to the flag's level (WARNING by default) and
    # would hide every component after the first export.
    absl_logging.set_verbosity(absl_logging.INFO)


class _ComponentProgressHandler(logging.Handler):
    """One line per TFX component: `▶ name ...` when it starts, `✓ name (time): progress` when
    it ends, plus any error; drops the rest.

    Training progress (components/progress.py records) goes into the component's line: redrawn
    in place on a terminal (`live`), only its last state in the `✓` line otherwise.
    """

    def __init__(self, live: bool):
        super().__init__(level=logging.INFO)
        self._live = live
        self._started: dict[str, float] = {}
        self._running: str | None = None
        self._progress: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        line = getattr(record, "progress", None)
        if line is not None:
            self._progress = line
            if self._live and self._running:
                self._redraw(f"▶ {self._running}: {line}", end="")
        elif message.startswith("Component ") and message.endswith(" is running."):
            name = message[len("Component "):-len(" is running.")]
            self._started[name] = time.monotonic()
            self._running, self._progress = name, None
            self._redraw(f"▶ {name} ...", end="" if self._live else "\n")
        elif message.startswith("Component ") and message.endswith(" is finished."):
            name = message[len("Component "):-len(" is finished.")]
            seconds = time.monotonic() - self._started.get(name, time.monotonic())
            done = f"✓ {name} ({seconds:.0f} s)"
            self._redraw(f"{done}: {self._progress}" if self._progress else done)
            self._running = self._progress = None
        elif record.levelno >= logging.ERROR:
            if self._live and self._running:
                click.echo(err=True)  # the component's line stays; the error goes below it
            click.echo(f"error: {message}", err=True)
            self._running = None

    def _redraw(self, text: str, end: str = "\n") -> None:
        if self._live:
            # Back to the start of the line and overwrite it: plain characters, no escape codes.
            width = shutil.get_terminal_size().columns - 1
            text = "\r" + text[:width].ljust(width)
        click.echo(text + end, err=True, nl=False)


def run_pipeline(config_path: pathlib.Path | str, output_dir: pathlib.Path | str,
                 span: int | None = None) -> dict:
    """Runs the pipeline locally and returns the resolved paths.

    Span patterns in the inputs resolve when each ingestion runs: the newest span, or `span`
    (a backfill of one past span).
    """
    from tfx import v1 as tfx

    from components.base_model.preflight import check_base_model
    from pipeline import metadata
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
    stale = metadata.fail_stale_executions(paths.metadata_path, config.pipeline_name)
    if stale:
        click.echo(f"marked FAILED, left RUNNING by a killed run: {', '.join(stale)}", err=True)
    pipeline = create_pipeline(config, paths, beam_args, span=span,
                               base_model_fingerprint=base_model_fingerprint)
    for component in pipeline.components:
        if component.id in ("evaluator", "compression_evaluator"):
            # TFMA's worker processes print TensorFlow's AtomicFunction.__del__ tracebacks when
            # they exit; the evaluation data is one small split, so it runs in this process.
            component.with_beam_pipeline_args(EVALUATOR_BEAM_ARGS)
    tfx.orchestration.LocalDagRunner().run(pipeline)
    return {"config": config, "paths": paths}


@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=str(DEFAULT_CONFIG),
              show_default=True, help="Pipeline settings (YAML).")
@click.option("--output", "output_dir", type=click.Path(file_okay=False), default=None,
              help="Where artifacts, ML Metadata and pushed models go [outputs/<pipeline_name>].")
@click.option("--span", type=click.IntRange(min=0), default=None,
              help="Re-run one past span of the span-pattern inputs (a backfill: compared with the model "
                   "blessed before that span, never pushed) instead of the newest.")
@click.option("--verbose", is_flag=True, help="Show TensorFlow, TFX and Beam logs.")
def run(config_path: str, output_dir: str | None, span: int | None, verbose: bool) -> None:
    """Run the whole pipeline locally (LocalDagRunner, SQLite metadata, Beam DirectRunner)."""
    quiet_logs(verbose)
    # A ConfigError (here, or from run_pipeline's checks such as a base_model checkpoint that does
    # not fit) reaches the `mbert` group, which prints one line per problem and exits 2.
    config = load_config(config_path)
    check_inputs_exist(config)
    output_dir = output_dir or str(REPO_ROOT / "outputs" / config.pipeline_name)
    started = time.monotonic()
    result = run_pipeline(config_path, output_dir, span=span)
    click.echo(f"pipeline {config.pipeline_name} finished in {time.monotonic() - started:.0f} s")
    click.echo(f"artifacts: {result['paths'].pipeline_root}")
    click.echo(f"ML Metadata: {result['paths'].metadata_path}")
    from pipeline.summary import print_run_summary
    print_run_summary(result["config"], result["paths"], backfill=span is not None)


if __name__ == "__main__":
    # Through the `mbert` group, which turns config problems into lines and exit code 2.
    from pipeline.cli import main

    main(["run", *sys.argv[1:]])
