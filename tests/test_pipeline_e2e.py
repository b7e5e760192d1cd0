"""End to end: the TFX pipeline under LocalDagRunner on small real data, read back from ML Metadata."""

import pathlib

import pytest
import yaml

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


def test_ingestion_stages_run_then_come_from_cache(tmp_path, ntrex_dir):
    corpus = _ntrex_subset(ntrex_dir, tmp_path / "ntrex")
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump({
        "pipeline_name": "e2e_ingestion",
        "stages": "ingestion",
        "pretraining_corpus": {"format": "ntrex", "inputs": [str(corpus)]},
    }))
    out = tmp_path / "out"
    result = run_pipeline(config_path, out)
    db = result["paths"].metadata_path
    ids = ["corpus_ingestion", "corpus_statistics", "corpus_schema", "corpus_validation"]
    for component_id in ids:
        assert metadata.execution_states(db, "e2e_ingestion", component_id) == ["COMPLETE"], component_id

    examples = pathlib.Path(metadata.latest_output_uri(db, "e2e_ingestion", "corpus_ingestion", "examples"))
    import json
    summary = json.loads((examples / "summary.json").read_text())
    assert summary["accepted"] == 3 * 1997 and summary["rejected"] == 0
    assert summary["by_language"] == {"en": 1997, "de": 1997, "zh-Hans": 1997}
    assert (pathlib.Path(metadata.latest_output_uri(db, "e2e_ingestion", "corpus_schema", "schema"))
            / "schema.pbtxt").exists()

    run_pipeline(config_path, out)
    for component_id in ids:
        assert metadata.execution_states(db, "e2e_ingestion", component_id) == ["COMPLETE", "CACHED"], component_id
