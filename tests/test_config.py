"""Pipeline settings: every shipped config loads; mistakes are named by key before anything runs."""

import json
import os
import pathlib
import time

import pytest
import yaml
from click.testing import CliRunner

from pipeline import cli
from pipeline.config import (CONFIGS_DIR, REPO_ROOT, ConfigError, check_inputs_exist, config_from_dict,
                             load_config)


# Top-level sections that a benchmark reads from its own config and strips before the pipeline
# settings are loaded (benchmarks/crosslingual.py).
BENCHMARK_SECTIONS = ("crosslingual",)


@pytest.mark.parametrize("path", sorted(CONFIGS_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load(path):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for section in BENCHMARK_SECTIONS:
        data.pop(section, None)
    config = config_from_dict(data, base_dir=path.parent)
    # Every section the file sets is read into the config, not left at its defaults.
    assert config.pipeline_name == data.get("pipeline_name", "mbert")
    for section, values in data.items():
        if isinstance(values, dict):
            for key, value in values.items():
                if not isinstance(value, (dict, list)) and key not in ("inputs", "serving_dir", "path"):
                    assert getattr(getattr(config, section), key) == value, f"{section}.{key}"


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"unknown key pretraining\.batchsize"):
        config_from_dict({"pretraining": {"batchsize": 8}})


def test_unknown_top_level_key_is_named():
    with pytest.raises(ConfigError, match=r"unknown key vocab_size"):
        config_from_dict({"vocab_size": 8})


@pytest.mark.parametrize("data, key", [
    ({"pretraining": {"batch_size": "32"}}, r"pretraining\.batch_size: expected int"),
    ({"pretraining": {"batch_size": True}}, r"pretraining\.batch_size: expected int"),
    ({"finetuning": {"train_languages": "en"}}, r"finetuning\.train_languages: expected a list"),
    ({"finetuning": {"train_languages": ["en", 3]}}, r"finetuning\.train_languages\[1\]"),
    ({"vocabulary": {"lower_case": "yes"}}, r"vocabulary\.lower_case: expected true/false"),
    ({"push": []}, r"push: expected a mapping"),
])
def test_wrong_type_is_named(data, key):
    with pytest.raises(ConfigError, match=key):
        config_from_dict(data)


def test_int_accepted_where_float_expected():
    config = config_from_dict({"vocabulary": {"smoothing": 1}})
    assert config.vocabulary.smoothing == 1.0 and isinstance(config.vocabulary.smoothing, float)


def test_missing_input_path_is_named(tmp_path):
    config = config_from_dict({"labelled_data": {"format": "tsv", "inputs": ["nope.tsv"]}},
                              base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"labelled_data\.inputs\[0\]: path does not exist: .*nope\.tsv"):
        check_inputs_exist(config)


def test_relative_inputs_resolve_against_the_config_file(tmp_path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "c.yaml").write_text("pretraining_corpus:\n  format: text\n  inputs: [corpus]\n")
    config = load_config(tmp_path / "c.yaml")
    assert config.pretraining_corpus.inputs == [str((tmp_path / "corpus").resolve())]
    check_inputs_exist(config)


def test_invalid_yaml_names_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("pretraining: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: invalid YAML"):
        load_config(bad)


@pytest.mark.parametrize("data, key", [
    ({"pipeline_name": "My_Pipeline"}, r"pipeline_name: 'My_Pipeline' must be lower-case"),
    ({"stages": "some"}, r"stages: expected one of all, ingestion, got 'some'"),
    ({"pretraining": {"mixed_precision": "maybe"}},
     r"pretraining\.mixed_precision: expected one of auto, true, false, got 'maybe'"),
])
def test_invalid_values_are_named(data, key):
    with pytest.raises(ConfigError, match=key):
        config_from_dict(data)


@pytest.mark.parametrize("data, line", [
    ({"vocabulary": {"vocab_size": 0}}, "vocabulary.vocab_size: must be >= 6, got 0"),
    ({"vocabulary": {"vocab_size": 200, "num_unused": 500}},
     "vocabulary.vocab_size: 200 leaves no room for text after the 5 special tokens and num_unused=500"),
    ({"pretraining": {"batch_size": 0}}, "pretraining.batch_size: must be >= 1, got 0"),
    ({"pretraining": {"batch_size": 10**30}}, f"pretraining.batch_size: must be <= 65536, got {10**30}"),
    ({"pretraining": {"learning_rate": float("nan")}}, "pretraining.learning_rate: must be a finite number, got nan"),
    ({"pretraining": {"learning_rate": float("inf")}}, "pretraining.learning_rate: must be a finite number, got inf"),
    ({"pretraining": {"learning_rate": 0}}, "pretraining.learning_rate: must be > 0.0, got 0.0"),
    ({"finetuning": {"learning_rate": 10**400}}, f"finetuning.learning_rate: number out of range: {10**400}"),
    ({"finetuning": {"dropout": 1.0}}, "finetuning.dropout: must be < 1.0, got 1.0"),
    ({"pretraining": {"mask_rate": 0}}, "pretraining.mask_rate: must be > 0.0, got 0.0"),
    ({"evaluation": {"max_language_drop": 1.5}}, "evaluation.max_language_drop: must be <= 1.0, got 1.5"),
    ({"pretraining_examples": {"seed": -1}}, "pretraining_examples.seed: must be >= 0, got -1"),
    ({"pretraining": {"preset": "huge"}}, "pretraining.preset: expected one of base, compact, small, tiny, got 'huge'"),
    ({"pretraining": {"encoder": {"num_layers": 10**9}}}, f"pretraining.encoder.num_layers: must be <= 65536, got {10**9}"),
    ({"pretraining": {"encoder": {"num_heads": 3}}},
     "pretraining.encoder: preset 'tiny': EncoderConfig.hidden_dim (32) must be a multiple of "
     "EncoderConfig.num_heads (3)"),
    ({"pretraining_examples": {"max_seq_length": 1024}},
     "pretraining_examples.max_seq_length: 1024 is longer than the encoder's 512 positions "
     "(pretraining.encoder.max_sequence_length)"),
    ({"finetuning": {"train_languages": ["xx"]}}, "finetuning.train_languages[0]: unknown language code 'xx'"),
    ({"finetuning": {"train_languages": ["en", "eng"]}},
     "finetuning.train_languages[1]: 'eng' is spelled 'en' in the ingested data (normalised tags)"),
    ({"evaluation": {"splits": ["dev"]}}, "evaluation.splits[0]: expected one of train, eval, test, got 'dev'"),
    ({"labelled_data": {"format": "xml"}},
     "labelled_data.format: expected one of text, jsonl, tsv, ntrex, sib200, chatterbot, got 'xml'"),
    ({"labelled_data": {"format": "tsv"}}, "labelled_data.inputs: format 'tsv' needs at least one input path"),
    ({"push": {"model_name": "../../etc"}},
     "push.model_name: '../../etc' must be letters, digits, '_', '.' or '-' (it names a folder)"),
    ({"push": {"serving_dir": "models/../../elsewhere"}},
     "push.serving_dir: 'models/../../elsewhere' must name a folder inside the run's output folder "
     "(relative paths may not leave it)"),
    ({"vertex": {"trainer_accelerator_count": -1}}, "vertex.trainer_accelerator_count: must be >= 0, got -1"),
    ({"compression": {"temperature": 0}}, "compression.temperature: must be > 0.0, got 0.0"),
    ({"compression": {"quantize": "int4"}}, "compression.quantize: expected one of int8, none, got 'int4'"),
    ({"compression": {"max_latency_ratio": 1.5}}, "compression.max_latency_ratio: must be <= 1.0, got 1.5"),
    ({"compression": {"hidden_dim": 100, "num_heads": 3}},
     "compression.hidden_dim: 100 is not a multiple of num_heads 3"),
    ({"push": {"model_name": "topics"}, "compression": {"model_name": "topics"}},
     "compression.model_name: 'topics' is push.model_name: the compressed model would replace the "
     "teacher in TF Serving"),
    ({"compression": {"unlabelled_rows": 100},
      "base_model": {"format": "huggingface", "path": "ckpt", "mode": "finetune"}},
     "compression.unlabelled_rows: needs the pretraining corpus, which a base_model in 'finetune' "
     "mode does not read"),
])
def test_values_out_of_range_are_named(data, line):
    with pytest.raises(ConfigError) as error:
        config_from_dict(data)
    assert error.value.problems == [line]


def test_compression_is_off_unless_configured_and_names_its_model():
    assert config_from_dict({}).compression is None
    config = config_from_dict({"push": {"model_name": "topics"}, "compression": {"num_layers": 3}})
    assert config.compressed_model_name() == "topics_compressed"
    assert config.compression.student() == {"num_layers": 3}
    named = config_from_dict({"compression": {"model_name": "small_topics"}})
    assert named.compressed_model_name() == "small_topics"


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as error:
        config_from_dict({"vocabulary": {"vocab_size": 0}, "pretraining": {"batch_size": 0, "batchsize": 8},
                          "finetuning": {"learning_rate": "fast", "train_languages": ["qq"]}, "stages": "x"})
    assert [line.split(":")[0] for line in error.value.problems] == [
        "unknown key pretraining.batchsize (known keys under pretraining",
        "finetuning.learning_rate", "vocabulary.vocab_size", "pretraining.batch_size",
        "finetuning.train_languages[0]", "stages"]


def test_serving_dir_is_normalised_and_kept_inside_the_allowed_places(tmp_path):
    assert config_from_dict({"push": {"serving_dir": "./b/../serving/"}}).push.serving_dir == "serving"
    inside = config_from_dict({"push": {"serving_dir": str(tmp_path / "x" / ".." / "models")}}, base_dir=tmp_path)
    assert inside.push.serving_dir == str(tmp_path.resolve() / "models")
    assert config_from_dict({"push": {"serving_dir": "gs://bucket/models"}}).push.serving_dir == "gs://bucket/models"
    assert config_from_dict({"push": {"serving_dir": str(REPO_ROOT / "serving")}}).push.serving_dir == str(
        REPO_ROOT / "serving")
    with pytest.raises(ConfigError, match=r"push\.serving_dir: /var/mbert-models is outside this repository"):
        config_from_dict({"push": {"serving_dir": "/var/mbert-models"}}, base_dir=tmp_path)
    # A link inside the config's folder that points outside is judged by where it points.
    (tmp_path / "link").symlink_to("/var")
    with pytest.raises(ConfigError, match=r"push\.serving_dir: /var/models is outside"):
        config_from_dict({"push": {"serving_dir": str(tmp_path / "link" / "models")}}, base_dir=tmp_path)
    anywhere = config_from_dict({"push": {"serving_dir": "/var/mbert-models", "allow_any_serving_dir": True}},
                                base_dir=tmp_path)
    assert anywhere.push.serving_dir == "/var/mbert-models"
    with pytest.raises(ConfigError, match=r"push\.serving_dir: '\.' must name a folder inside"):
        config_from_dict({"push": {"serving_dir": "."}})


def test_every_missing_input_is_named(tmp_path):
    config = config_from_dict({"pretraining_corpus": {"format": "ntrex", "inputs": ["a", "b"]}}, base_dir=tmp_path)
    with pytest.raises(ConfigError) as error:
        check_inputs_exist(config)
    assert error.value.problems == [f"pretraining_corpus.inputs[{i}]: path does not exist: {tmp_path / name}"
                                    for i, name in enumerate("ab")]


_LAUGHS = "abcdefghi"
# Nine levels of ten aliases each: 10**9 strings if it were expanded.
BILLION_LAUGHS = "".join(
    ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"]
    + [f"{name}: &{name} [{', '.join([f'*{previous}'] * 10)}]\n" for previous, name in zip(_LAUGHS, _LAUGHS[1:])]
    + ["pretraining: {encoder: *i}\n"])


def test_yaml_alias_bomb_is_refused_at_once(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS)
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"bomb\.yaml: line 2: YAML aliases \(\*a\) are not allowed"):
        load_config(path)
    assert time.monotonic() - started < 5
    (tmp_path / "merge.yaml").write_text("base: &base {batch_size: 8}\npretraining:\n  <<: *base\n")
    with pytest.raises(ConfigError, match="YAML aliases"):
        load_config(tmp_path / "merge.yaml")


