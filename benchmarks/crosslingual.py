"""`mbert bench crosslingual`: the M-BERT zero-shot question, answered by the pipeline itself.

Three fine-tuning settings side by side, each with several seeds:

  pretrained_en   the pretrained encoder, fine-tuned on English only (zero-shot to the rest)
  random_init_en  the same architecture with fresh weights, fine-tuned on English only
  pretrained_all  the pretrained encoder, fine-tuned on every language's train rows

Every run is the whole TFX pipeline under the LocalDagRunner (`pipeline.local_runner.run_pipeline`)
on ONE output folder / ONE ML Metadata store; only the `finetuning` section of the config changes
between runs, so TFX caching serves ingestion, vocabulary, pretraining examples and the pretrained
encoder to every run after the first: pretraining happens once. Each run's Evaluator output
(SIB-200 `test`, sliced by language) is read back through ML Metadata and `build_report`.

Writes `<results-dir>/crosslingual.{json,md,png}` and prints one JSON line.
"""

from __future__ import annotations

import copy
import json
import math
import os
import pathlib
import statistics
import time
from typing import Any, Callable, Iterable, Optional

import click
import yaml

from components.evaluation.report import draw_legend, draw_percent_grid

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO_ROOT / "configs" / "crosslingual.yaml"
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"
DEFAULT_RESULTS = REPO_ROOT / "benchmarks" / "results"

SETTINGS = ("pretrained_en", "random_init_en", "pretrained_all")
ENGLISH = "en"
BENCHMARK_KEY = "crosslingual"
# The published M-BERT XNLI zero-shot accuracy (fine-tune English, test each language): a
# different task (3-way NLI, base model, Wikipedia pretraining), printed for context only.
XNLI_ZERO_SHOT = {"en": 81.4, "es": 74.3, "de": 70.5, "zh-Hans": 63.8, "ar": 62.1, "ur": 58.3}


class BenchmarkError(click.ClickException):
    """A benchmark input problem; the message names the option, file or key."""


def finetuning_overrides(setting: str, seed: int) -> dict[str, Any]:
    """The `finetuning` keys one (setting, seed) run changes; everything else stays as configured.

    Raises:
      ValueError: for an unknown setting name.
    """
    if setting == "pretrained_en":
        return {"train_languages": [ENGLISH], "random_init": False, "seed": seed}
    if setting == "random_init_en":
        return {"train_languages": [ENGLISH], "random_init": True, "seed": seed}
    if setting == "pretrained_all":
        return {"train_languages": ["all"], "random_init": False, "seed": seed}
    raise ValueError(f"unknown setting {setting!r}; known settings: {', '.join(SETTINGS)}")


def run_config(base: dict[str, Any], setting: str, seed: int, ntrex: pathlib.Path,
               sib200: pathlib.Path) -> dict[str, Any]:
    """The pipeline config (a YAML-ready dict) of one run.

    Inputs, evaluation and push are pinned by the benchmark: SIB-200 `test` split, a gate that
    never blocks (every run is pushed, so each candidate's metrics are recorded the same way), a
    serving folder inside the output folder.
    """
    config = copy.deepcopy(base)
    # The benchmark's own section: per-setting finetuning keys (e.g. fewer epochs for
    # pretrained_all, whose epoch is 16x longer); the pipeline never sees it.
    by_setting = (config.pop(BENCHMARK_KEY, None) or {}).get("finetuning_by_setting") or {}
    config["pretraining_corpus"] = {**config.get("pretraining_corpus", {}),
                                    "format": "ntrex", "inputs": [str(ntrex)]}
    config["labelled_data"] = {**config.get("labelled_data", {}),
                               "format": "sib200", "inputs": [str(sib200)]}
    config["evaluation"] = {"splits": ["test"], "min_accuracy": 0.0, "max_language_drop": 1.0}
    config["push"] = {**config.get("push", {}), "serving_dir": "serving"}
    config.setdefault("push", {}).setdefault("model_name", "crosslingual")
    config["finetuning"] = {**config.get("finetuning", {}), **(by_setting.get(setting) or {}),
                            **finetuning_overrides(setting, seed)}
    return config


