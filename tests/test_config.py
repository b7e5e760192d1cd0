"""Pipeline settings: every shipped config loads; mistakes are named by key before anything runs."""

import pathlib

import pytest
import yaml

from pipeline.config import (CONFIGS_DIR, ConfigError, check_inputs_exist, config_from_dict,
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
    assert config.pipeline_name


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
    ({"stages": "some"}, r"stages: expected 'all' or 'ingestion'"),
    ({"pretraining": {"mixed_precision": "maybe"}}, r"pretraining\.mixed_precision: expected 'auto'"),
])
def test_invalid_values_are_named(data, key):
    with pytest.raises(ConfigError, match=key):
        config_from_dict(data)
