"""`mbert compile` and `mbert schedule`: the same create_pipeline for Vertex AI Pipelines / Kubeflow."""

from __future__ import annotations

import json
import pathlib
import re

import click

from pipeline.config import ConfigError, PipelineConfig, load_config

DEFAULT_IMAGE = "gcr.io/YOUR_PROJECT/mbert-pipeline:latest"


def _trainer_resources(config: PipelineConfig):
    from kfp.pipeline_spec import pipeline_spec_pb2 as pipeline_pb2

    spec = pipeline_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec(
        cpu_limit=config.vertex.trainer_cpu_limit,
        memory_limit=config.vertex.trainer_memory_gib,
    )
    if config.vertex.trainer_accelerator_type:
        if config.vertex.trainer_accelerator_count < 1:
            raise ConfigError("vertex.trainer_accelerator_count: must be >= 1 when "
                              "vertex.trainer_accelerator_type is set")
        spec.accelerator.type = config.vertex.trainer_accelerator_type
        spec.accelerator.count = config.vertex.trainer_accelerator_count
    return spec


def compile_pipeline(config: PipelineConfig, output: str, image: str | None = None,
                     pipeline_root: str | None = None) -> str:
    """Writes the KubeflowV2 (Vertex AI Pipelines) job spec for config; returns its path."""
    from tfx import v1 as tfx

    from pipeline.pipeline import PipelinePaths, create_pipeline

    root = pipeline_root or config.vertex.pipeline_root
    if not root:
        raise ConfigError("vertex.pipeline_root: needed to compile (or pass --pipeline-root gs://...)")
    paths = PipelinePaths(pipeline_root=root, metadata_path=None,
                          serving_dir=f"{root.rstrip('/')}/serving")
    pipeline = create_pipeline(config, paths, beam_pipeline_args=config.vertex.beam_pipeline_args,
                               trainer_resources=_trainer_resources(config))
    output_path = pathlib.Path(output)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image=image or config.vertex.image or DEFAULT_IMAGE),
        output_dir=str(output_path.parent), output_filename=output_path.name)
    runner.run(pipeline, write_out=True)
    return str(output_path)


_PROJECT = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
_REGION = re.compile(r"[a-z]+-[a-z]+[0-9]+")
_SERVICE_ACCOUNT = re.compile(r"[^@\s]+@[a-z0-9.-]+\.[a-z]+")
# Artifact Registry's KFP repositories: https://REGION-kfp.pkg.dev/PROJECT/REPOSITORY[/...].
_ARTIFACT_REGISTRY = re.compile(r"https://[a-z0-9-]+-kfp\.pkg\.dev/[a-z0-9-]+/[a-z0-9-]+(/.*)?")
# Cron fields: minute, hour, day of month, month, day of week (names like MON, JAN allowed).
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_CRON_FIELD = re.compile(r"[0-9A-Za-z*/,?-]+")


def check_cron(cron: str) -> None:
    """Raises ConfigError unless cron is a 5-field cron, optionally after TZ=... / CRON_TZ=...."""
    fields = cron.split()
    if fields and re.fullmatch(r"(CRON_)?TZ=\S+", fields[0]):
        fields = fields[1:]
    if len(fields) != 5:
        raise ConfigError(f"--cron: {cron!r} needs 5 fields (minute hour day month weekday), got {len(fields)}")
    for field, (low, high) in zip(fields, _CRON_RANGES):
        numbers = [int(n) for n in re.findall(r"\d+", field.split("/")[0])]
        if not _CRON_FIELD.fullmatch(field) or any(not low <= n <= high for n in numbers):
            raise ConfigError(f"--cron: field {field!r} of {cron!r} is not a cron field in {low}-{high}")


def _check(value: str, pattern: re.Pattern, option: str, example: str) -> None:
    if not pattern.fullmatch(value or ""):
        raise ConfigError(f"{option}: {value!r} is not valid (e.g. {example})")


