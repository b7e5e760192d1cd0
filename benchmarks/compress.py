"""`mbert bench compress`: teacher vs distilled student vs int8 student, by language, size, latency.

1. Runs the pipeline with `configs/compress.yaml` in a child process (`mbert run`): the teacher is
   fine-tuned, the compression stage distils and quantises it, evaluates the result against the
   teacher by language and pushes it only if its gate holds.
2. In this process, with only TensorFlow + tensorflow-text loaded for the models (as a model
   server would have), measures the three SavedModels on SIB-200 `test`: accuracy and macro-F1
   per language, size on disk, and p50/p99 latency of single-sentence `predict_text` calls in
   alternating rounds (components/compression/latency.py, the harness of `predict-latency`).
Prints one JSON line and writes it, indented, to --results.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import time

import click
import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "configs" / "compress.yaml"
TARGETS = {"student_p50_ratio_max": 0.5, "int8_size_ratio_max": 0.3,
           "mean_drop_points_max": 2.0, "worst_drop_points_max": 5.0}


def model_dirs(db: str, pipeline_name: str) -> dict[str, pathlib.Path]:
    """The three SavedModels of the newest run, from ML Metadata."""
    from components.compression.compress import STUDENT_DIR
    from pipeline import metadata

    def uri(component: str, key: str) -> pathlib.Path:
        found = metadata.latest_output_uri(db, pipeline_name, component, key)
        if found is None:
            raise RuntimeError(f"{db}: no {component} {key} output; did the pipeline run?")
        return pathlib.Path(found)

    return {"teacher": uri("finetuning_trainer", "model") / "Format-Serving",
            "student": uri("compression", "model_run") / STUDENT_DIR,
            "student_int8": uri("compression", "model") / "Format-Serving"}


def accuracy_by_language(predict, split) -> dict[str, dict[str, float]]:
    """Accuracy and macro-F1 (%) per language of `predict_text` on a labelled split."""
    import tensorflow as tf
    from sklearn.metrics import f1_score

    texts = split.text.tolist()
    predicted = np.concatenate([
        predict(text=tf.constant(texts[i:i + 256]))["label"].numpy() for i in range(0, len(texts), 256)])
    predicted = np.array([p.decode("utf-8") for p in predicted], dtype=object)
    result = {}
    for tag in sorted(set(split.language)):
        rows = split.language == tag
        result[tag] = {
            "accuracy": round(100.0 * float((predicted[rows] == split.label[rows]).mean()), 2),
            "macro_f1": round(100.0 * float(f1_score(split.label[rows], predicted[rows],
                                                     average="macro")), 2)}
    return result


def drops(teacher: dict, other: dict) -> dict[str, float]:
    """Accuracy points lost per language against the teacher (negative = gained)."""
    return {tag: round(teacher[tag]["accuracy"] - other[tag]["accuracy"], 2) for tag in teacher}


def verdict(results: dict) -> dict:
    """The issue's targets, each true or false."""
    teacher = results["teacher"]
    out = {}
    for name in ("student", "student_int8"):
        lost = list(drops(teacher["accuracy_by_language"], results[name]["accuracy_by_language"]).values())
        out[name] = {"mean_drop_points": round(float(np.mean(lost)), 2),
                     "worst_drop_points": round(float(np.max(lost)), 2),
                     "p50_ratio": round(results[name]["p50_ms"] / teacher["p50_ms"], 3),
                     "size_ratio": round(results[name]["size_bytes"] / teacher["size_bytes"], 3)}
    out["targets"] = TARGETS
    out["met"] = {
        "student_p50_ratio": out["student"]["p50_ratio"] <= TARGETS["student_p50_ratio_max"],
        "int8_size_ratio": out["student_int8"]["size_ratio"] <= TARGETS["int8_size_ratio_max"],
        "mean_drop": out["student_int8"]["mean_drop_points"] <= TARGETS["mean_drop_points_max"],
        "worst_drop": out["student_int8"]["worst_drop_points"] <= TARGETS["worst_drop_points_max"],
    }
    return out


