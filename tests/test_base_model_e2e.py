"""End to end: the pipeline from a base-model checkpoint in each format, in both modes.

One tiny random checkpoint (2 layers, hidden 32, a character vocabulary of the test data) is
written as Google's TF1 release, a Hugging Face folder (current `transformers` names) and a
keras-hub preset. For each format the pipeline runs twice under LocalDagRunner with one pipeline
name and ML Metadata store: `finetune` (BaseModelImport -> fine-tuning -> Evaluator -> Pusher),
then `continue-pretraining` (+ PretrainingExampleGen and the pretraining Trainer from the import).
What does not depend on the checkpoint (ingestion, statistics, schema) comes from cache after the
first run, which keeps the six runs within the test budget.
"""

import json
import pathlib

import numpy as np
import pytest
import yaml

from components.base_model import tiny
from pipeline import metadata
from pipeline.local_runner import run_pipeline

pytestmark = pytest.mark.e2e

PIPELINE = "e2e-base-model"
SIB_LANGUAGES = ("eng_Latn", "deu_Latn")
NTREX_CODES = ("eng", "deu")
RESERVED = ["[PAD]", "[unused0]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


NTREX_LINES = 60  # the first documents of each language (the committed sample has 74)
SIB_ROWS = {"train": 48, "dev": 14, "test": 8}  # within the committed sample (48/14/28)


def _small_data(ntrex_dir: pathlib.Path, sib200_dir: pathlib.Path, root: pathlib.Path) -> list[str]:
    """Two-language NTREX and SIB-200 folders cut to a few rows; returns their texts."""
    ntrex, sib = root / "ntrex", root / "sib200"
    ntrex.mkdir(parents=True)
    sib.mkdir()
    texts = []

    def head(source: pathlib.Path, target: pathlib.Path, lines: int) -> None:
        with open(source, encoding="utf-8") as handle:
            kept = [next(handle) for _ in range(lines)]
        target.write_text("".join(kept), encoding="utf-8")
        texts.append("".join(kept))

    head(ntrex_dir / "DOCUMENT_IDS.tsv", ntrex / "DOCUMENT_IDS.tsv", NTREX_LINES)
    for path in ntrex_dir.glob("newstest2019-*.txt"):
        if path.name.split(".")[1] in NTREX_CODES:
            head(path, ntrex / path.name, NTREX_LINES)
    (sib / "labels.txt").symlink_to(sib200_dir / "labels.txt")
    for language in SIB_LANGUAGES:
        (sib / language).mkdir()
        for split, rows in SIB_ROWS.items():
            head(sib200_dir / language / f"{split}.tsv", sib / language / f"{split}.tsv", rows + 1)
    return texts


@pytest.fixture(scope="module")
def setup(sample_ntrex_dir, sample_sib200_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("base_model_e2e")
    texts = _small_data(sample_ntrex_dir, sample_sib200_dir, root / "data")
    characters = sorted({c for text in texts for c in text if not c.isspace()} - set("[]"))
    vocab = RESERVED + characters + ["##" + c for c in characters]
    config = tiny.bert_config(len(vocab), max_position_embeddings=32)
    weights = tiny.random_bert_weights(config, seed=3)
    hf_legacy = tiny.write_huggingface_checkpoint(root / "hf_legacy", weights, config, vocab)
    checkpoints = {
        "bert-tf1": tiny.write_tf1_checkpoint(root / "multi_cased_tiny", weights, config, vocab),
        "huggingface": tiny.write_huggingface_checkpoint(root / "hf", weights, config, vocab,
                                                         legacy_layer_norm=False),
        "keras-hub": tiny.write_keras_hub_preset(root / "keras_hub", hf_legacy),
    }
    return {"root": root, "vocab": vocab, "weights": weights, "checkpoints": checkpoints}


def _write_config(setup, checkpoint_format: str, mode: str) -> pathlib.Path:
    data = setup["root"] / "data"
    path = setup["root"] / f"{checkpoint_format}-{mode}.yaml"
    path.write_text(yaml.safe_dump({
        "pipeline_name": PIPELINE,
        "base_model": {"format": checkpoint_format, "path": str(setup["checkpoints"][checkpoint_format]),
                       "mode": mode},
        "pretraining_corpus": {"format": "ntrex", "inputs": [str(data / "ntrex")]},
        "labelled_data": {"format": "sib200", "inputs": [str(data / "sib200")]},
        "pretraining_examples": {"max_seq_length": 32, "dupe_factor": 1},
        "pretraining": {"train_steps": 3, "eval_steps": 1, "batch_size": 8, "learning_rate": 1e-4,
                        "warmup_steps": 1, "checkpoint_every": 3},
        "finetuning": {"train_languages": ["en"], "max_seq_length": 32, "epochs": 1,
                       "learning_rate": 1e-3},
        "evaluation": {"splits": ["eval"], "max_language_drop": 1.0},
        "push": {"model_name": "topics"},
        # One in-process Beam worker: the stages are tiny, worker start-up is not.
        "beam_pipeline_args": ["--direct_running_mode=in_memory", "--direct_num_workers=1"],
    }))
    return path


def _input_artifact_ids(db: str, component_id: str, key: str) -> set:
    """Artifact ids the newest execution of a component read under an input key."""
    from ml_metadata.proto import metadata_store_pb2

    store = metadata._store(db)
    execution = metadata._node_executions(store, PIPELINE, component_id)[-1]
    return {event.artifact_id for event in store.get_events_by_execution_ids([execution.id])
            if event.type == metadata_store_pb2.Event.INPUT and event.path.steps[0].key == key}


def _latest_state(db: str, component_id: str) -> str:
    return metadata.execution_states(db, PIPELINE, component_id)[-1]


# Every format end to end, in one pipeline and ML Metadata store: the ingestion side comes from
# cache after the first format, so each further format costs its import, training and push.
@pytest.mark.parametrize("checkpoint_format", ["bert-tf1", "huggingface", "keras-hub"])
def test_pipeline_from_a_base_model_in_both_modes(setup, checkpoint_format):
    out = setup["root"] / "out"
    result = run_pipeline(_write_config(setup, checkpoint_format, "finetune"), out)
    db = result["paths"].metadata_path
    for component_id in ("base_model", "finetuning_trainer", "evaluator", "pusher"):
        assert _latest_state(db, component_id) == "COMPLETE", component_id
    for component_id in ("labelled_ingestion", "labelled_statistics", "labelled_schema"):
        assert _latest_state(db, component_id) in ("COMPLETE", "CACHED"), component_id
    pretraining_runs = len(metadata.execution_states(db, PIPELINE, "pretraining_trainer"))
    assert metadata.execution_states(db, PIPELINE, "vocabulary") == []

    # The Vocabulary artifact is the checkpoint's, and fine-tuning read the imported encoder.
    vocabulary = metadata.latest_output(db, PIPELINE, "base_model", "vocabulary")
    assert metadata.custom_properties(vocabulary)["source_format"] == checkpoint_format
    vocab_dir = pathlib.Path(vocabulary.uri)
    assert (vocab_dir / "vocab.txt").read_text(encoding="utf-8").splitlines() == setup["vocab"]
    assert json.loads((vocab_dir / "tokenizer.json").read_text())["lower_case"] is False
    encoder = metadata.latest_output(db, PIPELINE, "base_model", "encoder")
    assert _input_artifact_ids(db, "finetuning_trainer", "base_model") == {encoder.id}
    assert _input_artifact_ids(db, "finetuning_trainer", "vocabulary") == {vocabulary.id}
    pushed = metadata.custom_properties(metadata.latest_output(db, PIPELINE, "pusher", "pushed_model"))
    assert pushed["pushed"] == 1
    served = pathlib.Path(pushed["pushed_destination"])
    assert (served / "assets" / "vocab.txt").read_text(encoding="utf-8").splitlines() == setup["vocab"]

    # Continued pretraining: same import (from cache), then MLM + NSP from it, then fine-tuning.
    run_pipeline(_write_config(setup, checkpoint_format, "continue-pretraining"), out)
    assert _latest_state(db, "base_model") == "CACHED"
    for component_id in ("pretraining_examples", "pretraining_trainer", "finetuning_trainer",
                         "evaluator", "pusher"):
        assert _latest_state(db, component_id) == "COMPLETE", component_id
    assert len(metadata.execution_states(db, PIPELINE, "pretraining_trainer")) == pretraining_runs + 1
    assert _input_artifact_ids(db, "pretraining_examples", "vocabulary") == {vocabulary.id}
    assert _input_artifact_ids(db, "pretraining_trainer", "vocabulary") == {vocabulary.id}
    assert _input_artifact_ids(db, "pretraining_trainer", "base_model") == {encoder.id}
    pretrained = metadata.latest_output(db, PIPELINE, "pretraining_trainer", "model")
    assert _input_artifact_ids(db, "finetuning_trainer", "base_model") == {pretrained.id}

    # Three steps at 1e-4 move the imported weights a little; a fresh encoder would be far off.
    from models.encoder import load_pretrained_encoder

    trained = load_pretrained_encoder(pathlib.Path(pretrained.uri) / "Format-Serving")
    start = setup["weights"]["bert/embeddings/word_embeddings"]
    moved = np.abs(np.asarray(trained.token_embedding.embeddings) - start).max()
    assert 0 < moved < 0.01, moved
