"""Vertex AI / Kubeflow: the same create_pipeline compiles to a job spec; scheduling dry-runs."""

import json

import pytest

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


def test_compression_stage_compiles_for_vertex(tmp_path):
    config = load_config(CONFIGS_DIR / "compress.yaml")
    path = vertex.compile_pipeline(config, str(tmp_path / "pipeline.json"),
                                   image="europe-docker.pkg.dev/p/r/mbert:1",
                                   pipeline_root="gs://bucket/mbert")
    spec = json.loads(open(path).read())["pipelineSpec"]
    tasks = spec["root"]["dag"]["tasks"]
    assert {"compression", "compression_evaluator", "compression_gate", "compression_pusher"} <= set(tasks)
    # The compressed model is evaluated against the teacher and gated on the teacher's blessing.
    gate_inputs = json.dumps(tasks["compression_gate"]["inputs"])
    assert "finetuning_trainer" in gate_inputs and "evaluator" in gate_inputs
    pusher = json.dumps(spec["deploymentSpec"]["executors"]["compression_pusher_executor"])
    assert "sib200_topic_compressed" in json.dumps(tasks["compression_pusher"]) or \
        "sib200_topic_compressed" in pusher


def test_compile_needs_a_pipeline_root(tmp_path):
    result = CliRunner().invoke(cli.main, [
        "compile", "--config", str(CONFIGS_DIR / "demo.yaml"), "--output", str(tmp_path / "p.json")])
    assert result.exit_code == 2
    assert result.output.startswith("error: vertex.pipeline_root: needed to compile")
    assert "Traceback" not in result.output


def test_compiled_spec_keeps_span_patterns_for_the_example_gen_driver(tmp_path):
    config = load_config(CONFIGS_DIR / "ntrex_sib200_tiny.yaml")
    config.labelled_data.inputs = ["gs://bucket/sib200/span-{SPAN}"]
    path = vertex.compile_pipeline(config, str(tmp_path / "pipeline.json"), pipeline_root="gs://bucket/mbert")
    job = json.loads(open(path).read())
    task = job["pipelineSpec"]["root"]["dag"]["tasks"]["labelled_ingestion"]
    parameters = {name: value["runtimeValue"]["constantValue"]["stringValue"]
                  for name, value in task["inputs"]["parameters"].items() if name.startswith("input_")}
    assert parameters["input_base"] == "gs://bucket/sib200"
    assert json.loads(parameters["input_config"]) == {
        "splits": [{"name": "input-0", "pattern": "span-{SPAN}"}]}
    # TFX's file-based ExampleGen driver resolves the span before the cache check of each run.
    executor = job["pipelineSpec"]["deploymentSpec"]["executors"]["labelled_ingestion_executor"]["container"]
    hook = executor["lifecycle"]["preCacheCheck"]
    assert "tfx.orchestration.kubeflow.v2.file_based_example_gen.driver" in " ".join(hook["command"])
    assert "components.ingestion.executor.Executor" in executor["args"]


def _schedule(tmp_path, *extra, client=None):
    args = dict(cron="0 3 * * *", config_path=str(CONFIGS_DIR / "ntrex_sib200_tiny.yaml"), project="my-proj",
                region="europe-west4", template="gs://bucket/templates/mbert.json", upload_to=None,
                image=None, pipeline_root="gs://bucket/root", service_account="runner@my-proj.iam.gserviceaccount.com",
                params=("learning_rate=0.001", "note=nightly"), dry_run=False)
    args.update(extra[0] if extra else {})
    return vertex.run_schedule(**args, client=client)


class FakeVertex:
    def __init__(self):
        self.uploads, self.requests = [], []

    def upload_template(self, path, destination):
        self.uploads.append((path, destination))
        return f"{destination}/mbert-pipeline/sha256:abc"

    def create_schedule(self, request):
        self.requests.append(request)
        return "projects/my-proj/locations/europe-west4/schedules/1"


def test_schedule_dry_run_prints_a_request_with_the_vertex_schedule_fields(tmp_path):
    from google.cloud import aiplatform_v1

    result = CliRunner().invoke(vertex.schedule_command, [
        "--cron", "TZ=Europe/Paris 0 3 * * *", "--config", str(CONFIGS_DIR / "ntrex_sib200_tiny.yaml"),
        "--project", "my-proj", "--region", "europe-west4", "--template", "gs://bucket/t/mbert.json",
        "--pipeline-root", "gs://bucket/root", "--service-account", "runner@my-proj.iam.gserviceaccount.com",
        "--param", "learning_rate=0.001", "--param", "note=nightly", "--dry-run"])
    assert result.exit_code == 0, result.output
    request = json.loads(result.output)
    assert request["parent"] == "projects/my-proj/locations/europe-west4"
    schedule = request["schedule"]
    assert (schedule["cron"], schedule["max_concurrent_run_count"]) == ("TZ=Europe/Paris 0 3 * * *", 1)
    assert schedule["display_name"] == "mbert-ntrex-sib200-tiny-schedule"
    create = schedule["create_pipeline_job_request"]
    assert create["parent"] == request["parent"]
    job = create["pipeline_job"]
    assert job["display_name"] == "mbert-ntrex-sib200-tiny"
    assert job["template_uri"] == "gs://bucket/t/mbert.json"
    assert job["service_account"] == "runner@my-proj.iam.gserviceaccount.com"
    assert job["runtime_config"] == {"gcs_output_directory": "gs://bucket/root",
                                     "parameter_values": {"learning_rate": 0.001, "note": "nightly"}}
    # Vertex AI's own request types accept every field (unknown names would raise).
    message = aiplatform_v1.CreateScheduleRequest(parent=request["parent"], schedule=schedule)
    assert message.schedule.create_pipeline_job_request.pipeline_job.runtime_config.gcs_output_directory \
        == "gs://bucket/root"
    assert message.schedule.max_concurrent_run_count == 1


def test_a_local_template_is_uploaded_then_the_schedule_sent(tmp_path):
    template = tmp_path / "pipeline.json"
    template.write_text("{}")
    fake = FakeVertex()
    request = _schedule(tmp_path, {"template": str(template),
                                   "upload_to": "https://europe-west4-kfp.pkg.dev/my-proj/pipelines"},
                        client=fake)
    assert fake.uploads == [(str(template), "https://europe-west4-kfp.pkg.dev/my-proj/pipelines")]
    assert fake.requests == [request]
    assert request["schedule"]["create_pipeline_job_request"]["pipeline_job"]["template_uri"] == \
        "https://europe-west4-kfp.pkg.dev/my-proj/pipelines/mbert-pipeline/sha256:abc"


@pytest.mark.parametrize("override, message", [
    ({"cron": "0 3 * *"}, "5 fields"),
    ({"cron": "0 25 * * *"}, "0-23"),
    ({"cron": "every day"}, "5 fields"),
    ({"region": "Europe West"}, "--region"),
    ({"project": "My_Project"}, "--project"),
    ({"project": None}, "--project"),
    ({"pipeline_root": "/tmp/root"}, "gs://"),
    ({"service_account": "not-an-account"}, "--service-account"),
    ({"template": "/local/pipeline.json"}, "--upload-to"),
    ({"params": ("no-equals-sign",)}, "--param"),
])
def test_bad_values_are_refused_before_any_request(tmp_path, override, message):
    import click

    fake = FakeVertex()
    with pytest.raises(click.ClickException, match=message):
        _schedule(tmp_path, override, client=fake)
    assert fake.uploads == [] and fake.requests == []