def check_benchmark_section(base: dict[str, Any], config_path: os.PathLike | str) -> None:
    """Rejects unknown keys / settings in the config's `crosslingual` section, naming them."""
    section = base.get(BENCHMARK_KEY) or {}
    if not isinstance(section, dict):
        raise BenchmarkError(f"{config_path}: {BENCHMARK_KEY}: expected a mapping")
    for key in section:
        if key != "finetuning_by_setting":
            raise BenchmarkError(f"{config_path}: unknown key {BENCHMARK_KEY}.{key} "
                                 f"(known keys: finetuning_by_setting)")
    for name in section.get("finetuning_by_setting") or {}:
        if name not in SETTINGS:
            raise BenchmarkError(f"{config_path}: {BENCHMARK_KEY}.finetuning_by_setting.{name}: "
                                 f"unknown setting (known: {', '.join(SETTINGS)})")


def _codes_by_tag(paths: Iterable[pathlib.Path], code_of) -> dict[str, pathlib.Path]:
    from components.ingestion.languages import normalize_language

    found = {}
    for path in paths:
        tag = normalize_language(code_of(path))
        if tag is not None:
            found[tag] = path
    return found


def ntrex_files(ntrex: pathlib.Path) -> dict[str, pathlib.Path]:
    """{tag: file} of an NTREX-128 folder (`newstest2019-{src,ref}.<code>.txt`)."""
    return _codes_by_tag(sorted(ntrex.glob("newstest2019-*.txt")), lambda p: p.name.split(".")[1])


def sib200_folders(sib200: pathlib.Path) -> dict[str, pathlib.Path]:
    """{tag: folder} of a SIB-200 folder (`<flores code>/{train,dev,test}.tsv`)."""
    return _codes_by_tag(sorted(p for p in sib200.iterdir() if (p / "test.tsv").exists()),
                         lambda p: p.name)


def resolve_languages(requested: Optional[list[str]], ntrex: pathlib.Path,
                      sib200: pathlib.Path) -> list[str]:
    """The language tags to run: the requested ones, or every language both data sets have.

    Raises:
      BenchmarkError: naming the code that is unknown or missing from a data folder, or when
        English (the zero-shot source language) is not among them.
    """
    from components.ingestion.languages import normalize_language

    for folder, option in ((ntrex, "--ntrex"), (sib200, "--sib200")):
        if not folder.is_dir():
            raise BenchmarkError(f"{option}: no such folder: {folder}")
    in_ntrex, in_sib = ntrex_files(ntrex), sib200_folders(sib200)
    if not requested:
        tags = sorted(set(in_ntrex) & set(in_sib))
    else:
        tags = []
        for code in requested:
            tag = normalize_language(code)
            if tag is None:
                raise BenchmarkError(f"--languages: unknown language code {code!r}")
            if tag not in in_ntrex:
                raise BenchmarkError(f"--languages: {code!r} ({tag}) has no NTREX file in {ntrex}")
            if tag not in in_sib:
                raise BenchmarkError(f"--languages: {code!r} ({tag}) has no SIB-200 folder in {sib200}")
            if tag not in tags:
                tags.append(tag)
    if ENGLISH not in tags:
        raise BenchmarkError("--languages: English (en) must be included: it is the fine-tuning "
                             "language of the zero-shot settings")
    return tags


