"""`mbert report`: per-language accuracy of the latest evaluation, as JSON, Markdown and PNG.

Reads the newest Evaluator output under a pipeline output folder (TFMA `load_eval_result`), the
candidate's metrics and, when the Evaluator compared against a blessed baseline, the baseline's,
and writes `reports/eval_by_language.{json,md,png}`:

  {"evaluation": <folder>, "blessed": true|false|null,
   "overall": {"accuracy", "macro_f1", "count"},
   "languages": {tag: {"accuracy", "macro_f1", "count"}},
   "labels": {label: {"recall", "count"}},
   "failures": ["<slice>: <metric> <reason>", ...],
   "baseline": {"overall": {...}, "languages": {...}}   # only when there is a baseline}
"""

from __future__ import annotations

import json
import math
import os
import pathlib
from typing import Any

import click

from components.evaluation.eval_config import ACCURACY, MACRO_F1

_COUNT = "example_count"
_EVAL_CONFIG = "eval_config.json"


def find_latest_evaluation(pipeline_output_dir: str | os.PathLike) -> pathlib.Path:
    """The newest TFMA output folder (`.../evaluation/<execution id>/`) under the given folder.

    Newest = highest execution id (ML Metadata numbers executions in order), then modification
    time. Raises FileNotFoundError naming the folder when there is none.
    """
    root = pathlib.Path(pipeline_output_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    candidates = [p.parent for p in root.rglob(_EVAL_CONFIG)
                  if any(p.parent.glob("metrics*"))]
    if not candidates:
        raise FileNotFoundError(
            f"{root}: no Evaluator output (a folder with {_EVAL_CONFIG} and metrics files)")

    def order(path: pathlib.Path):
        return (int(path.name) if path.name.isdigit() else -1, path.stat().st_mtime)

    return max(candidates, key=order)


def _value(metrics: dict, name: str) -> float | None:
    entry = metrics.get(name)
    if not entry:
        return None
    value = entry.get("doubleValue")
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _summaries(result) -> dict[str, Any]:
    overall, languages, labels = {}, {}, {}
    for slice_key, outputs in result.slicing_metrics:
        metrics = outputs.get("", {}).get("", {})
        row = {"accuracy": _value(metrics, ACCURACY), "macro_f1": _value(metrics, MACRO_F1),
               "count": int(_value(metrics, _COUNT) or 0)}
        if not slice_key:
            overall = row
        elif len(slice_key) == 1:
            column, value = slice_key[0]
            value = value.decode("utf-8") if isinstance(value, bytes) else str(value)
            if column == "language":
                languages[value] = row
            elif column == "label":
                labels[value] = {"recall": row["accuracy"], "count": row["count"]}
    return {"overall": overall, "languages": dict(sorted(languages.items())),
            "labels": dict(sorted(labels.items()))}


def _load(path: pathlib.Path, model_name: str | None):
    import tensorflow_model_analysis as tfma

    try:
        result = tfma.load_eval_result(str(path), model_name=model_name)
    except Exception:  # TFMA raises assorted errors for a model name it has no metrics for
        return None
    # A single-model evaluation names its model "": asking for "candidate" gives no slices.
    return result if result.slicing_metrics else None


def _slice_name(slice_key) -> str:
    parts = [f"{key.column}={key.bytes_value.decode('utf-8', 'replace') or key.int64_value or key.float_value}"
             for key in slice_key.single_slice_keys]
    return ",".join(parts) or "overall"


def _describe(failure) -> str:
    """'accuracy 0.219 < minimum 0.500' or 'accuracy change -0.688 < allowed -0.050'."""
    name = failure.metric_key.name
    value = failure.metric_value.double_value.value
    threshold = failure.metric_threshold
    if failure.metric_key.is_diff and threshold.HasField("change_threshold"):
        bound = threshold.change_threshold.absolute.value
        return f"{name} change {value:+.3f} vs baseline < allowed {bound:+.3f}"
    if threshold.HasField("value_threshold"):
        return f"{name} {value:.3f} < minimum {threshold.value_threshold.lower_bound.value:.3f}"
    return f"{name} {value:.3f} failed {failure.message or 'its threshold'}"


def build_report(evaluation_dir: str | os.PathLike) -> dict[str, Any]:
    """The report dict (module docstring) for one TFMA output folder."""
    import tensorflow_model_analysis as tfma

    path = pathlib.Path(evaluation_dir)
    candidate = _load(path, "candidate")
    baseline = _load(path, "baseline") if candidate is not None else None
    if candidate is None:
        candidate = _load(path, None)
    if candidate is None:
        raise FileNotFoundError(f"{path}: TFMA could not load an evaluation result from it")
    report: dict[str, Any] = {"evaluation": str(path), "blessed": None, "failures": []}
    report.update(_summaries(candidate))
    if baseline is not None:
        base = _summaries(baseline)
        report["baseline"] = {"overall": base["overall"], "languages": base["languages"]}
    if any(path.glob("validations*")):
        validation = tfma.load_validation_result(str(path))
        report["blessed"] = bool(validation.validation_ok)
        for per_slice in validation.metric_validations_per_slice:
            for failure in per_slice.failures:
                report["failures"].append(
                    f"{_slice_name(per_slice.slice_key)}: {_describe(failure)}")
    return report


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def format_language_table(result: dict[str, Any]) -> str:
    """A Markdown table of accuracy / macro-F1 by language (+ baseline and change when present)."""
    baseline = result.get("baseline", {}).get("languages", {})
    base_overall = result.get("baseline", {}).get("overall", {})
    header = ["language", "examples", "accuracy %", "macro-F1 %"]
    if baseline or base_overall:
        header += ["baseline accuracy %", "change (points)"]
    rows = [("overall", result["overall"], base_overall)] + [
        (tag, row, baseline.get(tag, {})) for tag, row in result["languages"].items()]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for name, row, base in rows:
        cells = [name, str(row.get("count", 0)), _percent(row.get("accuracy")),
                 _percent(row.get("macro_f1"))]
        if len(header) > 4:
            acc, base_acc = row.get("accuracy"), base.get("accuracy")
            change = ("n/a" if acc is None or base_acc is None
                      else f"{100 * (acc - base_acc):+.1f}")
            cells += [_percent(base_acc), change]
        lines.append("| " + " | ".join(cells) + " |")
    if result.get("blessed") is not None:
        lines.append("")
        lines.append("Blessed: " + ("yes" if result["blessed"] else "NO"))
        lines += [f"- {failure}" for failure in result.get("failures", [])[:20]]
    return "\n".join(lines) + "\n"


def draw_percent_grid(draw, left: int, top: int, height: int, width: int, font) -> None:
    """Grid lines and labels every 20 % of a bar chart whose 0-100 % axis spans `height`."""
    for tick in range(0, 101, 20):
        y = top + height - height * tick / 100
        draw.line([(left - 4, y), (width - 10, y)], fill=(225, 225, 225))
        draw.text((8, y - 7), f"{tick}%", fill="black", font=font)


def draw_legend(draw, entries, left: int, y: int, step: int, font) -> None:
    """One coloured square and name per (name, colour) entry, `step` pixels apart on one row."""
    for j, (name, colour) in enumerate(entries):
        x = left + step * j
        draw.rectangle([x, y, x + 12, y + 12], fill=colour)
        draw.text((x + 18, y - 1), name, fill="black", font=font)


def draw_accuracy_chart(result: dict[str, Any], path: str | os.PathLike) -> pathlib.Path:
    """A PNG bar chart of accuracy by language; the baseline's bar beside the candidate's."""
    from PIL import Image, ImageDraw, ImageFont

    languages = list(result["languages"])
    baseline = result.get("baseline", {}).get("languages", {})
    series = [("candidate", (52, 101, 164))]
    if baseline:
        series.insert(0, ("baseline", (170, 170, 170)))
    font = ImageFont.load_default(size=12)
    # Wide enough for the longest tag (zh-Hant, hi-Latn) under its bars.
    label_width = max((font.getlength(tag) for tag in languages), default=0)
    group = int(max(18 * len(series) + 14, label_width + 10))
    left, top, bottom, height = 56, 40, 70, 300
    width = max(left + 20 + group * max(1, len(languages)), left + 250)
    image = Image.new("RGB", (width, top + height + bottom), "white")
    draw = ImageDraw.Draw(image)
    draw.text((left, 10), "Accuracy by language", fill="black", font=font)
    draw_percent_grid(draw, left, top, height, width, font)
    for i, tag in enumerate(languages):
        x0 = left + 10 + i * group
        for j, (name, colour) in enumerate(series):
            source = baseline if name == "baseline" else result["languages"]
            accuracy = source.get(tag, {}).get("accuracy")
            if accuracy is None:
                continue
            x = x0 + j * 18
            draw.rectangle([x, top + height - height * accuracy, x + 14, top + height], fill=colour)
        draw.text((x0, top + height + 6), tag, fill="black", font=font)
    draw_legend(draw, series, left, top + height + 36, 110, font)
    path = pathlib.Path(path)
    image.save(path, format="PNG")
    return path


def write_report(pipeline_output_dir: str | os.PathLike,
                 output_dir: str | os.PathLike = "reports") -> dict[str, Any]:
    """Writes eval_by_language.{json,md,png} into output_dir; returns the report dict."""
    report = build_report(find_latest_evaluation(pipeline_output_dir))
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "eval_by_language.json").write_text(
        json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (output_dir / "eval_by_language.md").write_text(format_language_table(report), encoding="utf-8")
    draw_accuracy_chart(report, output_dir / "eval_by_language.png")
    return report


@click.command(help="Write reports/eval_by_language.{json,md,png} from the latest Evaluator "
                    "output under PIPELINE_OUTPUT_DIR.")
@click.argument("pipeline_output_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--output-dir", default="reports", show_default=True, type=click.Path(file_okay=False))
def report(pipeline_output_dir: str, output_dir: str) -> None:
    try:
        result = write_report(pipeline_output_dir, output_dir)
    except FileNotFoundError as error:
        raise click.ClickException(str(error)) from None
    click.echo(format_language_table(result), nl=False)
    click.echo(f"wrote {output_dir}/eval_by_language.json, .md and .png")
