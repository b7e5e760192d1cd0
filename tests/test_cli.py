"""The `mbert` command line: every stage's command is reachable from one entry point."""

import click
from click.testing import CliRunner

from pipeline import cli


def test_help_lists_every_stage_command():
    result = CliRunner().invoke(cli.main, ["--help"])
    assert result.exit_code == 0, result.output
    for name in ("ingest", "vocab", "run", "compile", "schedule", "predict", "report", "bench"):
        assert name in result.output


def test_lazy_group_imports_a_command_only_when_called():
    calls = []

    @click.command()
    def hello():
        calls.append("hello")

    import types, sys
    module = types.ModuleType("mbert_test_lazy_module")
    module.hello = hello
    sys.modules[module.__name__] = module
    try:
        group = cli.lazy_group({"hello": ("mbert_test_lazy_module:hello", "Say hello.")})(lambda: None)
        result = CliRunner().invoke(group, ["hello"])
    finally:
        del sys.modules[module.__name__]
    assert result.exit_code == 0, result.output
    assert calls == ["hello"]
