# The image that Vertex AI Pipelines / Kubeflow run for every step of the pipeline
# (`mbert compile --image ...`). It carries the pinned TFX stack and this package; TFX's
# container entrypoint imports components and Trainer module files from it by module path.
FROM python:3.10-slim

ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 TF_CPP_MIN_LOG_LEVEL=2
WORKDIR /pipeline

COPY setup.py constraints.txt ./
COPY pipeline ./pipeline
COPY components ./components
COPY models ./models
COPY benchmarks ./benchmarks
COPY configs ./configs

RUN pip install --upgrade "pip<25" setuptools wheel \
 && pip install -c constraints.txt .

# The TFX container launcher is the entrypoint Kubeflow V2 / Vertex calls.
ENTRYPOINT ["python", "-m", "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"]
