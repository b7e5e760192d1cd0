"""Vertex AI / Kubeflow: the same create_pipeline compiles to a job spec; scheduling dry-runs."""

import json

from click.testing import CliRunner

from pipeline import cli, vertex
from pipeline.config import CONFIGS_DIR, load_config

COMPONENT_IDS = {
    "corpus_ingestion", "corpus_statistics", "corpus_schema", "corpus_validation",
    "labelled_ingestion", "labelled_statistics", "labelled_schema", "labelled_validation",
    "vocabulary", "pretraining_examples", "pretraining_trainer", "finetuning_trainer",
    "evaluator", "pusher",
    # KFP v2 compiles the latest-blessed-model resolver into two resolver tasks.
    "latest_blessed_model_resolver-model-resolver",
    "latest_blessed_model_resolver-model-blessing-resolver",
}


def test_compile_for_vertex_loads_back_with_every_component(tmp_path):
    config = load_config(CONFIGS_DIR / "ntrex_sib200_tiny.yaml")
    config.vertex.beam_pipeline_args = ["--runner=DataflowRunner", "--region=europe-west4"]
    config.vertex.trainer_accelerator_type = "NVIDIA_TESLA_A100"
    config.vertex.trainer_accelerator_count = 2
    path = vertex.compile_pipeline(config, str(tmp_path / "pipeline.json"),
                                   image="europe-docker.pkg.dev/p/r/mbert:1",
                                   pipeline_root="gs://bucket/mbert")
    job = json.loads(open(path).read())
    spec = job["pipelineSpec"]
    assert set(spec["root"]["dag"]["tasks"]) == COMPONENT_IDS
    executors = spec["deploymentSpec"]["executors"]
    images = {e["container"]["image"] for e in executors.values() if "container" in e}
    assert images == {"europe-docker.pkg.dev/p/r/mbert:1"}
    trainer = executors["pretraining_trainer_executor"]["container"]
    assert trainer["resources"]["accelerator"] == {"type": "NVIDIA_TESLA_A100", "count": "2"}
    assert "--runner=DataflowRunner" in json.dumps(executors["vocabulary_executor"])
    assert job["runtimeConfig"]["gcsOutputDirectory"] == "gs://bucket/mbert"


def test_compile_needs_a_pipeline_root(tmp_path):
    result = CliRunner().invoke(cli.main, [
        "compile", "--config", str(CONFIGS_DIR / "demo.yaml"), "--output", str(tmp_path / "p.json")])
    assert result.exit_code == 2
    assert result.output.startswith("error: vertex.pipeline_root: needed to compile")
    assert "Traceback" not in result.output


def test_schedule_dry_run_prints_the_request_without_credentials(tmp_path):
    template = tmp_path / "pipeline.json"
    template.write_text("{}")
    result = CliRunner().invoke(vertex.schedule_command, [
        "--cron", "0 3 * * *", "--config", str(CONFIGS_DIR / "demo.yaml"), "--project", "my-proj",
        "--region", "europe-west4", "--template", str(template), "--dry-run"])
    assert result.exit_code == 0, result.output
    request = json.loads(result.output)
    assert request["parent"] == "projects/my-proj/locations/europe-west4"
    assert request["schedule"]["cron"] == "0 3 * * *"
    job = request["schedule"]["create_pipeline_job_request"]["pipeline_job"]
    assert job["template_uri"] == str(template)