def link_subset(ntrex: pathlib.Path, sib200: pathlib.Path, tags: list[str],
                target: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """NTREX and SIB-200 folders holding only `tags`, made of symlinks (nothing is copied)."""
    files, folders = ntrex_files(ntrex), sib200_folders(sib200)
    ntrex_out, sib_out = target / "ntrex", target / "sib200"
    for folder in (ntrex_out, sib_out):
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
    for name in ("DOCUMENT_IDS.tsv",):
        if (ntrex / name).exists():
            (ntrex_out / name).symlink_to((ntrex / name).resolve())
    (sib_out / "labels.txt").symlink_to((sib200 / "labels.txt").resolve())
    for tag in tags:
        (ntrex_out / files[tag].name).symlink_to(files[tag].resolve())
        (sib_out / folders[tag].name).symlink_to(folders[tag].resolve(), target_is_directory=True)
    return ntrex_out, sib_out


def non_english_mean(languages: dict[str, dict[str, list[float]]], metric: str = "accuracy") -> list[float]:
    """Per seed, the mean of `metric` over every language but English."""
    others = [tag for tag in languages if tag != ENGLISH]
    if not others:
        return []
    seeds = len(languages[others[0]][metric])
    return [statistics.fmean(languages[tag][metric][i] for tag in others) for i in range(seeds)]


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    """The one-line summary: non-English means per setting and the target's verdict.

    `pretrained_en_beats_random_init_en` (accuracy, the issue's target) is True only when every
    pretrained_en seed's non-English mean is above every random_init_en seed's (None when either
    is missing); `..._macro_f1` is the same test on macro-F1, which a constant (majority-class)
    classifier cannot win the way it can win accuracy on SIB-200's unbalanced test split.
    """
    settings = results["settings"]
    summary: dict[str, Any] = {}
    for metric, suffix in (("accuracy", ""), ("macro_f1", "_macro_f1")):
        per_seed = {name: non_english_mean(entry["languages"], metric)
                    for name, entry in settings.items()}
        summary[f"non_english_mean_{metric}"] = {
            name: (round(statistics.fmean(values), 4) if values else None)
            for name, values in per_seed.items()}
        summary[f"non_english_mean_{metric}_per_seed"] = {
            name: [round(v, 4) for v in values] for name, values in per_seed.items()}
        pre, rnd = per_seed.get("pretrained_en"), per_seed.get("random_init_en")
        summary[f"pretrained_en_beats_random_init_en{suffix}"] = (
            min(pre) > max(rnd) if pre and rnd else None)
    return summary


def _percent_range(values: list[float]) -> str:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return "n/a"
    mean = 100 * statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.1f}"
    return f"{mean:.1f} ({100 * min(values):.1f}–{100 * max(values):.1f})"


