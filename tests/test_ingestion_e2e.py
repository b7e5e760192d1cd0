"""CorpusIngestion inside a real TFX pipeline (LocalDagRunner, SQLite ML Metadata)."""

import json
import os

import pytest
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx

from components.ingestion.component import CorpusIngestion
from components.ingestion.config import CorpusConfig
from components.ingestion.io import read_examples


def _pipeline(root, inputs):
    ingestion = CorpusIngestion(CorpusConfig(format="ntrex", inputs=inputs))
    statistics = tfx.components.StatisticsGen(examples=ingestion.outputs["examples"])
    return tfx.dsl.Pipeline(
        pipeline_name="ingestion_e2e",
        pipeline_root=os.path.join(root, "pipeline_root"),
        components=[ingestion, statistics],
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            os.path.join(root, "metadata.sqlite")),
        beam_pipeline_args=["--direct_num_workers=1"],
        enable_cache=True,
    )


@pytest.mark.e2e
def test_ingestion_and_statistics_in_local_dag_runner(ntrex_dir, ntrex_lines, tmp_path):
    inputs = [str(ntrex_dir / "newstest2019-src.eng.txt"), str(ntrex_dir / "newstest2019-ref.kor.txt")]
    tfx.orchestration.LocalDagRunner().run(_pipeline(str(tmp_path), inputs))

    store = metadata_store.MetadataStore(tfx.orchestration.metadata.sqlite_metadata_connection_config(
        str(tmp_path / "metadata.sqlite")))
    [examples] = store.get_artifacts_by_type("Examples")
    assert json.loads(examples.properties["split_names"].string_value) == ["train", "eval"]
    assert examples.custom_properties["records_read"].int_value == 2 * ntrex_lines
    assert examples.custom_properties["rejected"].int_value == 0
    assert json.loads(examples.custom_properties["languages"].string_value) == ["en", "ko"]
    # No span pattern: span 0, as TFX's ExampleGen records it; the driver's input fingerprint.
    assert examples.properties["span"].int_value == 0
    assert examples.custom_properties["input_fingerprint"].string_value.startswith("split:input-0,num_files:1")
    summary = json.loads(open(os.path.join(examples.uri, "summary.json"), encoding="utf-8").read())
    assert summary["by_language"] == {"en": ntrex_lines, "ko": ntrex_lines}
    rows = read_examples(examples.uri)
    assert len(rows) == 2 * ntrex_lines and {row["split"] for row in rows} == {"train", "eval"}

    [statistics] = store.get_artifacts_by_type("ExampleStatistics")
    for split in ("train", "eval"):
        assert os.path.exists(os.path.join(statistics.uri, f"Split-{split}", "FeatureStats.pb"))

    # Same inputs again: both components are served from cache, nothing new is written.
    tfx.orchestration.LocalDagRunner().run(_pipeline(str(tmp_path), inputs))
    states = sorted(execution.last_known_state for execution in store.get_executions())
    assert states == sorted([metadata_store_pb2.Execution.COMPLETE] * 2 + [metadata_store_pb2.Execution.CACHED] * 2)
    assert len(store.get_artifacts_by_type("Examples")) == 1