def matmul_kernels(model_dir: pathlib.Path) -> dict[str, int]:
    """Counts of the matrix-multiply and gather kernels in predict_text's graph, by dtypes: what
    TF Serving runs for the model (e.g. `BatchMatMulV3 Ta=int8 Tb=int8 Tout=int32`)."""
    import tensorflow as tf
    from tensorflow.core.framework import types_pb2

    graph = tf.saved_model.load(str(model_dir)).signatures["predict_text"].graph.as_graph_def()
    counts: dict[str, int] = {}
    nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
    for node in nodes:
        if node.op not in ("BatchMatMulV2", "BatchMatMulV3", "MatMul", "Einsum", "GatherV2"):
            continue
        dtypes = " ".join(f"{key}={types_pb2.DataType.Name(node.attr[key].type)[3:].lower()}"
                          for key in ("T", "Ta", "Tb", "Tout", "Tparams") if key in node.attr)
        counts[f"{node.op} {dtypes}"] = counts.get(f"{node.op} {dtypes}", 0) + 1
    return dict(sorted(counts.items()))


def measure(dirs: dict[str, pathlib.Path], test_uri: str, calls: int) -> dict:
    from components.compression import latency
    from components.compression.compress import folder_bytes
    from components.finetuning import data

    split = data.read_split([f"{test_uri}/*"])
    predicts = {name: latency.load_predict_text(str(path)) for name, path in dirs.items()}
    timings = latency.compare(predicts, iterations=calls)
    results = {}
    for name, path in dirs.items():
        results[name] = {"path": str(path), "size_bytes": folder_bytes(path),
                         **timings[name], "kernels": matmul_kernels(path),
                         "accuracy_by_language": accuracy_by_language(predicts[name], split)}
        by_language = results[name]["accuracy_by_language"]
        results[name]["mean_accuracy"] = round(float(np.mean([v["accuracy"] for v in by_language.values()])), 2)
    return results


@click.command(help="Distil + quantise the SIB-200 classifier through the pipeline; compare "
                    "teacher, student and int8 student by language, size and latency (one JSON line).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=pathlib.Path),
              default=DEFAULT_CONFIG, show_default=True)
@click.option("--output", type=click.Path(file_okay=False, path_type=pathlib.Path),
              default=REPO / "outputs" / "bench-compress", show_default=True,
              help="The pipeline's output folder (a re-run reuses its cached steps).")
@click.option("--results", "results_path", type=click.Path(dir_okay=False, path_type=pathlib.Path),
              default=REPO / "benchmarks" / "results" / "compress.json", show_default=True)
@click.option("--calls", default=300, show_default=True, type=click.IntRange(min=20),
              help="Timed single-sentence calls per model.")
@click.option("--skip-run", is_flag=True, help="Measure the models of the last run only.")
def compress(config_path, output, results_path, calls, skip_run):
    from pipeline import metadata
    from pipeline.config import load_config

    config = load_config(config_path)
    if config.compression is None:
        raise click.UsageError(f"{config_path}: no `compression` section")
    started = time.monotonic()
    if not skip_run:
        subprocess.run([sys.executable, "-m", "pipeline.cli", "run", "--config", str(config_path),
                        "--output", str(output)], check=True, cwd=REPO)
    run_s = time.monotonic() - started
    db = str(output.resolve() / "metadata.sqlite")
    dirs = model_dirs(db, config.pipeline_name)
    labelled = metadata.latest_output_uri(db, config.pipeline_name, "labelled_ingestion", "examples")
    split = "test" if (pathlib.Path(labelled) / "Split-test").is_dir() else "eval"
    results = measure(dirs, f"{labelled}/Split-{split}", calls)
    gate = metadata.latest_output(db, config.pipeline_name, "compression_gate", "blessing")
    pushed = metadata.latest_output(db, config.pipeline_name, "compression_pusher", "pushed_model")
    summary_path = dirs["student"].parent / "distillation_summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    results.update({
        "verdict": verdict(results),
        "split": split, "config": str(config_path),
        "gate": metadata.custom_properties(gate) if gate is not None else None,
        "pushed": metadata.custom_properties(pushed) if pushed is not None else None,
        "distillation": {key: summary[key] for key in ("student_encoder", "copied_from_teacher",
                                                       "teacher_eval_accuracy", "kept_step", "history")},
        "pipeline_wall_s": round(run_s, 1),
        "threads": __import__("os").cpu_count(),
    })
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    click.echo(json.dumps(results))