def format_table(results: dict[str, Any], metric: str = "accuracy") -> str:
    """Markdown: one row per language (+ the non-English mean), one column per setting,
    `mean (min–max)` over seeds in percent, and the MLM accuracy column when known."""
    settings = list(results["settings"])
    tags = sorted({tag for entry in results["settings"].values() for tag in entry["languages"]},
                  key=lambda t: (t != ENGLISH, t))
    mlm = results.get("mlm_accuracy") or {}
    header = ["language"] + settings + (["MLM acc. (pretraining)"] if mlm else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for tag in tags:
        cells = [tag] + [_percent_range(results["settings"][s]["languages"].get(tag, {}).get(metric, []))
                         for s in settings]
        if mlm:
            cells.append("n/a" if mlm.get(tag) is None else f"{100 * mlm[tag]:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    cells = ["**non-English mean**"] + [
        _percent_range(non_english_mean(results["settings"][s]["languages"], metric)) for s in settings]
    if mlm:
        others = [v for t, v in mlm.items() if t != ENGLISH and v is not None]
        cells.append(f"{100 * statistics.fmean(others):.1f}" if others else "n/a")
    lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


_COLOURS = {"pretrained_en": (52, 101, 164), "random_init_en": (170, 170, 170),
            "pretrained_all": (78, 154, 6)}


def draw_chart(results: dict[str, Any], path: str | os.PathLike, metric: str = "accuracy") -> pathlib.Path:
    """A PNG grouped bar chart: per language, one bar per setting (mean over seeds) with a
    min–max whisker."""
    from PIL import Image, ImageDraw, ImageFont

    settings = list(results["settings"])
    tags = sorted({tag for entry in results["settings"].values() for tag in entry["languages"]},
                  key=lambda t: (t != ENGLISH, t))
    bar, gap = 12, 14
    group = bar * len(settings) + gap
    left, top, bottom, height = 56, 40, 80, 320
    width = max(left + 20 + group * max(1, len(tags)), left + 140 * len(settings) + 20)
    image = Image.new("RGB", (width, top + height + bottom), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=12)
    draw.text((left, 10), f"SIB-200 test {metric} by language (mean over seeds, whisker = min-max)",
              fill="black", font=font)
    draw_percent_grid(draw, left, top, height, width, font)
    for i, tag in enumerate(tags):
        x0 = left + 10 + i * group
        for j, setting in enumerate(settings):
            values = [v for v in results["settings"][setting]["languages"].get(tag, {}).get(metric, [])
                      if v is not None]
            if not values:
                continue
            x = x0 + j * bar
            mean = statistics.fmean(values)
            draw.rectangle([x, top + height - height * mean, x + bar - 2, top + height],
                           fill=_COLOURS.get(setting, (200, 120, 40)))
            middle = x + (bar - 2) / 2
            draw.line([(middle, top + height - height * max(values)),
                       (middle, top + height - height * min(values))], fill="black")
        draw.text((x0, top + height + 6), tag, fill="black", font=font)
    draw_legend(draw, [(setting, _COLOURS.get(setting, (200, 120, 40))) for setting in settings],
                left, top + height + 40, 140, font)
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return path


def read_mlm_accuracy(metadata_path: str, pipeline_name: str) -> dict[str, Any]:
    """Masked-LM figures of the pretraining Trainer's held-out eval (its `train_result.json`)."""
    from pipeline import metadata

    found: dict[str, Any] = {}
    for key in ("model_run", "model"):
        uri = metadata.latest_output_uri(metadata_path, pipeline_name, "pretraining_trainer", key)
        if not uri:
            continue
        for path in sorted(pathlib.Path(uri).rglob("train_result.json")):
            result = json.loads(path.read_text())
            return {"by_language": result["eval_metrics"].get("mlm_accuracy_by_language", {}),
                    "overall": result["eval_metrics"].get("mlm_accuracy"),
                    "nsp_accuracy": result["eval_metrics"].get("nsp_accuracy"),
                    "eval_examples": result["eval_metrics"].get("examples"),
                    "train_steps": result.get("final_step"),
                    "pretraining_seconds": result.get("seconds"),
                    "source": str(path)}
    return found


def run_benchmark(base_config: dict[str, Any], ntrex: pathlib.Path, sib200: pathlib.Path,
                  tags: list[str], seeds: int, output: pathlib.Path,
                  settings: Iterable[str] = SETTINGS, log=click.echo,
                  after_run: Optional[Callable[[dict[str, Any]], None]] = None) -> dict[str, Any]:
    """Runs every (setting, seed) through the pipeline on one output folder.

    Seed-major order (seed 0 of every setting, then seed 1, ...), so that a run cut short still
    holds every setting. `after_run(results)` is called after each run (partial results on disk).

    Returns:
      {"settings": {setting: {"languages": {tag: {"accuracy": [per seed], "macro_f1": [...]}},
      "seeds": [...]}}, "runs": [...], "mlm_accuracy": {tag: acc}, "mlm": {...}, "timings": {...}}
    """
    from components.evaluation.report import build_report
    from pipeline import metadata
    from pipeline.local_runner import run_pipeline

    output = output.resolve()
    output.mkdir(parents=True, exist_ok=True)
    if sorted(tags) != sorted(set(ntrex_files(ntrex)) & set(sib200_folders(sib200))):
        ntrex, sib200 = link_subset(ntrex, sib200, tags, output / "data")
    pipeline_name = base_config.get("pipeline_name", "mbert-crosslingual")
    db = str(output / "metadata.sqlite")
    results: dict[str, Any] = {"settings": {}, "runs": []}
    started = time.monotonic()
    settings = list(settings)
    for setting in settings:
        results["settings"][setting] = {"languages": {}, "seeds": []}
    for seed in range(seeds):
        for setting in settings:
            entry = results["settings"][setting]
            config = run_config(base_config, setting, seed, ntrex, sib200)
            config_path = output / "configs" / f"{setting}_seed{seed}.yaml"
            config_path.parent.mkdir(parents=True, exist_ok=True)
            config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
            log(f"[crosslingual] {setting} seed {seed}: running the pipeline ...")
            run_started = time.monotonic()
            run_pipeline(config_path, output)
            seconds = time.monotonic() - run_started
            evaluation = metadata.latest_output_uri(db, pipeline_name, "evaluator", "evaluation")
            if evaluation is None:
                raise RuntimeError(f"{db}: no evaluator output after {setting} seed {seed}")
            report = build_report(evaluation)
            states = {cid: metadata.execution_states(db, pipeline_name, cid)[-1]
                      for cid in ("pretraining_trainer", "finetuning_trainer", "evaluator")}
            for tag in tags:
                row = report["languages"].get(tag)
                if row is None:
                    raise RuntimeError(f"{evaluation}: no '{tag}' slice in the evaluation")
                metrics = entry["languages"].setdefault(tag, {"accuracy": [], "macro_f1": []})
                metrics["accuracy"].append(row["accuracy"])
                metrics["macro_f1"].append(row["macro_f1"])
            entry["seeds"].append(seed)
            results["runs"].append({"setting": setting, "seed": seed, "wall_s": round(seconds, 1),
                                    "states": states, "evaluation": evaluation,
                                    "overall_accuracy": report["overall"].get("accuracy")})
            log(f"[crosslingual] {setting} seed {seed}: {seconds:.0f} s, overall accuracy "
                f"{report['overall'].get('accuracy')}, states {states}")
            _finish(results, db, pipeline_name, tags, started)
            if after_run is not None:
                after_run(results)
    return results


def _finish(results: dict[str, Any], db: str, pipeline_name: str, tags: list[str],
            started: float) -> None:
    """Adds the MLM figures and timings to results (after every run: partial results are whole)."""
    mlm = read_mlm_accuracy(db, pipeline_name)
    results["mlm_accuracy"] = {tag: mlm.get("by_language", {}).get(tag) for tag in tags} if mlm else {}
    results["mlm"] = mlm
    results["timings"] = {
        "total_s": round(time.monotonic() - started, 1),
        "pretraining_s": mlm.get("pretraining_seconds"),
        "runs_s": {f"{r['setting']}/seed{r['seed']}": r["wall_s"] for r in results["runs"]},
    }


def write_results(results: dict[str, Any], results_dir: pathlib.Path) -> dict[str, pathlib.Path]:
    """crosslingual.json / .md / .png under results_dir."""
    results_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": results_dir / "crosslingual.json", "md": results_dir / "crosslingual.md",
             "png": results_dir / "crosslingual.png"}
    paths["json"].write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    seeds = max((len(e.get("seeds", [])) for e in results["settings"].values()), default=0)
    summary = summarise(results)
    text = [
        "# Cross-lingual transfer on SIB-200 (topic classification, 7 classes)",
        "",
        f"Accuracy on each language's SIB-200 `test` split, %, mean over {seeds} seed(s) "
        "(min–max). Fine-tuning languages: `*_en` = English train rows only (zero-shot to the "
        "others), `pretrained_all` = every language's train rows. MLM accuracy: the pretraining "
        "Trainer's masked-LM accuracy on held-out NTREX documents (the ingestion's eval split).",
        "",
        format_table(results, "accuracy"),
        "Macro-F1, %:",
        "",
        format_table({**results, "mlm_accuracy": {}}, "macro_f1"),
        "pretrained_en above random_init_en on the non-English mean, for every pair of seeds: "
        f"accuracy **{summary['pretrained_en_beats_random_init_en']}**, "
        f"macro-F1 **{summary['pretrained_en_beats_random_init_en_macro_f1']}**",
        "",
    ]
    paths["md"].write_text("\n".join(text), encoding="utf-8")
    draw_chart(results, paths["png"])
    return paths


