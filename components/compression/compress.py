"""The compression stage as plain functions: distil, quantise, export; and the push decision.

`compress` writes the float student (`<run_dir>/student/`) and the model to serve (`model_dir`):
the student with int8 weights when `quantize == "int8"`, else the float student again.

Post-training quantisation is Keras 3's `Model.quantize("int8")`: the weights of every Dense and
EinsumDense layer (attention projections, feed-forward, pooler, head) and of the word-piece and
segment embeddings become int8 with a float scale per output channel; inputs of those layers
are quantised per call ("dynamic range"). The exported graph then multiplies int8 by int8 into
int32 (TensorFlow's BatchMatMulV3 with Ta = Tb = int8, Tout = int32) and gathers int8 embedding
rows, on TF Serving's stock CPU kernels; softmax, layer norms and the attention scores stay
float32. The SavedModel keeps the same raw-text signatures (models/serving.py).
"""

from __future__ import annotations

import json
import pathlib
import shutil
import warnings
from typing import Sequence

from components import settings
from components.compression.config import CompressionConfig
from components.compression.distillation import SUMMARY_FILE, distil
from models.serving import LABELS_FILE, ServingModule

STUDENT_DIR = "student"


def folder_bytes(path: str | pathlib.Path) -> int:
    """Bytes of every file under path (a SavedModel's size on disk)."""
    return sum(f.stat().st_size for f in pathlib.Path(path).rglob("*") if f.is_file())


def compress(teacher_dir: str, train_files: Sequence[str], eval_files: Sequence[str],
             model_dir: str, run_dir: str, params: CompressionConfig,
             unlabelled_files: Sequence[str] = ()) -> dict:
    """Distils, exports the float student, quantises and exports the model to serve.

    Returns the distillation summary with `size_bytes` of teacher, student and served model
    (also written to `<run_dir>/distillation_summary.json`).
    """
    settings.check(params, "compression")
    quantize = params.quantize
    student, module, summary = distil(teacher_dir, train_files, eval_files, run_dir, params,
                                      unlabelled_files)
    float_dir = pathlib.Path(run_dir) / STUDENT_DIR
    module.save(float_dir)
    if quantize == "int8":
        with warnings.catch_warnings():
            # Keras names every layer without weights to quantise (softmax, dropout, ...).
            warnings.filterwarnings("ignore", message=".*does not have a `quantize` method")
            student.quantize("int8")
        assets = pathlib.Path(teacher_dir) / "assets"
        ServingModule(student, assets, assets / LABELS_FILE, module.seq_len,
                      max_batch=module.max_batch).save(model_dir)
    else:
        shutil.copytree(float_dir, model_dir, dirs_exist_ok=True)
    summary["quantize"] = quantize
    summary["size_bytes"] = {"teacher": folder_bytes(teacher_dir), "student": folder_bytes(float_dir),
                             "served": folder_bytes(model_dir)}
    (pathlib.Path(run_dir) / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, default=str),
                                                      encoding="utf-8")
    return summary


def push_decision(teacher_blessed: bool, student_blessed: bool, latency: dict,
                  max_latency_ratio: float) -> tuple[bool, list[str]]:
    """Whether the compressed model may be pushed, and why not.

    Args:
      teacher_blessed: the Evaluator blessed the teacher (only a served-quality model is
        compressed for serving).
      student_blessed: the Evaluator blessed the compressed model against the teacher (no
        language dropped more than compression.max_language_drop).
      latency: `latency.compare` output with keys "teacher" and "compressed".
      max_latency_ratio: the compressed model's p50 must be below this share of the teacher's.
    """
    reasons = []
    if not teacher_blessed:
        reasons.append("the teacher is not blessed")
    if not student_blessed:
        reasons.append("the compressed model lost more than compression.max_language_drop "
                       "in a language (or overall) against the teacher")
    teacher_ms, compressed_ms = latency["teacher"]["p50_ms"], latency["compressed"]["p50_ms"]
    if not compressed_ms < max_latency_ratio * teacher_ms:
        reasons.append(f"p50 latency {compressed_ms:.2f} ms is not below {max_latency_ratio:g} x "
                       f"the teacher's {teacher_ms:.2f} ms")
    return not reasons, reasons
