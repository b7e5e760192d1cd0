"""The Evaluator's config and metrics, TF Text ops in the Evaluator, and `mbert report`."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import test_finetuning_support as support
from components.evaluation import eval_config as ec
from components.evaluation import metrics
from components.evaluation import report

LABELS = ["health", "politics", "sports", "travel"]
ROWS = [  # text, language, label
    ("The election results were announced.", "en", "politics"),
    ("The team won the final match.", "en", "sports"),
    ("Visit the old town by train.", "en", "travel"),
    ("Doctors recommend more sleep.", "en", "health"),
    ("Die Wahl wurde verschoben.", "de", "politics"),
    ("Das Spiel endete unentschieden.", "de", "sports"),
    ("选举结果已经公布。", "zh-Hans", "politics"),
    ("医生建议多睡觉。", "zh-Hans", "health"),
    ("球队赢得了决赛。", "zh-Hans", "sports"),
]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """(TFMA output dir, exported model dir, examples dir) for an untrained tiny model."""
    import tensorflow_model_analysis as tfma

    from components.evaluation import tfma_module

    root = tmp_path_factory.mktemp("evaluation")
    model_dir = support.export_tiny_model(root, LABELS, vocab_texts=[r[0] for r in ROWS])
    examples = support.write_examples(
        root / "examples", {"eval": [(t, lang, y, f"d{i}", f"x.tsv:{i}")
                                     for i, (t, lang, y) in enumerate(ROWS)]})
    config = ec.build_eval_config(num_classes=len(LABELS), min_accuracy=0.0)
    # As the TFX Evaluator does on a first run (no baseline): change thresholds rubber-stamped.
    config = tfma.utils.update_eval_config_with_defaults(config, has_baseline=False, rubber_stamp=True)
    shared = tfma_module.custom_eval_shared_model(str(model_dir), "", config)
    tfma.run_model_analysis(eval_shared_model=shared, eval_config=config,
                            data_location=str(examples / "Split-eval" / "*"),
                            file_format="tfrecords", output_path=str(root / "Evaluator" / "evaluation" / "12"))
    return root / "Evaluator" / "evaluation" / "12", model_dir, examples


def test_eval_config_slices_metrics_and_gate():
    config = ec.build_eval_config(min_accuracy=0.4, max_language_drop=0.03, languages=["en", "de"],
                                  num_classes=7)
    (spec,) = config.model_specs
    assert (spec.signature_name, spec.label_key, spec.prediction_key) == (
        "serving_default", "label_index", "probabilities")
    assert list(spec.preprocessing_function_names) == ["transformed_labels"]
    slices = [(list(s.feature_keys), dict(s.feature_values)) for s in config.slicing_specs]
    assert slices == [([], {}), (["language"], {}), (["label"], {})]
    names = [m.class_name for spec in config.metrics_specs for m in spec.metrics]
    assert names == ["ExampleCount", "SparseCategoricalAccuracy", "MacroF1", "ClassRecall"]
    (gate,) = config.metrics_specs[0].metrics[1].per_slice_thresholds
    gated = [dict(s.feature_values) for s in gate.slicing_specs]
    assert gated == [{}, {"language": "en"}, {"language": "de"}]
    assert gate.threshold.value_threshold.lower_bound.value == 0.4
    assert gate.threshold.change_threshold.absolute.value == pytest.approx(-0.03)
    every_language = ec.build_eval_config()
    gated = every_language.metrics_specs[0].metrics[1].per_slice_thresholds[0].slicing_specs
    assert [list(s.feature_keys) for s in gated] == [[], ["language"]]
    assert [m.class_name for m in every_language.metrics_specs[1].metrics] == ["MacroF1"]


def test_eval_config_rejects_out_of_range_values():
    with pytest.raises(ValueError, match="min_accuracy"):
        ec.build_eval_config(min_accuracy=1.5)
    with pytest.raises(ValueError, match="max_language_drop"):
        ec.build_eval_config(max_language_drop=-0.1)
    with pytest.raises(ValueError, match="num_classes"):
        ec.build_eval_config(num_classes=1)


def test_macro_f1_from_a_confusion_matrix():
    from tensorflow_model_analysis.metrics.multi_class_confusion_matrix_metrics import MatrixEntryKey

    matrix = {MatrixEntryKey(0, 0): 3, MatrixEntryKey(0, 1): 1, MatrixEntryKey(1, 1): 2,
              MatrixEntryKey(2, 1): 2}
    # F1: class 0 = 2*3/(4+3) = 6/7; class 1 = 2*2/(2+5) = 4/7; class 2 = 0 (2 examples, 0 hit);
    # class 3 (no examples, no predictions) does not count.
    assert metrics.macro_f1_from_matrix(matrix, 4) == pytest.approx((6 / 7 + 4 / 7 + 0) / 3)
    assert metrics.macro_f1_from_matrix(matrix) == pytest.approx((6 / 7 + 4 / 7 + 0) / 3)
    assert np.isnan(metrics.macro_f1_from_matrix({}, 3))


def test_tfma_metrics_match_a_count_by_hand(evaluated):
    import tensorflow as tf

    output, model_dir, _ = evaluated
    predicted = tf.saved_model.load(str(model_dir)).signatures["predict_text"](
        text=tf.constant([r[0] for r in ROWS]))["label"].numpy().astype(str)
    truth = np.array([r[2] for r in ROWS])
    languages = np.array([r[1] for r in ROWS])
    result = report.build_report(output)
    assert result["overall"]["count"] == len(ROWS)
    assert result["overall"]["accuracy"] == pytest.approx((predicted == truth).mean())
    for tag in ("en", "de", "zh-Hans"):
        mask = languages == tag
        assert result["languages"][tag]["count"] == mask.sum()
        assert result["languages"][tag]["accuracy"] == pytest.approx((predicted[mask] == truth[mask]).mean())
    f1s = []
    for label in LABELS:
        tp = ((predicted == label) & (truth == label)).sum()
        support_and_predicted = (truth == label).sum() + (predicted == label).sum()
        if support_and_predicted:
            f1s.append(2 * tp / support_and_predicted)
    assert result["overall"]["macro_f1"] == pytest.approx(np.mean(f1s))
    for label in LABELS:  # a label slice's accuracy is that class's recall
        mask = truth == label
        assert result["labels"][label]["recall"] == pytest.approx((predicted[mask] == label).mean())
    import tensorflow_model_analysis as tfma

    overall = dict(tfma.load_eval_result(str(output)).slicing_metrics)[()]
    recall = overall[""]["classId:1"]["class_recall"]["doubleValue"]
    assert recall == pytest.approx(result["labels"]["politics"]["recall"])


_LOADING = r"""
import sys
import tensorflow as tf
try:
    tf.saved_model.load(sys.argv[1])
    print("tf only: loaded")