@click.command(help="Pretrain on NTREX once, fine-tune 3 settings x seeds on SIB-200, evaluate "
                    "every language's test split through the pipeline; one JSON line.")
@click.option("--languages", default=None,
              help="Comma-separated language codes (en,de,zh-Hans or eng,deu,zho_Hans) "
                   "[every language in both data folders].")
@click.option("--ntrex", type=click.Path(file_okay=False, path_type=pathlib.Path),
              default=DEFAULT_DATA / "ntrex", show_default=True)
@click.option("--sib200", type=click.Path(file_okay=False, path_type=pathlib.Path),
              default=DEFAULT_DATA / "sib200", show_default=True)
@click.option("--seeds", default=3, show_default=True, type=click.IntRange(min=1))
@click.option("--settings", "settings", default=",".join(SETTINGS), show_default=True,
              help="Comma-separated subset of the settings to run.")
@click.option("--output", type=click.Path(file_okay=False, path_type=pathlib.Path),
              default=REPO_ROOT / "outputs" / "crosslingual", show_default=True,
              help="Pipeline output folder (artifacts, ML Metadata, serving).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=pathlib.Path),
              default=DEFAULT_CONFIG, show_default=True)
@click.option("--results-dir", type=click.Path(file_okay=False, path_type=pathlib.Path),
              default=DEFAULT_RESULTS, show_default=True)
