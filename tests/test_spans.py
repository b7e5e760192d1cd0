"""Span patterns: TFX's ExampleGen driver resolves them, for the component and `mbert ingest` alike."""

import json

import pytest
from click.testing import CliRunner
from tfx.components.example_gen.driver import FileBasedDriver

from components.ingestion import spans
from components.ingestion.cli import ingest
from components import settings
from components.ingestion.component import CorpusIngestion
from components.ingestion.config import CorpusConfig


def _span(root, name, lines):
    folder = root / name
    (folder / "en").mkdir(parents=True)  # text format: the language is the folder's name
    (folder / "en" / "a.txt").write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return folder


def test_input_paths_become_an_input_base_and_one_split_per_path():
    base, config = spans.input_config("text", ["/d/news/span-{SPAN}/", "/d/news/extra/x.txt",
                                               "/d/{YYYY}-{MM}-{DD}"])
    assert base == "/d"
    assert [s.pattern for s in config.splits] == ["news/span-{SPAN}/", "news/extra/x.txt",
                                                  "{YYYY}-{MM}-{DD}"]
    base, config = spans.input_config("text", ["gs://bucket/data/span-{SPAN}"])
    assert (base, config.splits[0].pattern) == ("gs://bucket/data", "span-{SPAN}")
    assert spans.has_span("a/span-{SPAN}") and spans.has_span("a/{VERSION}") and not spans.has_span("a/b")
    with pytest.raises(ValueError, match="at least one input"):
        spans.input_config("text", [])


def test_newest_span_a_pinned_span_dates_and_versions(tmp_path):
    _span(tmp_path / "data", "span-1", ["one"])
    _span(tmp_path / "data", "span-12", ["twelve"])
    newest = spans.resolve("text", [str(tmp_path / "data" / "span-{SPAN}")])
    assert (newest.paths, newest.span, newest.version) == ([str(tmp_path / "data" / "span-12")], 12, None)
    pinned = spans.resolve("text", [str(tmp_path / "data" / "span-{SPAN}")], span=1)
    assert (pinned.paths, pinned.span) == ([str(tmp_path / "data" / "span-1")], 1)
    with pytest.raises(ValueError, match="Cannot find matching"):
        spans.resolve("text", [str(tmp_path / "data" / "span-{SPAN}")], span=5)

    _span(tmp_path / "dated", "2026-11-28-v1", ["a"])
    _span(tmp_path / "dated", "2026-11-28-v2", ["b"])
    _span(tmp_path / "dated", "2026-11-27-v3", ["c"])
    dated = spans.resolve("text", [str(tmp_path / "dated" / "{YYYY}-{MM}-{DD}-v{VERSION}")])
    # TFX numbers a date span as days since 1970-01-01; the newest version of that day wins.
    assert dated.paths == [str(tmp_path / "dated" / "2026-11-28-v2")]
    assert (dated.span, dated.version) == (20785, 2)

    plain = spans.resolve("text", [str(tmp_path / "data" / "span-1")])
    assert (plain.span, plain.version) == (0, None)


def test_paths_that_resolve_to_different_spans_are_refused(tmp_path):
    _span(tmp_path / "a", "span-2", ["x"])
    _span(tmp_path / "b", "span-3", ["y"])
    with pytest.raises(ValueError):
        spans.resolve("text", [str(tmp_path / "a" / "span-{SPAN}"), str(tmp_path / "b" / "span-{SPAN}")])


def test_the_component_is_a_file_based_example_gen_that_keeps_the_patterns(tmp_path):
    component = CorpusIngestion(CorpusConfig(format="text", inputs=[str(tmp_path / "span-{SPAN}")]),
                                range_config=spans.span_range(4))
    assert component.driver_class is FileBasedDriver
    params = component.exec_properties
    assert params["input_base"] == str(tmp_path)
    assert json.loads(params["input_config"])["splits"][0]["pattern"] == "span-{SPAN}"
    assert json.loads(params["range_config"])["static_range"] == {"start_span_number": 4,
                                                                  "end_span_number": 4}
    corpus = settings.from_json(CorpusConfig, params["config"], "corpus")
    assert (corpus.format, corpus.max_record_chars) == ("text", 20_000)


def test_ingest_cli_resolves_the_newest_span_and_writes_it_into_the_summary(tmp_path):
    _span(tmp_path / "data", "span-1", ["The first span has one line."])
    _span(tmp_path / "data", "span-2", ["The second span has this line.", "And this one."])
    pattern = str(tmp_path / "data" / "span-{SPAN}")
    result = CliRunner().invoke(ingest, ["--format", "text", "--input", pattern, "--output", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert (summary["span"], summary["version"], summary["accepted"]) == (2, None, 2)
    result = CliRunner().invoke(ingest, ["--format", "text", "--input", pattern, "--span", "1",
                                         "--output", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert (summary["span"], summary["accepted"]) == (1, 1)
    result = CliRunner().invoke(ingest, ["--format", "text", "--input", pattern, "--span", "7",
                                         "--output", str(tmp_path / "o")])
    assert result.exit_code == 1 and "cannot resolve input spans" in result.output


def test_a_backfill_pins_the_span_of_the_corpora_that_have_span_patterns(tmp_path):
    from pipeline.config import ConfigError, config_from_dict
    from pipeline.pipeline import PipelinePaths, create_pipeline

    config = config_from_dict({
        "pretraining_corpus": {"format": "ntrex", "inputs": ["corpus"]},
        "labelled_data": {"format": "sib200", "inputs": ["labelled/span-{SPAN}"]}}, base_dir=tmp_path)
    paths = PipelinePaths(str(tmp_path / "root"), str(tmp_path / "m.sqlite"), str(tmp_path / "serving"))
    components = {c.id: c for c in create_pipeline(config, paths, span=2).components}
    labelled = components["labelled_ingestion"].exec_properties
    assert json.loads(labelled["range_config"])["static_range"] == {"start_span_number": 2, "end_span_number": 2}
    assert components["corpus_ingestion"].exec_properties.get("range_config") is None
    # Compared with the model blessed before span 2, and never pushed over what is served.
    assert components["latest_blessed_model_resolver"].exec_properties["source_uri"] == {"before_span": 2}
    assert "pusher" not in components
    newest = {c.id: c for c in create_pipeline(config, paths).components}
    assert newest["labelled_ingestion"].exec_properties.get("range_config") is None
    assert newest["latest_blessed_model_resolver"].exec_properties["source_uri"] == {}
    assert "pusher" in newest
    config.labelled_data.inputs = [str(tmp_path / "labelled")]
    with pytest.raises(ConfigError, match="no corpus input has a span pattern"):
        create_pipeline(config, paths, span=2)