def test_deep_large_and_special_files_are_refused(tmp_path, time_limit):
    (tmp_path / "deep.yaml").write_text("pretraining:\n" + "".join("  " * i + "- \n" for i in range(1, 40)))
    with pytest.raises(ConfigError, match=r"deep\.yaml: line 21: nested deeper than 20 levels"):
        load_config(tmp_path / "deep.yaml")
    (tmp_path / "deeper.yaml").write_text("pretraining: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path / "deeper.yaml")
    assert len(error.value.problems) == 1 and "\n" not in str(error.value)
    assert "deeper.yaml: invalid YAML: " in str(error.value)
    (tmp_path / "twice.yaml").write_text("pretraining:\n  batch_size: 8\n  encoder: {dropout: 0.0}\n"
                                         "  batch_size: 16\nfinetuning: {batch_size: 8}\n")
    with pytest.raises(ConfigError, match=r"twice\.yaml: line 4: key 'batch_size' appears twice in one mapping"):
        load_config(tmp_path / "twice.yaml")
    (tmp_path / "big.yaml").write_text("# padding\n" * 200_000)
    with pytest.raises(ConfigError, match=r"big\.yaml: larger than 1048576 bytes"):
        load_config(tmp_path / "big.yaml")
    (tmp_path / "latin1.yaml").write_bytes(b"pipeline_name: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"latin1\.yaml: not UTF-8 text"):
        load_config(tmp_path / "latin1.yaml")
    os.mkfifo(tmp_path / "fifo.yaml")
    with time_limit():
        for path in (tmp_path / "fifo.yaml", tmp_path, pathlib.Path("/dev/zero")):
            with pytest.raises(ConfigError, match=f"cannot read config {path}: not a regular file"):
                load_config(path)


def test_mbert_run_exits_2_with_one_line_per_problem(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("pipeline_name: Bad_Name\nvocabulary: {vocab_size: 0}\npretraining: {batch_size: 0, "
                    "learning_rate: .nan, preset: huge}\nfinetuning: {train_languages: [klingon]}\n"
                    "labelled_data: {format: xml}\npush: {serving_dir: /etc/mbert}\n")
    result = CliRunner().invoke(cli.main, ["run", "--config", str(path), "--output", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert [line.split(": ")[2] for line in lines] == [
        "pipeline_name", "labelled_data.format", "vocabulary.vocab_size", "pretraining.preset",
        "pretraining.batch_size", "pretraining.learning_rate", "finetuning.train_languages[0]", "push.serving_dir"]
    assert all(line.startswith(f"error: {path}: ") for line in lines)
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


@pytest.mark.parametrize("content, key", [
    ("pretraining: {encoder: *x}\nx: &x 1\n", "line 1: YAML aliases (*x) are not allowed"),
    ("pretraining: [unclosed\n", "invalid YAML"),
    ("labelled_data: {format: tsv, inputs: [missing.tsv]}\n", "labelled_data.inputs[0]: path does not exist"),
    ("- a list\n", "the configuration must be a mapping at the top level"),
    ("1: one\ntrue: yes\n", "unknown key 1 (known keys under the top level"),
])
def test_mbert_run_reports_other_config_mistakes_without_traceback(tmp_path, content, key):
    path = tmp_path / "c.yaml"
    path.write_text(content)
    result = CliRunner().invoke(cli.main, ["run", "--config", str(path)])
    assert result.exit_code == 2, result.output
    assert key in result.output and "Traceback" not in result.output


def test_each_stage_gets_its_section_as_one_value_checked_again_on_arrival(tmp_path):
    """create_pipeline hands every stage its typed section as one JSON value; reading it back
    gives the same object, and a value a component reads is checked by the YAML's rules."""
    import dataclasses

    from components import settings
    from components.compression.config import CompressionConfig
    from components.finetuning.config import FinetuningConfig
    from components.ingestion.config import CorpusConfig
    from components.pretraining.config import PretrainingConfig
    from components.pretraining_examples.config import PretrainingExamplesConfig
    from components.vocabulary.config import VocabularyConfig
    from pipeline.pipeline import PipelinePaths, create_pipeline

    config = config_from_dict({
        "pretraining_corpus": {"format": "ntrex", "inputs": ["corpus"], "max_record_chars": 500},
        "labelled_data": {"format": "sib200", "inputs": ["labelled"]},
        "vocabulary": {"vocab_size": 300, "num_unused": 3},
        "pretraining_examples": {"max_seq_length": 64, "seed": 9},
        "pretraining": {"train_steps": 7, "warmup_steps": 2, "learning_rate": 0.002},
        "finetuning": {"train_languages": ["de", "fr"], "learning_rate": 0.0003},
        "compression": {"num_layers": 1, "max_latency_ratio": 0.5}}, base_dir=tmp_path)
    paths = PipelinePaths(str(tmp_path / "root"), str(tmp_path / "m.sqlite"), str(tmp_path / "serving"))
    nodes = {node.id: node for node in create_pipeline(config, paths).components}

    def received(node_id, cls, key="config"):
        value = nodes[node_id].exec_properties[key]
        if key == "custom_config":
            value = json.loads(value)["config"]
        return settings.from_json(cls, value, node_id)

    assert received("corpus_ingestion", CorpusConfig) == config.pretraining_corpus
    assert received("labelled_ingestion", CorpusConfig) == config.labelled_data
    assert received("vocabulary", VocabularyConfig) == config.vocabulary
    assert received("pretraining_examples", PretrainingExamplesConfig) == config.pretraining_examples
    assert received("finetuning_trainer", FinetuningConfig, "custom_config") == config.finetuning
    # The pipeline fills the pretraining fields another section sets.
    assert received("pretraining_trainer", PretrainingConfig, "custom_config") == dataclasses.replace(
        config.pretraining, seq_len=64, seed=9)
    # The gate's and the push's keys stay out of the distillation's cache key.
    assert received("compression", CompressionConfig) == CompressionConfig(num_layers=1)
    with pytest.raises(ConfigError, match=r"pretraining_trainer\.learning_rate: must be <= 1\.0, got 3\.0"):
        settings.from_json(PretrainingConfig, '{"learning_rate": 3.0}', "pretraining_trainer")