@click.option("--verbose", is_flag=True, help="Show TensorFlow, TFX and Beam logs.")
def crosslingual(languages, ntrex, sib200, seeds, settings, output, config_path, results_dir,
                 verbose) -> None:
    from pipeline.config import ConfigError, config_from_dict
    from pipeline.local_runner import quiet_logs

    quiet_logs(verbose)
    try:
        base = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    except OSError as e:
        raise BenchmarkError(f"--config: cannot read {config_path}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise BenchmarkError(f"--config: {config_path}: invalid YAML: {e}") from e
    chosen = [s.strip() for s in settings.split(",") if s.strip()]
    for name in chosen:
        if name not in SETTINGS:
            raise BenchmarkError(f"--settings: unknown setting {name!r}; known: {', '.join(SETTINGS)}")
    tags = resolve_languages([c.strip() for c in languages.split(",") if c.strip()] if languages else None,
                             ntrex, sib200)
    check_benchmark_section(base, config_path)
    try:  # Fail on a bad key now, not after the first hour of pretraining.
        for name in chosen:
            config_from_dict(run_config(base, name, 0, ntrex, sib200))
    except ConfigError as e:
        raise BenchmarkError(f"{config_path}: {e}") from e
    run_settings = {"config_file": str(config_path), "pipeline": base, "languages": tags,
                    "seeds": seeds, "settings": chosen, "ntrex": str(ntrex), "sib200": str(sib200),
                    "output": str(output.resolve()),
                    "evaluation": {"split": "test", "min_accuracy": 0.0, "max_language_drop": 1.0}}

    def save(partial: dict[str, Any]) -> None:
        partial["config"] = run_settings
        write_results(partial, results_dir)

    results = run_benchmark(base, ntrex, sib200, tags, seeds, output, chosen, after_run=save)
    summary = summarise(results)
    click.echo(json.dumps({"benchmark": "crosslingual", "languages": len(tags), "seeds": seeds,
                           **summary, "mlm_accuracy_overall": results["mlm"].get("overall"),
                           "wall_s": results["timings"]["total_s"],
                           "pretraining_s": results["timings"]["pretraining_s"],
                           "results": str(results_dir / "crosslingual.json")}))
