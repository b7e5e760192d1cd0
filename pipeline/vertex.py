"""`mbert compile` and `mbert schedule`: the same create_pipeline for Vertex AI Pipelines / Kubeflow."""

from __future__ import annotations

import json
import pathlib

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


def schedule_request(config: PipelineConfig, template_path: str, cron: str, project: str,
                     region: str) -> dict:
    """The Vertex AI schedule request that `mbert schedule` sends (and prints with --dry-run)."""
    return {
        "parent": f"projects/{project}/locations/{region}",
        "schedule": {
            "display_name": f"{config.pipeline_name}-schedule",
            "cron": cron,
            "max_concurrent_run_count": 1,
            "create_pipeline_job_request": {
                "parent": f"projects/{project}/locations/{region}",
                "pipeline_job": {
                    "display_name": config.pipeline_name,
                    "template_uri": template_path,
                    "runtime_config": {"gcs_output_directory": config.vertex.pipeline_root},
                },
            },
        },
    }


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
@click.option("--cron", required=True, help='Cron expression, e.g. "0 3 * * *".')
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option("--project", required=True)
@click.option("--region", required=True)
@click.option("--template", default=None, help="Compiled pipeline JSON (compiled now when omitted).")
@click.option("--dry-run", is_flag=True, help="Print the request instead of sending it.")
def schedule_command(cron, config_path, project, region, template, dry_run):
    """Create a Vertex AI pipeline schedule (runs the pipeline on a cron)."""
    import tempfile

    from pipeline.local_runner import quiet_logs

    quiet_logs(verbose=False)
    config = load_config(config_path)
    if template is None:
        template = compile_pipeline(config, str(pathlib.Path(tempfile.mkdtemp()) / "pipeline.json"))
    request = schedule_request(config, template, cron, project, region)
    if dry_run:
        click.echo(json.dumps(request, indent=2))
        return
    from google.cloud import aiplatform

    aiplatform.init(project=project, location=region)
    job = aiplatform.PipelineJob(
        display_name=config.pipeline_name, template_path=template,
        pipeline_root=config.vertex.pipeline_root)
    schedule = job.create_schedule(
        display_name=request["schedule"]["display_name"], cron=cron, max_concurrent_run_count=1)
    click.echo(f"created schedule {schedule.resource_name}")