except Exception as error:
    print("tf only:", "Op type not registered" in str(error))
import tensorflow_model_analysis as tfma
config = tfma.EvalConfig(model_specs=[tfma.ModelSpec(signature_name="serving_default",
                                                     model_type="tf_generic")])
from components.evaluation import tfma_module
shared = tfma_module.custom_eval_shared_model(sys.argv[1], "", config)
print("module:", sorted(shared.model_loader.load().signatures))
# Beam ships DoFn state with cloudpickle: module functions travel by reference (module name).
import cloudpickle
print("pickled:", b"components.evaluation.tfma_module" in cloudpickle.dumps(shared.model_loader.construct_fn))
"""


def test_evaluator_module_loads_the_model_with_its_tf_text_ops(evaluated):
    _, model_dir, _ = evaluated
    result = subprocess.run(
        [sys.executable, "-c", _LOADING, str(model_dir)], capture_output=True, text=True,
        cwd=pathlib.Path(__file__).resolve().parents[1], timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [l for l in result.stdout.splitlines() if l.split(":")[0] in ("tf only", "module", "pickled")]
    assert lines[0] == "tf only: True"  # the graph cannot load without TF Text's ops
    assert lines[1] == "module: ['predict_text', 'serving_default', 'transformed_labels']"
    assert lines[2] == "pickled: True"  # Beam workers unpickling the loader import the module


def test_evaluator_module_fails_loudly_without_tf_text(monkeypatch):
    import importlib.util

    from components.evaluation import tfma_module

    monkeypatch.setitem(sys.modules, "tensorflow_text", None)  # as if not installed
    spec = importlib.util.spec_from_file_location("tfma_module_copy", tfma_module.__file__)
    with pytest.raises(ImportError, match="tensorflow_text"):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


def test_report_files_and_table(evaluated, tmp_path):
    output, _, _ = evaluated
    older = output.parent / "3"
    older.mkdir()
    (older / "eval_config.json").write_text("{}")
    (older / "metrics-00000-of-00001").write_text("")
    assert report.find_latest_evaluation(output.parents[2]) == output
    result = report.write_report(output.parents[2], tmp_path / "reports")
    written = json.loads((tmp_path / "reports" / "eval_by_language.json").read_text())
    assert written == json.loads(json.dumps(result))
    assert set(written["languages"]) == {"en", "de", "zh-Hans"}
    assert sum(row["count"] for row in written["languages"].values()) == written["overall"]["count"]
    assert written["blessed"] is True  # min_accuracy 0: nothing can fail
    assert (tmp_path / "reports" / "eval_by_language.md").read_text() == report.format_language_table(result)
    from PIL import Image

    image = Image.open(tmp_path / "reports" / "eval_by_language.png")
    assert image.format == "PNG" and image.size[1] == 410


def test_language_table_with_a_baseline():
    result = {
        "overall": {"accuracy": 0.5, "macro_f1": 0.25, "count": 4},
        "languages": {"de": {"accuracy": 0.0, "macro_f1": None, "count": 2},
                      "en": {"accuracy": 1.0, "macro_f1": 1.0, "count": 2}},
        "baseline": {"overall": {"accuracy": 0.75}, "languages": {"en": {"accuracy": 0.5}}},
        "blessed": False, "failures": ["language=de: sparse_categorical_accuracy 0.000 < minimum 0.100"],
    }
    assert report.format_language_table(result) == (
        "| language | examples | accuracy % | macro-F1 % | baseline accuracy % | change (points) |\n"
        "|---|---|---|---|---|---|\n"
        "| overall | 4 | 50.0 | 25.0 | 75.0 | -25.0 |\n"
        "| de | 2 | 0.0 | n/a | n/a | n/a |\n"
        "| en | 2 | 100.0 | 100.0 | 50.0 | +50.0 |\n"
        "\n"
        "Blessed: NO\n"
        "- language=de: sparse_categorical_accuracy 0.000 < minimum 0.100\n")


def test_chart_puts_the_baseline_beside_the_candidate(tmp_path):
    from PIL import Image

    result = {"languages": {"en": {"accuracy": 1.0}, "de": {"accuracy": 0.5}},
              "baseline": {"languages": {"en": {"accuracy": 0.5}, "de": {"accuracy": 0.5}}}}
    image = Image.open(report.draw_accuracy_chart(result, tmp_path / "c.png")).convert("RGB")
    # Bar geometry: plot top 40, height 300; group of two 14-px bars per language from x=66.
    assert image.getpixel((66 + 7, 40 + 300 - 100)) == (170, 170, 170)  # en baseline at 50%
    assert image.getpixel((66 + 18 + 7, 40 + 10)) == (52, 101, 164)  # en candidate at 100%
    assert image.getpixel((66 + 7, 40 + 10)) != (170, 170, 170)  # baseline bar stops at 50%


def test_report_command_without_an_evaluation_names_the_folder(tmp_path):
    result = CliRunner().invoke(report.report, [str(tmp_path)])
    assert result.exit_code != 0 and str(tmp_path) in result.output
    assert "no Evaluator output" in result.output


def _lineage_store(tmp_path, trained_spans):
    """An ML Metadata store with one Trainer execution per span (Examples of that span in, a
    Model out) and a blessing for every model; returns (store, models, blessings)."""
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb
    from tfx.types import standard_artifacts
    from tfx.types.artifact_utils import deserialize_artifact

    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(tmp_path / "mlmd.sqlite")
    store = metadata_store.MetadataStore(config)

    def put_type(artifact_class):
        return store.put_artifact_type(artifact_class._get_artifact_type())

    examples_type, model_type, blessing_type = (
        put_type(standard_artifacts.Examples), put_type(standard_artifacts.Model),
        put_type(standard_artifacts.ModelBlessing))
    trainer_type = store.put_execution_type(pb.ExecutionType(name="Trainer"))
    models, blessings = [], []
    for span in trained_spans:
        examples = pb.Artifact(type_id=examples_type, uri=f"/examples/{span}")
        examples.properties["span"].int_value = span
        model = pb.Artifact(type_id=model_type, uri=f"/model/{span}")
        examples_id, model_id = store.put_artifacts([examples, model])
        [execution_id] = store.put_executions([pb.Execution(type_id=trainer_type)])
        step = lambda key: pb.Event.Path(steps=[pb.Event.Path.Step(key=key)])  # noqa: E731
        store.put_events([
            pb.Event(artifact_id=examples_id, execution_id=execution_id, type=pb.Event.INPUT,
                     path=step("examples")),
            pb.Event(artifact_id=model_id, execution_id=execution_id, type=pb.Event.OUTPUT,
                     path=step("model"))])
        blessing = pb.Artifact(type_id=blessing_type, uri=f"/blessing/{span}")
        blessing.custom_properties["blessed"].int_value = 1
        blessing.custom_properties["current_model_id"].int_value = model_id
        [blessing_id] = store.put_artifacts([blessing])
        [model, blessing] = store.get_artifacts_by_id([model_id, blessing_id])
        [model_mlmd_type, blessing_mlmd_type] = store.get_artifact_types_by_id([model_type, blessing_type])
        models.append(deserialize_artifact(model_mlmd_type, model))
        blessings.append(deserialize_artifact(blessing_mlmd_type, blessing))
    return store, models, blessings


def test_a_backfill_is_compared_with_the_model_blessed_before_its_span(tmp_path):
    from components.evaluation.baseline import LatestBlessedOtherModelStrategy, training_span

    store, models, blessings = _lineage_store(tmp_path, [1, 2, 3])
    assert [training_span(store, m.id) for m in models] == [1, 2, 3]

    def baseline(before_span, candidate):
        inputs = {"model": list(models), "model_blessing": list(blessings), "candidate": [candidate]}
        resolved = LatestBlessedOtherModelStrategy(before_span).resolve_artifacts(store, inputs)
        return [m.uri for m in resolved["model"]]

    # A scheduled run: the newest blessed model other than the candidate.
    assert baseline(None, models[2]) == ["/model/2"]
    # A backfill of span 2 (its candidate cached from then): the model of span 1, not of span 3.
    assert baseline(2, models[1]) == ["/model/1"]
    assert baseline(3, models[2]) == ["/model/2"]
    # Nothing was blessed before span 1: no baseline (the gate then checks thresholds only).
    assert baseline(1, models[0]) == []
