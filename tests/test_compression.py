"""Compression: a tiny teacher fine-tuned on real SIB-200 rows, distilled and quantised; the gate."""

import json

import numpy as np
import pytest

import test_finetuning_support as support
from components import settings
from components.compression import compress as compress_lib
from components.compression.config import CompressionConfig
from components.compression import distillation
from components.finetuning import trainer_module as tm
from models.encoder_config import EncoderConfig

LANGS = ["en", "de", "zh-Hans"]


@pytest.fixture(scope="module")
def teacher(sample_sib200_dir, tmp_path_factory):
    """(examples dir, teacher SavedModel dir): a 2-layer tiny classifier fine-tuned on 48 rows
    of each of en, de, zh-Hans (16 eval rows each)."""
    root = tmp_path_factory.mktemp("compression")
    examples = support.sib200_examples(sample_sib200_dir, root / "examples", LANGS, LANGS, 48, 16)
    texts = [row[2] for code in support.SIB_LANGS
             for row in support.read_sib200(sample_sib200_dir, code, "train", 48)]
    pretrained = support.tiny_pretrained_dir(root / "pretrained", texts)
    params = tm.finetuning_config({"train_languages": ["all"], "max_seq_length": 32, "batch_size": 16,
                                   "learning_rate": 3e-3, "train_steps": 150, "eval_every": 150,
                                   "pooling": "mean", "dropout": 0.0})
    tm.finetune([str(examples / "Split-train/*")], [str(examples / "Split-eval/*")],
                str(root / "teacher"), str(root / "teacher_run"), params, base_model=str(pretrained))
    return examples, root / "teacher"


def _predict(model_dir, texts):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    model = tf.saved_model.load(str(model_dir))
    return model.signatures["predict_text"](text=tf.constant(texts))["probabilities"].numpy()


def test_the_exported_classifier_is_rebuilt_with_its_weights(teacher):
    import tensorflow as tf

    from models.serving import CLASSIFIER_CONFIG_FILE, ServingModule, load_classifier

    _, teacher_dir = teacher
    classifier, config = load_classifier(teacher_dir)
    assert config["pooling"] == "mean" and config["seq_len"] == 32 and config["num_classes"] == 7
    assert config["encoder"]["num_layers"] == 2 and config["quantized"] is None
    texts = ["The election results were announced.", "Das Spiel endete unentschieden.", "科学家"]
    module = ServingModule(classifier, teacher_dir / "assets", teacher_dir / "assets/labels.txt", 32)
    rebuilt = tf.nn.softmax(classifier(module.featurize(tf.constant(texts)))).numpy()
    np.testing.assert_allclose(rebuilt, _predict(teacher_dir, texts), atol=1e-5)

    (teacher_dir / CLASSIFIER_CONFIG_FILE).rename(teacher_dir / "moved.json")
    try:
        with pytest.raises(FileNotFoundError, match="classifier_config.json: not found"):
            load_classifier(teacher_dir)
    finally:
        (teacher_dir / "moved.json").rename(teacher_dir / CLASSIFIER_CONFIG_FILE)


def test_student_shape_defaults_to_half_the_layers_and_rejects_unknown_keys():
    teacher_config = EncoderConfig.preset("small", 1000)
    assert distillation.student_config(teacher_config, {}).num_layers == 2
    narrow = distillation.student_config(teacher_config, {"num_layers": 1, "hidden_dim": 128})
    assert (narrow.num_layers, narrow.hidden_dim, narrow.num_heads, narrow.intermediate_dim) == (1, 128, 2, 512)
    with pytest.raises(ValueError, match="unknown key compression.layers "):
        settings.from_json(CompressionConfig, json.dumps({"layers": 1}), "compression")
    with pytest.raises(ValueError, match="unknown key compression.temp "):
        settings.from_json(CompressionConfig, json.dumps({"temp": 2}), "compression")
    with pytest.raises(ValueError, match="compression.keep_by: expected one of accuracy, kl, got 'loss'"):
        settings.from_json(CompressionConfig, json.dumps({"keep_by": "loss"}), "compression")
    # The distillation's settings leave the gate's and the push's keys out of its cache key.
    tuned = CompressionConfig(num_layers=1, max_latency_ratio=0.5, model_name="small")
    assert tuned.for_distillation() == CompressionConfig(num_layers=1)


