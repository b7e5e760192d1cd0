"""base_model in the pipeline settings and graph: which components run, what feeds what (no I/O)."""

import json

import pytest

from components import settings
from components.base_model import tiny
from components.base_model.config import BaseModelConfig
from pipeline.config import ConfigError, check_inputs_exist, config_from_dict

BASE = {"format": "huggingface", "path": "ckpt"}


def _config(tmp_path, **base_model):
    return config_from_dict({
        "pretraining_corpus": {"format": "ntrex", "inputs": ["corpus"]},
        "labelled_data": {"format": "sib200", "inputs": ["labelled"]},
        "pretraining_examples": {"max_seq_length": 64},
        "finetuning": {"max_seq_length": 32},
        "base_model": {**BASE, **base_model}}, base_dir=tmp_path)


def test_base_model_section_is_checked_by_key(tmp_path):
    config = _config(tmp_path)
    assert config.base_model.path == str(tmp_path / "ckpt") and config.base_model.mode == "finetune"
    assert _config(tmp_path, path="gs://bucket/ckpt").base_model.path == "gs://bucket/ckpt"
    with pytest.raises(ConfigError, match=r"base_model\.format: expected one of bert-tf1, huggingface, "
                                          r"keras-hub, got 'pytorch'"):
        _config(tmp_path, format="pytorch")
    with pytest.raises(ConfigError, match=r"base_model\.mode: expected one of finetune, continue-pretraining"):
        _config(tmp_path, mode="pretrain")
    with pytest.raises(ConfigError, match=r"unknown key base_model\.casing"):
        _config(tmp_path, casing="upper")
    with pytest.raises(ConfigError, match=r"base_model\.lower_case: expected true/false"):
        _config(tmp_path, lower_case="yes")
    with pytest.raises(ConfigError, match=r"base_model\.path: no such folder"):
        check_inputs_exist(config_from_dict({"base_model": BASE}, base_dir=tmp_path))


def test_the_longest_sequence_depends_on_the_mode(tmp_path):
    assert _config(tmp_path).base_model_length() == (32, "finetuning.max_seq_length")
    assert _config(tmp_path, mode="continue-pretraining").base_model_length() == (
        64, "pretraining_examples.max_seq_length")


def _ids(pipeline):
    return {component.id for component in pipeline.components}


def _producer(component, key):
    return component.inputs[key].producer_component_id


def test_finetune_mode_imports_instead_of_vocabulary_and_pretraining(tmp_path):
    from pipeline.pipeline import PipelinePaths, create_pipeline

    paths = PipelinePaths(str(tmp_path / "root"), str(tmp_path / "m.sqlite"), str(tmp_path / "serving"))
    pipeline = create_pipeline(_config(tmp_path), paths, base_model_fingerprint="f1")
    ids = _ids(pipeline)
    assert "base_model" in ids and {"finetuning_trainer", "evaluator", "pusher"} <= ids
    assert not ids & {"vocabulary", "pretraining_examples", "pretraining_trainer", "corpus_ingestion"}
    components = {c.id: c for c in pipeline.components}
    assert _producer(components["finetuning_trainer"], "base_model") == "base_model"
    assert _producer(components["finetuning_trainer"], "vocabulary") == "base_model"
    importer = components["base_model"].exec_properties
    assert importer["max_seq_length"] == 32 and importer["fingerprint"] == "f1"
    assert importer["max_seq_length_key"] == "finetuning.max_seq_length"


def test_continue_pretraining_mode_feeds_the_imported_vocabulary_and_encoder(tmp_path):
    from pipeline.pipeline import PipelinePaths, create_pipeline

    paths = PipelinePaths(str(tmp_path / "root"), str(tmp_path / "m.sqlite"), str(tmp_path / "serving"))
    pipeline = create_pipeline(_config(tmp_path, mode="continue-pretraining", lower_case=True), paths)
    components = {c.id: c for c in pipeline.components}
    assert "vocabulary" not in components and "corpus_ingestion" in components
    assert _producer(components["pretraining_examples"], "vocabulary") == "base_model"
    assert _producer(components["pretraining_trainer"], "base_model") == "base_model"
    assert _producer(components["finetuning_trainer"], "base_model") == "pretraining_trainer"
    for trainer in ("pretraining_trainer", "finetuning_trainer"):
        assert _producer(components[trainer], "vocabulary") == "base_model", trainer
    imported = settings.from_json(BaseModelConfig, components["base_model"].exec_properties["config"], "base_model")
    assert imported.lower_case is True and imported.path == str(tmp_path / "ckpt")
    # Both modes import with the same parameters: one cached import.
    assert imported == _config(tmp_path, lower_case=True).base_model


def test_vertex_compiles_a_base_model_pipeline(tmp_path):
    from pipeline import vertex

    config = _config(tmp_path, path="gs://bucket/bert-base-multilingual-cased")
    path = vertex.compile_pipeline(config, str(tmp_path / "pipeline.json"), image="img:1",
                                   pipeline_root="gs://bucket/root")
    tasks = json.loads(open(path).read())["pipelineSpec"]["root"]["dag"]["tasks"]
    assert "base_model" in tasks and "vocabulary" not in tasks and "pretraining_trainer" not in tasks


def test_preflight_names_the_setting_file_and_variable(tmp_path):
    from components.base_model.preflight import check_base_model

    config = tiny.bert_config(len(tiny.TINY_VOCAB), max_position_embeddings=16)
    tiny.write_tf1_checkpoint(tmp_path / "ckpt", tiny.random_bert_weights(config), config, tiny.TINY_VOCAB)
    good = _config(tmp_path, format="bert-tf1", path="ckpt", mode="finetune")
    good.finetuning.max_seq_length = 16
    assert len(check_base_model(good)) == 32
    with pytest.raises(ConfigError) as error:
        check_base_model(_config(tmp_path, format="bert-tf1", path="ckpt", mode="finetune"))
    message = str(error.value)
    assert message.startswith("base_model.path: ") and "bert_model.ckpt" in message
    assert "bert/embeddings/position_embeddings has 16 positions" in message
    assert "finetuning.max_seq_length=32" in message


def test_extra_corpus_is_read_only_when_pretraining_runs(tmp_path):
    from pipeline.pipeline import PipelinePaths, create_pipeline

    paths = PipelinePaths(str(tmp_path / "root"), str(tmp_path / "m.sqlite"), str(tmp_path / "serving"))
    extra = {"format": "ntrex", "inputs": ["extra"]}
    for mode, ingested in (("finetune", False), ("continue-pretraining", True)):
        config = _config(tmp_path, mode=mode)
        config.extra_pretraining_corpus = config_from_dict(
            {"extra_pretraining_corpus": extra}, base_dir=tmp_path).extra_pretraining_corpus
        components = {c.id: c for c in create_pipeline(config, paths).components}
        assert ("extra_corpus_ingestion" in components) is ingested, mode
        if ingested:
            assert _producer(components["pretraining_examples"], "extra_examples") == "extra_corpus_ingestion"
