"""A simulated schedule: three spans arrive one after another, one LocalDagRunner run per span.

The smallest path that has what a scheduled run needs, built from the pipeline's own components:
a corpus without spans (the pretraining side: unchanged, so cached after run 1), labelled data at
`sib/span-{SPAN}` (resolved by CorpusIngestion's ExampleGen driver when each run starts),
fine-tuning from a tiny encoder, the latest-blessed-model resolver, the by-language Evaluator and
the Pusher. The whole create_pipeline (vocabulary, pretraining, statistics) three times does not
fit the ~5 minutes a test may take on two shared cores; test_pipeline_e2e runs it with one new span.

Spans 1 and 2 hold the same rows with their true labels; span 3 rotates the German training
labels (every German row taught a wrong topic). As in test_finetuning_e2e, the test split holds the
training rows with their true labels, so a model that learns its rows scores high, and the
German-poisoned model low on German only: the gate, not the model, is under test.
"""

import pathlib

import pytest

import test_finetuning_support as support
from pipeline import metadata

pytestmark = pytest.mark.e2e

PIPELINE = "schedule_e2e"
LANGUAGES = {"eng_Latn": "en", "deu_Latn": "de", "zho_Hans": "zh-Hans"}
MODEL_NAME = "topics"
ROWS = 16  # per language and split: few enough for three trainings in the test's time


