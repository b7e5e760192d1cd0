"""The `mbert` command line.

Each command lives next to the stage it drives and is imported only when it is called, so
`mbert --help` stays fast and one stage's heavy imports never slow down another's command.
A command that raises `pipeline.config.ConfigError` exits 2 with one `error:` line per problem.
"""

import importlib

import click

# name -> ("module:attribute" of a click command or group, one line of help).
_COMMANDS = {
    "ingest": ("components.ingestion.cli:ingest", "Ingest a corpus into tf.Examples (+ rejects, summary)."),
    "vocab": ("components.vocabulary.cli:vocab", "Learn a WordPiece vocabulary with Beam."),
    "run": ("pipeline.local_runner:run", "Run the whole pipeline locally (LocalDagRunner)."),
    "compile": ("pipeline.vertex:compile_command", "Compile the pipeline for Vertex AI / Kubeflow."),
    "schedule": ("pipeline.vertex:schedule_command", "Schedule the pipeline on Vertex AI."),
    "predict": ("components.push.cli:predict", "Classify text with a pushed model."),
    "report": ("components.evaluation.report:report", "Write the per-language evaluation report."),
    "bench": ("benchmarks.cli:bench", "Benchmarks, side by side with the peer."),
    "checkpoint": ("components.base_model.cli:checkpoint",
                   "Import a BERT checkpoint (TF1, Hugging Face, keras-hub) as a keras-hub preset."),
}


class _LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def __init__(self, *args, lazy_commands: dict[str, tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self._lazy_commands = lazy_commands

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self._lazy_commands))

    def get_command(self, ctx, name):
        if name not in self._lazy_commands:
            return super().get_command(ctx, name)
        module_name, attribute = self._lazy_commands[name][0].split(":")
        return getattr(importlib.import_module(module_name), attribute)

    def invoke(self, ctx):
        # A config problem is the user's to fix, not a crash: one line per problem, exit 2
        # (click's code for bad usage), no traceback.
        from pipeline.config import ConfigError

        try:
            return super().invoke(ctx)
        except ConfigError as error:
            for problem in error.problems:
                click.echo(f"error: {problem}", err=True)
            ctx.exit(2)

    def format_commands(self, ctx, formatter):
        # Help comes from the table so that `--help` imports no stage (and no TensorFlow).
        rows = [(name, help_text) for name, (_, help_text) in sorted(self._lazy_commands.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def lazy_group(lazy_commands: dict[str, tuple[str, str]], **kwargs):
    """Returns a click.group decorator whose subcommands are imported on first use."""
    return click.group(cls=_LazyGroup, lazy_commands=lazy_commands, **kwargs)


@lazy_group(_COMMANDS, help="Train, evaluate and ship a multilingual BERT with TFX.")
def main():
    pass


if __name__ == "__main__":
    main()