def test_kept_weights_follow_eval_accuracy_or_kl():
    untrained = {"eval_accuracy": 0.43, "eval_kl": 0.097}
    trained = {"eval_accuracy": 0.49, "eval_kl": 0.109}
    assert distillation._rank(trained, "accuracy") > distillation._rank(untrained, "accuracy")
    assert distillation._rank(untrained, "kl") > distillation._rank(trained, "kl")
    tie = {"eval_accuracy": 0.49, "eval_kl": 0.2}
    assert distillation._rank(trained, "accuracy") > distillation._rank(tie, "accuracy")


def test_distillation_loss_mixes_soft_and_hard_terms_and_skips_missing_labels():
    import tensorflow as tf

    teacher = tf.constant([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    student = tf.constant([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    labels = tf.constant([0, -1])
    # Same logits as the teacher: the soft term is 0; only labelled rows count in the hard term.
    same = distillation.distillation_loss(teacher, teacher, labels, 2.0, 0.5)
    hard_row0 = float(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[0], logits=teacher[:1])[0])
    assert float(same) == pytest.approx(0.5 * hard_row0, rel=1e-5)
    soft_only = float(distillation.distillation_loss(teacher, student, labels, 2.0, 1.0))
    p = tf.nn.softmax(teacher / 2.0)
    kl = tf.reduce_sum(p * (tf.math.log(p) - tf.nn.log_softmax(student / 2.0)), -1)
    assert soft_only == pytest.approx(float(tf.reduce_mean(kl)) * 4.0, rel=1e-5)


def test_student_learns_from_the_teacher_and_int8_model_is_smaller_with_the_same_signature(teacher, tmp_path):
    examples, teacher_dir = teacher
    params = CompressionConfig(num_layers=1, train_steps=60, eval_every=20, batch_size=16,
                               learning_rate=1e-3, temperature=2.0, quantize="int8")
    summary = compress_lib.compress(str(teacher_dir), [str(examples / "Split-train/*")],
                                    [str(examples / "Split-eval/*")], str(tmp_path / "served"),
                                    str(tmp_path / "run"), params)
    # The student started from the teacher's embeddings and its lower layer, and learned.
    assert {"token_embedding", "transformer_layer_0", "logits"} <= set(summary["copied_from_teacher"])
    assert "transformer_layer_1" not in summary["copied_from_teacher"]
    history = summary["history"]
    kept = next(h for h in history if h["step"] == summary["kept_step"])
    assert kept["eval_accuracy"] == max(h["eval_accuracy"] for h in history)
    assert history[-1]["train_loss"] < history[1]["train_loss"]
    assert min(h["eval_kl"] for h in history[1:]) < history[0]["eval_kl"]
    assert summary["rows"]["labelled"] == {"de": 48, "en": 48, "zh-Hans": 48}
    sizes = summary["size_bytes"]
    assert sizes["served"] < sizes["student"] < sizes["teacher"]
    texts = ["The election results were announced.", "Das Spiel endete unentschieden."]
    float_p, int8_p = _predict(tmp_path / "run" / "student", texts), _predict(tmp_path / "served", texts)
    assert int8_p.shape == (2, 7) and np.allclose(int8_p.sum(-1), 1.0, atol=1e-4)
    assert np.abs(float_p - int8_p).max() < 0.05
    served = json.loads((tmp_path / "served" / "assets.extra" / "classifier_config.json").read_text())
    assert served["quantized"] == "int8" and served["encoder"]["num_layers"] == 1


def test_push_decision_needs_both_blessings_and_a_faster_model():
    fast = {"teacher": {"p50_ms": 10.0}, "compressed": {"p50_ms": 4.0}}
    slow = {"teacher": {"p50_ms": 10.0}, "compressed": {"p50_ms": 10.5}}
    assert compress_lib.push_decision(True, True, fast, 1.0) == (True, [])
    blessed, reasons = compress_lib.push_decision(True, False, fast, 1.0)
    assert not blessed and "max_language_drop" in reasons[0]
    blessed, reasons = compress_lib.push_decision(True, True, slow, 1.0)
    assert not blessed and "10.50 ms is not below 1 x the teacher's 10.00 ms" in reasons[0]
    assert not compress_lib.push_decision(True, True, fast, 0.3)[0]
    assert compress_lib.push_decision(False, True, fast, 1.0)[1] == ["the teacher is not blessed"]


def _compression_pipeline(root, examples_dir, teacher_uri, serving_dir, compression: dict):
    """ImportExampleGen + the teacher (Importer, blessed) + the pipeline's compression stage."""
    from tfx import v1 as tfxv1

    from pipeline.config import PipelineConfig, config_from_dict
    from pipeline.pipeline import PipelinePaths, _compression

    example_gen, teacher = support.pipeline_inputs(examples_dir, teacher_uri, "teacher")
    blessing = tfxv1.dsl.Importer(
        source_uri=str(root / "teacher_blessing"),
        artifact_type=tfxv1.types.standard_artifacts.ModelBlessing,
        custom_properties={"blessed": 1}).with_id("teacher_blessing")
    config = config_from_dict({"push": {"model_name": "sib200_topic"}, "compression": compression},
                              base_dir=root)
    assert isinstance(config, PipelineConfig)
    paths = PipelinePaths(str(root / "pipeline_root"), str(root / "metadata.sqlite"), str(serving_dir))
    stage = _compression(config, paths, example_gen.outputs["examples"], None,
                         teacher.outputs["result"], blessing.outputs["result"], push=True)
    return tfxv1.dsl.Pipeline(
        pipeline_name="compression_e2e", pipeline_root=paths.pipeline_root,
        components=[example_gen, teacher, blessing] + stage, enable_cache=True,
        metadata_connection_config=tfxv1.orchestration.metadata.sqlite_metadata_connection_config(
            paths.metadata_path))


@pytest.mark.e2e
def test_compressed_model_is_pushed_under_its_own_name_only_when_no_language_drops(
        tmp_path, sample_sib200_dir):
    """A 4-layer teacher that learned its rows (eval = train rows). Run 1: a 1-layer student,
    lenient drop threshold: blessed (faster, no language below the threshold), pushed as version 1
    of `sib200_topic_compressed`. Run 2: an untrained student (1 step, nothing copied from the
    teacher) against a 2-point threshold: every language drops, NOT blessed, nothing pushed."""
    from ml_metadata.metadata_store import metadata_store
    from tfx import v1 as tfxv1
    from tfx.orchestration import metadata

    from components.evaluation.report import build_report
    from components.push import publish
    from pipeline import metadata as pipeline_metadata

    examples = support.sib200_examples(sample_sib200_dir, tmp_path / "examples", LANGS, LANGS, 48, 48,
                                       eval_source="train")
    texts = [row[2] for code in support.SIB_LANGS
             for row in support.read_sib200(sample_sib200_dir, code, "train", 48)]
    pretrained = support.tiny_pretrained_dir(tmp_path / "pretrained", texts, num_layers=4)
    params = tm.finetuning_config({"train_languages": ["all"], "max_seq_length": 32, "batch_size": 16,
                                   "learning_rate": 5e-3, "train_steps": 200, "eval_every": 200,
                                   "dropout": 0.0, "seed": 3})
    tm.finetune([str(examples / "Split-train/*")], [str(examples / "Split-eval/*")],
                str(tmp_path / "teacher" / "Format-Serving"), str(tmp_path / "teacher_run"), params,
                base_model=str(pretrained))
    (tmp_path / "teacher_blessing").mkdir()
    serving = tmp_path / "serving"
    runner = tfxv1.orchestration.LocalDagRunner()
    db = str(tmp_path / "metadata.sqlite")

    runner.run(_compression_pipeline(tmp_path, examples, tmp_path / "teacher", serving, {
        "num_layers": 1, "train_steps": 40, "eval_every": 20, "learning_rate": 2e-3,
        "batch_size": 16, "max_language_drop": 1.0}))
    gate = pipeline_metadata.custom_properties(
        pipeline_metadata.latest_output(db, "compression_e2e", "compression_gate", "blessing"))
    assert gate["blessed"] == 1, gate
    assert gate["compressed_p50_ms"] < gate["teacher_p50_ms"]
    assert publish.list_versions(serving / "sib200_topic_compressed") == [1]
    assert not (serving / "sib200_topic").exists()
    assert 'name: "sib200_topic_compressed"' in (serving / "models.config").read_text()
    pushed = serving / "sib200_topic_compressed" / "1"
    assert json.loads((pushed / "assets.extra" / "classifier_config.json").read_text())["quantized"] == "int8"

    runner.run(_compression_pipeline(tmp_path, examples, tmp_path / "teacher", serving, {
        "num_layers": 1, "hidden_dim": 16, "num_heads": 2, "train_steps": 1, "eval_every": 1,
        "batch_size": 16, "max_language_drop": 0.02}))
    store = metadata_store.MetadataStore(
        metadata.sqlite_metadata_connection_config(db))
    gate = pipeline_metadata.custom_properties(
        pipeline_metadata.latest_output(db, "compression_e2e", "compression_gate", "blessing"))
    assert gate["blessed"] == 0 and "max_language_drop" in gate["reasons"], gate
    evaluation = pipeline_metadata.latest_output_uri(db, "compression_e2e", "compression_evaluator",
                                                     "evaluation")
    report = build_report(evaluation)
    assert report["blessed"] is False
    # The baseline of the comparison is the teacher: it had learned its rows.
    assert all(report["baseline"]["languages"][tag]["accuracy"] > 0.5 for tag in LANGS)
    for tag in LANGS:
        assert any(f.startswith(f"language={tag}: sparse_categorical_accuracy change")
                   for f in report["failures"]), report["failures"]
    pushed_models = store.get_artifacts_by_type("PushedModel")
    assert max(pushed_models, key=lambda a: a.id).custom_properties["pushed"].int_value == 0
    assert publish.list_versions(serving / "sib200_topic_compressed") == [1]


def test_bench_verdict_compares_every_language_with_the_teacher():
    from benchmarks import compress as bench

    def model(p50, size, en, de):
        return {"p50_ms": p50, "size_bytes": size, "accuracy_by_language": {
            "en": {"accuracy": en}, "de": {"accuracy": de}}}

    results = {"teacher": model(10.0, 1000, 60.0, 50.0), "student": model(4.0, 600, 59.0, 49.0),
               "student_int8": model(3.0, 200, 58.0, 44.0)}
    assert bench.drops(results["teacher"]["accuracy_by_language"],
                       results["student_int8"]["accuracy_by_language"]) == {"en": 2.0, "de": 6.0}
    verdict = bench.verdict(results)
    assert verdict["student"] == {"mean_drop_points": 1.0, "worst_drop_points": 1.0,
                                  "p50_ratio": 0.4, "size_ratio": 0.6}
    assert verdict["student_int8"]["mean_drop_points"] == 4.0
    assert verdict["met"] == {"student_p50_ratio": True, "int8_size_ratio": True,
                              "mean_drop": False, "worst_drop": False}


def test_unlabelled_rows_are_added_with_the_soft_term_only(teacher, tmp_path):
    examples, teacher_dir = teacher
    params = CompressionConfig(train_steps=2, eval_every=2, batch_size=8, unlabelled_rows=20,
                               languages=["en"])
    _, _, summary = distillation.distil(
        str(teacher_dir), [str(examples / "Split-train/*")], [str(examples / "Split-eval/*")],
        str(tmp_path / "run"), params, unlabelled_files=[str(examples / "Split-eval/*")])
    assert summary["rows"] == {"labelled": {"en": 48}, "unlabelled": 20}
    rows_text, rows_ids, _ = distillation._rows(
        [str(examples / "Split-train/*")], [str(examples / "Split-eval/*")],
        summary["labels"], params)
    assert len(rows_text) == 68 and (rows_ids == -1).sum() == 20 and (rows_ids[:48] >= 0).all()