def _write_span(sib200_dir: pathlib.Path, folder: pathlib.Path, poison_german: bool) -> None:
    """A SIB-200 span: per language, train/dev/test all the first ROWS train rows (test with true labels)."""
    labels = (sib200_dir / "labels.txt").read_text(encoding="utf-8").split()
    folder.mkdir(parents=True)
    (folder / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    for code in LANGUAGES:
        lines = (sib200_dir / code / "train.tsv").read_text(encoding="utf-8").splitlines()
        header, rows = lines[0], lines[1:ROWS + 1]
        wrong = []  # every row taught the next topic in labels.txt
        for row in rows:
            index_id, category, text = row.split("\t", 2)
            wrong.append("\t".join([index_id, labels[(labels.index(category) + 1) % len(labels)], text]))
        (folder / code).mkdir()
        taught = wrong if poison_german and code == "deu_Latn" else rows
        for split, content in (("train", taught), ("dev", taught), ("test", rows)):
            (folder / code / f"{split}.tsv").write_text("\n".join([header] + content) + "\n", encoding="utf-8")


def _pipeline(root: pathlib.Path, corpus: pathlib.Path, pretrained: pathlib.Path):
    import tfx
    from tfx import v1 as tfxv1

    from components.evaluation.component import create_evaluator, latest_blessed_model_resolver
    from components.ingestion.component import CorpusIngestion
    from components.ingestion.config import CorpusConfig
    from components.push.component import MBertPusher
    from pipeline.pipeline import FINETUNING_RUN_FN
    from components.finetuning import trainer_module as tm
    from components.trainer import custom_config

    corpus_ingestion = CorpusIngestion(CorpusConfig(format="ntrex", inputs=[str(corpus)])
                                       ).with_id("corpus_ingestion")
    labelled = CorpusIngestion(CorpusConfig(format="sib200", inputs=[str(root / "sib" / "span-{SPAN}")])
                               ).with_id("labelled_ingestion")
    encoder = tfxv1.dsl.Importer(
        source_uri=str(pretrained), artifact_type=tfxv1.types.standard_artifacts.Model,
        custom_properties={"tfx_version": tfx.__version__}).with_id("pretrained_encoder")
    trainer = tfxv1.components.Trainer(
        run_fn=FINETUNING_RUN_FN, examples=labelled.outputs["examples"],
        base_model=encoder.outputs["result"],
        train_args=tfxv1.proto.TrainArgs(splits=["train"]), eval_args=tfxv1.proto.EvalArgs(splits=["eval"]),
        # No early stopping: every run learns its rows for the same number of epochs.
        custom_config=custom_config(tm.finetuning_config({
            "train_languages": ["all"], "max_seq_length": 32, "batch_size": 16, "epochs": 30,
            "learning_rate": 1e-2, "early_stopping_patience": 30, "dropout": 0.0, "seed": 3})),
    ).with_id("finetuning_trainer")
    # As create_pipeline builds it for local runs: the candidate is never its own baseline.
    resolver = latest_blessed_model_resolver(candidate=trainer.outputs["model"])
    evaluator = create_evaluator(
        labelled.outputs["examples"], trainer.outputs["model"], resolver.outputs["model"],
        min_accuracy=0.5, max_language_drop=0.1, languages=list(LANGUAGES.values()), num_classes=7,
        example_splits=["test"], component_id="evaluator")
    pusher = MBertPusher(model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
                         serving_dir=str(root / "serving"), model_name=MODEL_NAME).with_id("pusher")
    return tfxv1.dsl.Pipeline(
        pipeline_name=PIPELINE, pipeline_root=str(root / "pipeline_root"),
        components=[corpus_ingestion, labelled, encoder, trainer, resolver, evaluator, pusher],
        enable_cache=True, beam_pipeline_args=["--direct_num_workers=1"],
        metadata_connection_config=tfxv1.orchestration.metadata.sqlite_metadata_connection_config(
            str(root / "metadata.sqlite")))


def test_three_spans_arrive_and_the_span_that_hurts_german_is_not_pushed(tmp_path, sample_sib200_dir,
                                                                         sample_ntrex_dir):
    sib200_dir, ntrex_dir = sample_sib200_dir, sample_ntrex_dir  # same rows on every machine
    from tfx import v1 as tfxv1

    from components.evaluation.report import build_report, find_latest_evaluation
    from components.push import publish

    corpus = tmp_path / "ntrex"  # the unchanging corpus: two languages of NTREX
    corpus.mkdir()
    for name in ("DOCUMENT_IDS.tsv", "newstest2019-src.eng.txt", "newstest2019-ref.deu.txt"):
        (corpus / name).symlink_to(ntrex_dir / name)
    texts = [row[2] for code in LANGUAGES for row in support.read_sib200(sib200_dir, code, "train", ROWS)]
    support.tiny_pretrained_dir(tmp_path / "pretrained" / "Format-Serving", texts)
    db = str(tmp_path / "metadata.sqlite")
    reports = []
    for span in (1, 2, 3):  # the schedule: a span lands, then the run starts
        _write_span(sib200_dir, tmp_path / "sib" / f"span-{span}", poison_german=span == 3)
        tfxv1.orchestration.LocalDagRunner().run(_pipeline(tmp_path, corpus, tmp_path / "pretrained"))
        labelled = metadata.latest_output(db, PIPELINE, "labelled_ingestion", "examples")
        assert labelled.properties["span"].int_value == span
        reports.append(build_report(find_latest_evaluation(tmp_path / "pipeline_root")))

    # Unchanged steps come from cache; each new span re-runs what depends on it.
    assert metadata.execution_states(db, PIPELINE, "corpus_ingestion") == ["COMPLETE", "CACHED", "CACHED"]
    for component_id in ("labelled_ingestion", "finetuning_trainer", "evaluator", "pusher"):
        assert metadata.execution_states(db, PIPELINE, component_id) == ["COMPLETE"] * 3, component_id

    # Each run's baseline is the model the previous run blessed.
    models = [ids[0] for ids in metadata.outputs_by_run(db, PIPELINE, "finetuning_trainer", "model")]
    assert metadata.inputs_by_run(db, PIPELINE, "evaluator", "baseline_model") == [[], [models[0]], [models[1]]]

    # The gate: spans 1 and 2 pass, span 3 loses German only and is not pushed.
    assert [report["blessed"] for report in reports] == [True, True, False]
    failures = reports[2]["failures"]
    assert any(f.startswith("language=de: sparse_categorical_accuracy change") for f in failures), failures
    assert not any(f.startswith(("language=en:", "language=zh-Hans:")) for f in failures), failures
    assert reports[2]["languages"]["de"]["accuracy"] < reports[2]["baseline"]["languages"]["de"]["accuracy"] - 0.1
    assert publish.list_versions(tmp_path / "serving" / MODEL_NAME) == [1, 2]