def is_template_uri(uri: str) -> bool:
    """Whether Vertex can read a template there: gs:// or an Artifact Registry KFP repository."""
    return uri.startswith("gs://") or bool(_ARTIFACT_REGISTRY.fullmatch(uri))


def schedule_request(config: PipelineConfig, template_uri: str, cron: str, project: str, region: str,
                     pipeline_root: str | None = None, service_account: str | None = None,
                     parameter_values: dict | None = None) -> dict:
    """The Vertex AI CreateSchedule request that `mbert schedule` sends (and prints with --dry-run).

    Fields as in Vertex AI's Schedule resource (aiplatform v1): every run creates a PipelineJob
    from the template with the pipeline root, service account and parameter values given here.

    Raises:
      ConfigError: a bad cron, project, region, template URI, pipeline root or service account.
    """
    check_cron(cron)
    _check(project, _PROJECT, "--project", "my-project")
    _check(region, _REGION, "--region", "europe-west4")
    if not is_template_uri(template_uri):
        raise ConfigError(f"template {template_uri!r}: Vertex reads templates from gs:// or "
                          "https://REGION-kfp.pkg.dev/PROJECT/REPOSITORY/...; pass --upload-to")
    root = pipeline_root or config.vertex.pipeline_root
    if not (root or "").startswith("gs://"):
        raise ConfigError(f"vertex.pipeline_root: needs a gs:// pipeline root, got {root!r} "
                          "(or pass --pipeline-root gs://...)")
    account = service_account or config.vertex.service_account
    if account:
        _check(account, _SERVICE_ACCOUNT, "--service-account", "runner@my-project.iam.gserviceaccount.com")
    parent = f"projects/{project}/locations/{region}"
    pipeline_job = {
        "display_name": config.pipeline_name,
        "template_uri": template_uri,
        "runtime_config": {"gcs_output_directory": root, "parameter_values": dict(parameter_values or {})},
    }
    if account:
        pipeline_job["service_account"] = account
    return {
        "parent": parent,
        "schedule": {
            "display_name": f"{config.pipeline_name}-schedule",
            "cron": cron,
            # A run that outlasts the interval delays the next: two runs never ingest the same span.
            "max_concurrent_run_count": 1,
            "create_pipeline_job_request": {"parent": parent, "pipeline_job": pipeline_job},
        },
    }


class VertexClient:
    """The two remote calls of `mbert schedule`, apart so that tests pass a fake."""

    def __init__(self, region: str):
        self._region = region

    def upload_template(self, path: str, destination: str) -> str:
        """Copies a compiled template to a gs:// folder or an Artifact Registry repository.

        Returns:
          The template URI for the schedule request.
        """
        if destination.startswith("gs://"):
            import tensorflow as tf

            uri = f"{destination.rstrip('/')}/{pathlib.Path(path).name}"
            tf.io.gfile.copy(path, uri, overwrite=True)
            return uri
        from kfp.registry import RegistryClient

        package, version = RegistryClient(host=destination.rstrip("/")).upload_pipeline(
            file_name=path, tags=["latest"])
        return f"{destination.rstrip('/')}/{package}/{version}"

    def create_schedule(self, request: dict) -> str:
        """Sends the request; returns the schedule's resource name."""
        from google.cloud import aiplatform_v1

        client = aiplatform_v1.ScheduleServiceClient(
            client_options={"api_endpoint": f"{self._region}-aiplatform.googleapis.com"})
        return client.create_schedule(parent=request["parent"], schedule=request["schedule"]).name


def _parameter_values(params: tuple[str, ...]) -> dict:
    """`name=value` pairs; values that parse as JSON (numbers, true, lists) keep their type."""
    values = {}
    for item in params:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--param: {item!r} is not name=value")
        try:
            values[name] = json.loads(value)
        except json.JSONDecodeError:
            values[name] = value
    return values


