"""LocalDagRunner: fine-tune -> Evaluator (sliced by language) -> blessing -> Pusher, twice.

Run 1 fine-tunes a tiny model on SIB-200 rows; with no blessed model yet, only the per-slice
minimum accuracy applies: it is blessed and pushed as version 1. Run 2 trains a label-shuffled
candidate; the resolver hands the Evaluator run 1's model as the baseline; the candidate loses
far more than the allowed points in every language: NOT_BLESSED, and nothing is pushed.

A tiny encoder cannot generalise from a few hundred rows within the test budget, but it can learn
them: the eval split holds the training rows themselves, which gives the trained model a high,
deterministic accuracy and the shuffled one chance level. The gate, not the model, is under test.
"""

import hashlib
import pathlib

import pytest

import test_finetuning_support as support

LANGUAGES = ["en", "de", "zh-Hans"]
MODEL_NAME = "sib200_topic"


def _tree_digest(root: pathlib.Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _pipeline(root: pathlib.Path, examples_dir: pathlib.Path, pretrained_uri: pathlib.Path,
              serving_dir: pathlib.Path, shuffle_labels: bool):
    from tfx import v1 as tfxv1

    from components.evaluation.component import create_evaluator, latest_blessed_model_resolver
    from components.push.component import MBertPusher
    from components.finetuning import trainer_module as tm
    from components.trainer import custom_config

    example_gen, pretrained = support.pipeline_inputs(examples_dir, pretrained_uri, "pretrained_encoder")
    trainer = tfxv1.components.Trainer(
        run_fn="components.finetuning.trainer_module.run_fn",
        examples=example_gen.outputs["examples"],
        base_model=pretrained.outputs["result"],
        train_args=tfxv1.proto.TrainArgs(),
        eval_args=tfxv1.proto.EvalArgs(),
        custom_config=custom_config(tm.finetuning_config({
            "train_languages": ["all"], "max_seq_length": 32, "batch_size": 16, "epochs": 20,
            "learning_rate": 5e-3, "early_stopping_patience": 4, "dropout": 0.0,
            "shuffle_labels": shuffle_labels, "seed": 3,
        })))
    resolver = latest_blessed_model_resolver()
    evaluator = create_evaluator(
        example_gen.outputs["examples"], trainer.outputs["model"], resolver.outputs["model"],
        min_accuracy=0.5, max_language_drop=0.1, languages=LANGUAGES, num_classes=7)
    pusher = MBertPusher(
        model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
        serving_dir=str(serving_dir), model_name=MODEL_NAME)
    return tfxv1.dsl.Pipeline(
        pipeline_name="finetuning_e2e", pipeline_root=str(root / "pipeline_root"),
        components=[example_gen, pretrained, trainer, resolver, evaluator, pusher],
        enable_cache=True,
        metadata_connection_config=tfxv1.orchestration.metadata.sqlite_metadata_connection_config(
            str(root / "metadata.sqlite")))


def _latest(store, type_name: str):
    artifacts = store.get_artifacts_by_type(type_name)
    return max(artifacts, key=lambda a: a.id) if artifacts else None


@pytest.mark.e2e
def test_blessed_model_is_pushed_and_label_shuffled_candidate_is_not(tmp_path, sample_sib200_dir):
    from ml_metadata.metadata_store import metadata_store
    from tfx import v1 as tfxv1
    from tfx.orchestration import metadata

    from components.evaluation.report import build_report, find_latest_evaluation
    from components.push import publish

    examples_dir = support.sib200_examples(sample_sib200_dir, tmp_path / "examples", LANGUAGES,
                                           LANGUAGES, 48, 48, eval_source="train")
    texts = [row[2] for code in support.SIB_LANGS
             for row in support.read_sib200(sample_sib200_dir, code, "train", 48)]
    pretrained_uri = tmp_path / "pretrained"
    support.tiny_pretrained_dir(pretrained_uri / "Format-Serving", texts)
    serving_dir = tmp_path / "serving"
    runner = tfxv1.orchestration.LocalDagRunner()

    # Run 1: a model trained on the true labels; nothing blessed before it.
    runner.run(_pipeline(tmp_path, examples_dir, pretrained_uri, serving_dir, False))
    config = metadata.sqlite_metadata_connection_config(str(tmp_path / "metadata.sqlite"))
    store = metadata_store.MetadataStore(config)
    first_blessing = _latest(store, "ModelBlessing")
    assert first_blessing.custom_properties["blessed"].int_value == 1
    assert publish.list_versions(serving_dir / MODEL_NAME) == [1]
    version_one = serving_dir / MODEL_NAME / "1"
    assert (version_one / "saved_model.pb").exists()
    assert (version_one / "assets" / "labels.txt").read_text().count("\n") == 7
    assert f'name: "{MODEL_NAME}"' in (serving_dir / "models.config").read_text()
    first = build_report(find_latest_evaluation(tmp_path / "pipeline_root"))
    assert first["blessed"] is True and "baseline" not in first
    assert sorted(first["languages"]) == sorted(LANGUAGES)
    assert all(first["languages"][tag]["count"] == 48 for tag in LANGUAGES)
    assert first["overall"]["count"] == 48 * len(LANGUAGES)
    assert all(first["languages"][tag]["accuracy"] >= 0.5 for tag in LANGUAGES)
    digest_before = _tree_digest(version_one)

    # Run 2: the label-shuffled candidate against run 1's model (latest blessed).
    runner.run(_pipeline(tmp_path, examples_dir, pretrained_uri, serving_dir, True))
    store = metadata_store.MetadataStore(config)
    second_blessing = _latest(store, "ModelBlessing")
    assert second_blessing.id != first_blessing.id
    assert second_blessing.custom_properties["blessed"].int_value == 0
    pushed = _latest(store, "PushedModel")
    assert pushed.custom_properties["pushed"].int_value == 0
    assert publish.list_versions(serving_dir / MODEL_NAME) == [1]
    assert _tree_digest(version_one) == digest_before
    second = build_report(find_latest_evaluation(tmp_path / "pipeline_root"))
    assert second["blessed"] is False
    # The baseline the resolver gave the Evaluator is run 1's model: same metrics as before.
    assert second["baseline"]["languages"]["en"]["accuracy"] == pytest.approx(
        first["languages"]["en"]["accuracy"])
    for tag in LANGUAGES:
        assert any(f.startswith(f"language={tag}: sparse_categorical_accuracy change")
                   for f in second["failures"]), second["failures"]
