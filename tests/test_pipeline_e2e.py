"""End to end: the TFX pipeline under LocalDagRunner on small real data, read back from ML Metadata."""

import pathlib

import pytest
import yaml

from components.push import publish
from pipeline import metadata
from pipeline.local_runner import run_pipeline

pytestmark = pytest.mark.e2e


def _ntrex_subset(ntrex_dir: pathlib.Path, target: pathlib.Path, codes=("eng", "deu", "zho-CN")):
    """A 3-language NTREX folder made of links to the shared files (nothing copied)."""
    target.mkdir()
    (target / "DOCUMENT_IDS.tsv").symlink_to(ntrex_dir / "DOCUMENT_IDS.tsv")
    for path in ntrex_dir.glob("newstest2019-*.txt"):
        if path.name.split(".")[1] in codes:
            (target / path.name).symlink_to(path)
    return target


def test_ingestion_stages_run_then_come_from_cache(tmp_path, ntrex_dir, ntrex_lines):
    corpus = _ntrex_subset(ntrex_dir, tmp_path / "ntrex")
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump({
        "pipeline_name": "e2e-ingestion",
        "stages": "ingestion",
        "pretraining_corpus": {"format": "ntrex", "inputs": [str(corpus)]},
    }))
    out = tmp_path / "out"
    result = run_pipeline(config_path, out)
    db = result["paths"].metadata_path
    ids = ["corpus_ingestion", "corpus_statistics", "corpus_schema", "corpus_validation"]
    for component_id in ids:
        assert metadata.execution_states(db, "e2e-ingestion", component_id) == ["COMPLETE"], component_id

    examples = pathlib.Path(metadata.latest_output_uri(db, "e2e-ingestion", "corpus_ingestion", "examples"))
    import json
    summary = json.loads((examples / "summary.json").read_text())
    assert summary["accepted"] == 3 * ntrex_lines and summary["rejected"] == 0
    assert summary["by_language"] == {"en": ntrex_lines, "de": ntrex_lines, "zh-Hans": ntrex_lines}
    assert (pathlib.Path(metadata.latest_output_uri(db, "e2e-ingestion", "corpus_schema", "schema"))
            / "schema.pbtxt").exists()

    run_pipeline(config_path, out)
    for component_id in ids:
        assert metadata.execution_states(db, "e2e-ingestion", component_id) == ["COMPLETE", "CACHED"], component_id


def _sib200_span(sib200_dir: pathlib.Path, target: pathlib.Path, languages=("eng_Latn", "deu_Latn", "zho_Hans")):
    """A SIB-200 folder for 3 languages, made of links to the shared files."""
    target.mkdir(parents=True)
    (target / "labels.txt").symlink_to(sib200_dir / "labels.txt")
    for language in languages:
        (target / language).symlink_to(sib200_dir / language, target_is_directory=True)
    return target


FULL_IDS = ["corpus_ingestion", "corpus_statistics", "corpus_schema", "corpus_validation",
            "labelled_ingestion", "labelled_statistics", "labelled_schema", "labelled_validation",
            "vocabulary", "pretraining_examples", "pretraining_trainer", "finetuning_trainer",
            "evaluator", "pusher"]
LABELLED_SIDE = ["labelled_ingestion", "labelled_statistics", "labelled_schema",
                 "labelled_validation", "finetuning_trainer", "evaluator", "pusher"]


def tiny_config(name: str, corpus: pathlib.Path, sib200_pattern: pathlib.Path) -> dict:
    """The smallest whole run: NTREX subset, SIB-200 span(s), a tiny encoder, one fine-tuning epoch."""
    return {
        "pipeline_name": name,
        "pretraining_corpus": {"format": "ntrex", "inputs": [str(corpus)]},
        "labelled_data": {"format": "sib200", "inputs": [str(sib200_pattern)]},
        "vocabulary": {"vocab_size": 4000, "num_unused": 10},
        "pretraining_examples": {"max_seq_length": 32, "dupe_factor": 1},
        "pretraining": {"preset": "tiny", "train_steps": 30, "eval_steps": 2, "batch_size": 16,
                        "learning_rate": 0.001, "warmup_steps": 3, "checkpoint_every": 10},
        "finetuning": {"train_languages": ["en"], "max_seq_length": 32, "epochs": 1,
                       "learning_rate": 0.001},
        "evaluation": {"splits": ["test"], "max_language_drop": 1.0},
    }


def test_whole_pipeline_then_cache_then_a_new_span(tmp_path, ntrex_dir, sib200_dir):
    corpus = _ntrex_subset(ntrex_dir, tmp_path / "ntrex")
    _sib200_span(sib200_dir, tmp_path / "sib" / "span-1")
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump({
        **tiny_config("e2e-full", corpus, tmp_path / "sib" / "span-{SPAN}"),
        "push": {"serving_dir": "serving", "model_name": "topics"},
    }))
    out = tmp_path / "out"
    result = run_pipeline(config_path, out)
    db = result["paths"].metadata_path
    for component_id in FULL_IDS:
        assert metadata.execution_states(db, "e2e-full", component_id) == ["COMPLETE"], component_id
    version_1 = out / "serving" / "topics" / "1"
    assert (version_1 / "saved_model.pb").exists()
    assert "topics" in (out / "serving" / "models.config").read_text()
    labelled = metadata.latest_output(db, "e2e-full", "labelled_ingestion", "examples")
    assert labelled.properties["span"].int_value == 1
    # ML Metadata records the vocabulary as an input of both Trainers (lineage vocabulary -> model).
    vocabulary = metadata.latest_output(db, "e2e-full", "vocabulary", "vocabulary")
    for trainer in ("pretraining_examples", "pretraining_trainer", "finetuning_trainer"):
        assert metadata.inputs_by_run(db, "e2e-full", trainer, "vocabulary") == [[vocabulary.id]], trainer

    # Unchanged inputs: every component comes from cache (none re-executes), nothing new is pushed.
    run_pipeline(config_path, out)
    for component_id in FULL_IDS:
        assert metadata.execution_states(db, "e2e-full", component_id) == ["COMPLETE", "CACHED"], component_id
    assert publish.list_versions(out / "serving" / "topics") == [1]

    # A new span of labelled data: its side re-runs, compared against the blessed model; the
    # pretraining side stays cached.
    _sib200_span(sib200_dir, tmp_path / "sib" / "span-2")
    run_pipeline(config_path, out)
    for component_id in LABELLED_SIDE:
        assert metadata.execution_states(db, "e2e-full", component_id)[-1] == "COMPLETE", component_id
    for component_id in set(FULL_IDS) - set(LABELLED_SIDE):
        assert metadata.execution_states(db, "e2e-full", component_id)[-1] == "CACHED", component_id
    labelled = metadata.latest_output(db, "e2e-full", "labelled_ingestion", "examples")
    assert labelled.properties["span"].int_value == 2
    evaluation = pathlib.Path(metadata.latest_output_uri(db, "e2e-full", "evaluator", "evaluation"))
    import json
    eval_config = json.loads((evaluation / "eval_config.json").read_text())
    assert {spec.get("name") for spec in eval_config["evalConfig"]["modelSpecs"]} == {"candidate", "baseline"}