@click.command("compile")
@click.option("--target", type=click.Choice(["vertex", "kubeflow"]), default="vertex", show_default=True)
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option("--output", required=True, help="Where the pipeline JSON goes (pipeline.json).")
@click.option("--image", default=None, help="Container image with this package installed.")
@click.option("--pipeline-root", default=None, help="gs://bucket/path for artifacts.")
def compile_command(target, config_path, output, image, pipeline_root):
    """Compile the pipeline for Vertex AI Pipelines or Kubeflow Pipelines v2."""
    from pipeline.local_runner import quiet_logs

    quiet_logs(verbose=False)
    # A ConfigError reaches the `mbert` group: one line per problem, exit 2.
    path = compile_pipeline(load_config(config_path), output, image, pipeline_root)
    click.echo(f"{target} pipeline written to {path}")


@click.command("schedule")
@click.option("--cron", required=True, help='Cron expression, e.g. "0 3 * * *" or "TZ=Europe/Paris 0 3 * * *".')
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option("--project", default=None, help="Google Cloud project [vertex.project].")
@click.option("--region", default=None, help="Vertex AI region [vertex.region].")
@click.option("--template", default=None,
              help="Compiled pipeline: a local JSON (uploaded to --upload-to) or a gs:// / "
                   "Artifact Registry URI (used as is). Compiled now when omitted.")
@click.option("--upload-to", default=None,
              help="gs://bucket/folder or https://REGION-kfp.pkg.dev/PROJECT/REPOSITORY for the template.")
@click.option("--image", default=None, help="Container image when compiling now [vertex.image].")
@click.option("--pipeline-root", default=None, help="gs:// pipeline root of every run [vertex.pipeline_root].")
@click.option("--service-account", default=None, help="Service account the runs use [vertex.service_account].")
@click.option("--param", "params", multiple=True, help="Pipeline parameter name=value (repeatable).")
@click.option("--dry-run", is_flag=True, help="Print the request; upload and send nothing.")
def schedule_command(cron, config_path, project, region, template, upload_to, image, pipeline_root,
                     service_account, params, dry_run):
    """Create a Vertex AI pipeline schedule: every run ingests the newest span."""
    run_schedule(cron, config_path, project, region, template, upload_to, image, pipeline_root,
                 service_account, params, dry_run)


def run_schedule(cron, config_path, project, region, template, upload_to, image, pipeline_root,
                 service_account, params, dry_run, client: VertexClient | None = None) -> dict:
    """`mbert schedule` with an injectable client; returns the request."""
    import tempfile

    from pipeline.local_runner import quiet_logs

    quiet_logs(verbose=False)
    try:
        config = load_config(config_path)
        upload = template is None or not is_template_uri(template)
        if upload:
            if not is_template_uri(upload_to or ""):
                raise ConfigError(f"--upload-to: a local or freshly compiled template goes to gs://... or "
                                  f"https://REGION-kfp.pkg.dev/PROJECT/REPOSITORY, got {upload_to!r}")
            # Where the upload will put it, so that the whole request is checked before it happens.
            base = upload_to.rstrip("/")
            template_uri = (f"{base}/{config.pipeline_name}.json" if base.startswith("gs://")
                            else f"{base}/{config.pipeline_name}/latest")
        else:
            template_uri = template
        request = schedule_request(config, template_uri, cron, project or config.vertex.project or "",
                                   region or config.vertex.region, pipeline_root, service_account,
                                   _parameter_values(params))
        if dry_run:
            click.echo(json.dumps(request, indent=2))
            return request
        client = client or VertexClient(request["parent"].split("/")[-1])
        pipeline_job = request["schedule"]["create_pipeline_job_request"]["pipeline_job"]
        if upload:
            local = template or compile_pipeline(
                config, str(pathlib.Path(tempfile.mkdtemp()) / f"{config.pipeline_name}.json"), image,
                pipeline_job["runtime_config"]["gcs_output_directory"])
            pipeline_job["template_uri"] = client.upload_template(local, upload_to)
    except ConfigError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"created schedule {client.create_schedule(request)}")
    return request
