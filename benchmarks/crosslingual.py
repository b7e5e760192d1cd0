"""`mbert bench crosslingual`: the M-BERT zero-shot question, answered by the pipeline itself.

Six settings side by side, each with several seeds (SIB-200 topic classification, every
language's `test` split):

  pretrained_en      the pretrained encoder (M-BERT recipe), fine-tuned on English only
                     (zero-shot to the rest)
  pretrained_tlm_en  the same with translation pairs (XLM's TLM) mixed into pretraining
  pretrained_aligned_en  the M-BERT recipe plus an alignment loss on the aligned sentences of
                     the pretraining corpus (their bags of word-piece embeddings pulled
                     together), fine-tuned on English with the embeddings frozen
  random_init_en     the same architecture with fresh weights, fine-tuned on English only
  pretrained_all     the pretrained encoder, fine-tuned on every language's train rows
  bow_en / bow_all   TF-IDF character 1-4-grams + logistic regression (scikit-learn) on the
                     English / all languages' train rows: the baseline a user would try first

The neural settings are whole TFX pipeline runs under the LocalDagRunner
(`pipeline.local_runner.run_pipeline`) on ONE output folder / ONE ML Metadata store: TFX
caching serves ingestion, vocabulary, pretraining examples and each of the two pretrained
encoders to every later run, so each pretraining happens once. The pretraining corpus is
NTREX-128 plus SIB-200's train/dev sentences without labels (never test text: the benchmark
refuses a corpus holding a SIB-200 test sentence). A time budget sizes the pretraining steps
(timed on the configured model before anything runs). Each run's Evaluator output is read back
through ML Metadata and `build_report`.

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

PIPELINE_SETTINGS = ("pretrained_en", "pretrained_tlm_en", "pretrained_aligned_en",
                     "random_init_en", "pretrained_all")
# Settings whose encoder is pretrained (each its own pretraining run, sharing the time budget).
PRETRAINED_ENCODERS = ("pretrained_en", "pretrained_tlm_en", "pretrained_aligned_en")
BOW_SETTINGS = ("bow_en", "bow_all")
SETTINGS = PIPELINE_SETTINGS + BOW_SETTINGS
# Keys of the config's `crosslingual:` section (the pipeline never sees it).
SECTION_KEYS = ("finetuning_by_setting", "translation_fraction", "pretrain_on_sib200_text",
                "pretraining_share", "alignment_weight")
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
      ValueError: for an unknown (or non-pipeline) setting name.
    """
    if setting in ("pretrained_en", "pretrained_tlm_en", "pretrained_aligned_en"):
        return {"train_languages": [ENGLISH], "random_init": False, "seed": seed}
    if setting == "random_init_en":
        return {"train_languages": [ENGLISH], "random_init": True, "seed": seed}
    if setting == "pretrained_all":
        return {"train_languages": ["all"], "random_init": False, "seed": seed}
    raise ValueError(f"unknown setting {setting!r}; pipeline settings: {', '.join(PIPELINE_SETTINGS)}")


def run_config(base: dict[str, Any], setting: str, seed: int, ntrex: pathlib.Path,
               sib200: pathlib.Path, pretrain_steps: Optional[int] = None) -> dict[str, Any]:
    """The pipeline config (a YAML-ready dict) of one run.

    Inputs, evaluation and push are pinned by the benchmark: NTREX-128 (+ SIB-200 train/dev
    text when `crosslingual.pretrain_on_sib200_text`) for pretraining, SIB-200 `test` for
    evaluation, a gate that never blocks (every run is pushed, so each candidate's metrics are
    recorded the same way), a serving folder inside the output folder. Only the tlm setting
    mixes in translation pairs (`crosslingual.translation_fraction`); only the aligned setting
    writes the aligned sentences and trains with the alignment loss
    (`crosslingual.alignment_weight`).
    """
    config = copy.deepcopy(base)
    section = config.pop(BENCHMARK_KEY, None) or {}
    by_setting = section.get("finetuning_by_setting") or {}
    config["pretraining_corpus"] = {**config.get("pretraining_corpus", {}),
                                    "format": "ntrex", "inputs": [str(ntrex)]}
    if section.get("pretrain_on_sib200_text"):
        config["extra_pretraining_corpus"] = {"format": "sib200", "inputs": [str(sib200)]}
    config["labelled_data"] = {**config.get("labelled_data", {}),
                               "format": "sib200", "inputs": [str(sib200)]}
    fraction = section.get("translation_fraction", 0.0) if setting == "pretrained_tlm_en" else 0.0
    aligned = setting == "pretrained_aligned_en"
    config["pretraining_examples"] = {**config.get("pretraining_examples", {}),
                                      "translation_fraction": fraction,
                                      "parallel_sentences": aligned}
    config["pretraining"] = {**config.get("pretraining", {}),
                             "alignment_weight": section.get("alignment_weight", 1.0) if aligned else 0.0}
    if pretrain_steps:
        # Warm-up stays a tenth of the steps when the budget re-sizes them.
        config["pretraining"] = {**config.get("pretraining", {}), "train_steps": pretrain_steps,
                                 "warmup_steps": pretrain_steps // 10}
    config["evaluation"] = {"splits": ["test"], "min_accuracy": 0.0, "max_language_drop": 1.0}
    config["push"] = {**config.get("push", {}), "serving_dir": "serving"}
    config.setdefault("push", {}).setdefault("model_name", "crosslingual")
    config["finetuning"] = {**config.get("finetuning", {}), **(by_setting.get(setting) or {}),
                            **finetuning_overrides(setting, seed)}
    return config


def objective(config: dict[str, Any], setting: str) -> str:
    """What the setting's encoder learned from: `MLM`, `MLM+NSP`, `MLM+TLM`, ... or the baseline."""
    if setting in BOW_SETTINGS:
        return "TF-IDF char 1-4 + logistic regression"
    if setting == "random_init_en":
        return "none (random init)"
    parts = ["MLM"]
    if (config.get("pretraining") or {}).get("next_sentence_prediction", True):
        parts.append("NSP")
    if (config.get("pretraining_examples") or {}).get("translation_fraction", 0.0) > 0:
        parts.append("TLM")
    if (config.get("pretraining") or {}).get("alignment_weight", 0.0) > 0:
        parts.append("alignment")
    return "+".join(parts)


def check_benchmark_section(base: dict[str, Any], config_path: os.PathLike | str) -> None:
    """Rejects unknown keys / settings in the config's `crosslingual` section, naming them."""
    section = base.get(BENCHMARK_KEY) or {}
    if not isinstance(section, dict):
        raise BenchmarkError(f"{config_path}: {BENCHMARK_KEY}: expected a mapping")
    for key in section:
        if key not in SECTION_KEYS:
            raise BenchmarkError(f"{config_path}: unknown key {BENCHMARK_KEY}.{key} "
                                 f"(known keys: {', '.join(SECTION_KEYS)})")
    for name in section.get("finetuning_by_setting") or {}:
        if name not in PIPELINE_SETTINGS:
            raise BenchmarkError(f"{config_path}: {BENCHMARK_KEY}.finetuning_by_setting.{name}: "
                                 f"unknown setting (known: {', '.join(PIPELINE_SETTINGS)})")
    fraction = section.get("translation_fraction", 0.0)
    if not isinstance(fraction, (int, float)) or isinstance(fraction, bool) or not 0 < fraction < 1:
        if "translation_fraction" in section:
            raise BenchmarkError(f"{config_path}: {BENCHMARK_KEY}.translation_fraction: expected "
                                 f"a number in (0, 1), got {fraction!r}")
    share = section.get("pretraining_share", 0.2)
    most = 1 / len(PRETRAINED_ENCODERS)
    if not isinstance(share, (int, float)) or isinstance(share, bool) or not 0 < share < most:
        raise BenchmarkError(f"{config_path}: {BENCHMARK_KEY}.pretraining_share: expected a "
                             f"number in (0, {most:.3f}) ({len(PRETRAINED_ENCODERS)} pretrainings "
                             f"share the budget), got {share!r}")
    weight = section.get("alignment_weight", 1.0)
    if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not 0 < weight <= 100:
        raise BenchmarkError(f"{config_path}: {BENCHMARK_KEY}.alignment_weight: expected a "
                             f"number in (0, 100], got {weight!r}")


def _sib_rows(folder: pathlib.Path, split: str) -> list[tuple[str, str, int]]:
    """(text, category, line number) of one SIB-200 file."""
    import csv

    path = folder / f"{split}.tsv"
    with path.open(encoding="utf-8", newline="") as f:
        return [(row["text"], row["category"], n)
                for n, row in enumerate(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE), 2)]


def check_no_test_text(config: dict[str, Any], sib200: pathlib.Path) -> int:
    """Refuses a pretraining corpus holding a SIB-200 test sentence (any language).

    Reads the configured pretraining corpora with the ingestion's readers and split rule, as
    the pipeline will: only what lands in train/eval is pretrained on (SIB-200's own test rows
    land in `test` and are never read).

    Returns:
      The number of pretraining sentences checked.

    Raises:
      BenchmarkError: naming the file and line of the first test sentence found.
    """
    from components.ingestion import readers, records

    test = {}
    for tag, folder in sib200_folders(sib200).items():
        for text, _, line in _sib_rows(folder, "test"):
            test.setdefault(text.strip(), f"{folder / 'test.tsv'}:{line}")
    checked = 0
    for key in ("pretraining_corpus", "extra_pretraining_corpus"):
        corpus = config.get(key)
        if not corpus:
            continue
        for task in readers.plan_tasks(corpus["format"], list(corpus["inputs"])):
            for record in readers.read_task(task):
                if record.text is None or record.error:
                    continue
                split = records.canonical_split(record.split) or records.split_for_doc(
                    record.doc_id or f"{record.source}:{record.line}")
                if split == "test":
                    continue
                checked += 1
                where = test.get(record.text.strip())
                if where:
                    raise BenchmarkError(
                        f"{key}: {record.source}:{record.line} is a SIB-200 test sentence "
                        f"({where}); pretraining on it would leak the evaluation")
    return checked


def bow_results(sib200: pathlib.Path, tags: list[str], setting: str,
                seeds: int) -> dict[str, Any]:
    """The TF-IDF + logistic-regression baseline, in the layout of a pipeline setting.

    Character 1-4-grams within word boundaries (sublinear tf, min_df 2), logistic regression
    (C=10, lbfgs): trained on English (`bow_en`) or every language's (`bow_all`) train rows,
    scored on each language's test rows. lbfgs is deterministic, so every seed gives the same
    figures; they are repeated per seed to keep the layout of the other settings.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    folders = sib200_folders(sib200)
    train_tags = [ENGLISH] if setting == "bow_en" else tags
    train = [row for tag in train_tags for row in _sib_rows(folders[tag], "train")]
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True,
                                 min_df=2)
    features = vectorizer.fit_transform([text for text, _, _ in train])
    classifier = LogisticRegression(C=10.0, max_iter=2000)
    classifier.fit(features, [label for _, label, _ in train])
    languages = {}
    for tag in tags:
        test = _sib_rows(folders[tag], "test")
        truth = [label for _, label, _ in test]
        predicted = classifier.predict(vectorizer.transform([text for text, _, _ in test]))
        languages[tag] = {"accuracy": [float(accuracy_score(truth, predicted))] * seeds,
                          "macro_f1": [float(f1_score(truth, predicted, average="macro"))] * seeds}
    return {"languages": languages, "seeds": list(range(seeds)),
            "objective": objective({}, setting)}


def pretraining_steps_for(config: dict[str, Any], minutes: float, probe_steps: int = 12) -> int:
    """Pretraining steps that fit `minutes` here, timed on the configured model and batch.

    Synthetic batches of the configured shape through the Trainer's own compiled step (the
    input pipeline costs ~3 ms a batch next to ~300 ms a step, measured), median of the probe.
    """
    import numpy as np
    import tensorflow as tf

    from components.pretraining.schedule import make_optimizer
    from components.pretraining.steps import make_train_step
    from models.encoder import build_encoder
    from models.encoder_config import EncoderConfig
    from models.pretraining_model import PretrainingModel
    from pipeline.config import config_from_dict

    parsed = config_from_dict(config)
    pt, seq = parsed.pretraining, parsed.pretraining_examples.max_seq_length
    encoder = build_encoder(EncoderConfig.preset(pt.preset, parsed.vocabulary.vocab_size,
                                                 **pt.encoder))
    model = PretrainingModel(encoder)
    model.build()
    optimizer = make_optimizer(pt.learning_rate, 10, 1000)
    step = make_train_step(model, optimizer, tf.distribute.get_strategy(),
                           next_sentence_prediction=pt.next_sentence_prediction)
    rng = np.random.RandomState(0)
    batch, predictions = pt.batch_size, pt.max_predictions
    inputs = {
        "token_ids": tf.constant(rng.randint(5, parsed.vocabulary.vocab_size, (batch, seq)), tf.int32),
        "segment_ids": tf.zeros((batch, seq), tf.int32),
        "padding_mask": tf.ones((batch, seq), tf.bool),
        "position_ids": tf.tile(tf.range(seq)[tf.newaxis], [batch, 1]),
        "mask_positions": tf.constant(np.sort(rng.choice(seq, (batch, predictions))), tf.int32),
        "mask_ids": tf.constant(rng.randint(5, 100, (batch, predictions)), tf.int32),
        "mask_weights": tf.ones((batch, predictions)),
        "next_sentence_label": tf.zeros((batch,), tf.int32)}
    for _ in range(3):  # tracing and first-call costs
        float(step(inputs)["loss"])
    times = []
    for _ in range(probe_steps):
        started = time.perf_counter()
        float(step(inputs)["loss"])
        times.append(time.perf_counter() - started)
    return max(1, int(minutes * 60 / statistics.median(times)))


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


def _every_seed_above(results: dict[str, Any], better: list[str], worse: str,
                      metric: str) -> Optional[bool]:
    """True when, for the best of `better` (by mean), every seed's non-English mean is above
    every seed's of `worse`; None when a setting is missing."""
    settings = results["settings"]
    if worse not in settings or not any(name in settings for name in better):
        return None
    per_seed = {name: non_english_mean(settings[name]["languages"], metric)
                for name in better + [worse] if name in settings}
    if not all(per_seed.values()):
        return None
    best = max((name for name in better if name in per_seed),
               key=lambda name: statistics.fmean(per_seed[name]))
    return min(per_seed[best]) > max(per_seed[worse])


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    """The one-line summary: non-English means per setting and the issue's verdicts.

    Targets (non-English mean, every seed): pretrained_en above random_init_en; the better of
    pretrained_en / pretrained_tlm_en above bow_en; English accuracy of pretrained_en >= 0.55.
    The same three for pretrained_aligned_en (the recipe with the alignment loss), reported
    beside them, not instead. Each verdict is also given on macro-F1, which a constant
    (majority-class) classifier cannot win the way it can win accuracy on SIB-200's
    unbalanced test split.
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
        summary[f"pretrained_en_beats_random_init_en{suffix}"] = _every_seed_above(
            results, ["pretrained_en"], "random_init_en", metric)
        summary[f"best_pretrained_en_beats_bow_en{suffix}"] = _every_seed_above(
            results, ["pretrained_en", "pretrained_tlm_en"], "bow_en", metric)
        for worse in ("random_init_en", "bow_en"):
            summary[f"pretrained_aligned_en_beats_{worse}{suffix}"] = _every_seed_above(
                results, ["pretrained_aligned_en"], worse, metric)
    for name in ("pretrained_en", "pretrained_aligned_en"):
        english = settings.get(name, {}).get("languages", {}).get(ENGLISH, {}).get("accuracy")
        summary[f"{name}_english_accuracy"] = round(statistics.fmean(english), 4) if english else None
        summary[f"{name}_english_at_least_0.55"] = min(english) >= 0.55 if english else None
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
    objectives = [results["settings"][s].get("objective", "") for s in settings]
    if any(objectives):
        lines.append("| *objective* | " + " | ".join(f"*{o}*" for o in objectives)
                     + (" | |" if mlm else " |"))
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


_COLOURS = {"pretrained_en": (52, 101, 164), "pretrained_tlm_en": (117, 80, 123),
            "random_init_en": (170, 170, 170), "pretrained_all": (78, 154, 6),
            "bow_en": (237, 212, 0), "bow_all": (245, 121, 0)}


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
    font = ImageFont.load_default(size=12)
    # One legend entry per setting, spaced for the longest name (pretrained_aligned_en).
    legend_step = int(max((font.getlength(name) for name in settings), default=0)) + 30
    width = max(left + 20 + group * max(1, len(tags)), left + legend_step * len(settings) + 20)
    image = Image.new("RGB", (width, top + height + bottom), "white")
    draw = ImageDraw.Draw(image)
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
                left, top + height + 40, legend_step, font)
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return path


def _pretraining_run_dir(metadata_path: str, pipeline_name: str) -> str | None:
    """The model_run folder of the pretraining execution whose encoder the latest fine-tuning
    read (not the newest pretraining output: with two cached encoders that is the other one)."""
    from pipeline import metadata

    base_models = metadata.inputs_by_run(metadata_path, pipeline_name, "finetuning_trainer", "base_model")
    if not base_models or not base_models[-1]:
        return None
    models = metadata.outputs_by_run(metadata_path, pipeline_name, "pretraining_trainer", "model")
    runs = metadata.outputs_by_run(metadata_path, pipeline_name, "pretraining_trainer", "model_run")
    for model_ids, run_ids in zip(models, runs):
        if base_models[-1][0] in model_ids and run_ids:
            [artifact] = metadata._store(metadata_path).get_artifacts_by_id(run_ids[:1])
            return artifact.uri
    return None


def read_mlm_accuracy(metadata_path: str, pipeline_name: str) -> dict[str, Any]:
    """Masked-LM figures of the held-out eval (`train_result.json`) of the pretraining run whose
    encoder the latest fine-tuning started from, cached or new."""
    uri = _pretraining_run_dir(metadata_path, pipeline_name)
    if uri:
        for path in sorted(pathlib.Path(uri).rglob("train_result.json")):
            result = json.loads(path.read_text())
            metrics = result["eval_metrics"]
            return {"by_language": metrics.get("mlm_accuracy_by_language", {}),
                    "overall": metrics.get("mlm_accuracy"),
                    "mlm_loss": metrics.get("mlm_loss"),
                    "nsp_accuracy": metrics.get("nsp_accuracy"),
                    "nsp_majority_accuracy": metrics.get("nsp_majority_accuracy"),
                    "eval_examples": metrics.get("examples"),
                    "train_steps": result.get("final_step"),
                    "pretraining_seconds": result.get("seconds"),
                    "source": str(path)}
    return {}


def run_benchmark(base_config: dict[str, Any], ntrex: pathlib.Path, sib200: pathlib.Path,
                  tags: list[str], seeds: int, output: pathlib.Path,
                  settings: Iterable[str] = SETTINGS, log=click.echo,
                  after_run: Optional[Callable[[dict[str, Any]], None]] = None,
                  pretrain_steps: Optional[int] = None) -> dict[str, Any]:
    """Runs every (setting, seed) on one output folder; the baselines without the pipeline.

    Seed-major order (seed 0 of every setting, then seed 1, ...), so that a run cut short still
    holds every setting. `after_run(results)` is called after each run (partial results on disk).

    Returns:
      {"settings": {setting: {"languages": {tag: {"accuracy": [per seed], "macro_f1": [...]}},
      "seeds": [...], "objective": str}}, "runs": [...], "mlm_accuracy": {tag: acc},
      "mlm": {objective: {...}}, "timings": {...}}
    """
    output = output.resolve()
    output.mkdir(parents=True, exist_ok=True)
    if sorted(tags) != sorted(set(ntrex_files(ntrex)) & set(sib200_folders(sib200))):
        ntrex, sib200 = link_subset(ntrex, sib200, tags, output / "data")
    results: dict[str, Any] = {"settings": {}, "runs": [], "mlm": {}}
    started = time.monotonic()
    settings = list(settings)
    for setting in settings:
        results["settings"][setting] = {"languages": {}, "seeds": []}
    for setting in settings:
        if setting in BOW_SETTINGS:
            run_started = time.monotonic()
            results["settings"][setting] = bow_results(sib200, tags, setting, seeds)
            log(f"[crosslingual] {setting}: {time.monotonic() - run_started:.0f} s")
    for seed in range(seeds):
        for setting in settings:
            if setting in PIPELINE_SETTINGS:
                _pipeline_run(results, base_config, setting, seed, ntrex, sib200, tags, output,
                              pretrain_steps, log)
                _finish(results, started)
                if after_run is not None:
                    after_run(results)
    _finish(results, started)
    return results


def _pipeline_run(results, base_config, setting, seed, ntrex, sib200, tags, output,
                  pretrain_steps, log) -> None:
    """One (setting, seed) through the pipeline; adds its per-language figures to results."""
    from components.evaluation.report import build_report
    from pipeline import metadata
    from pipeline.local_runner import run_pipeline

    pipeline_name = base_config.get("pipeline_name", "mbert-crosslingual")
    db = str(output / "metadata.sqlite")
    entry = results["settings"][setting]
    config = run_config(base_config, setting, seed, ntrex, sib200, pretrain_steps)
    entry["objective"] = objective(config, setting)
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
    if setting != "random_init_en":
        results["mlm"][entry["objective"]] = read_mlm_accuracy(db, pipeline_name)
    results["runs"].append({"setting": setting, "seed": seed, "wall_s": round(seconds, 1),
                            "states": states, "evaluation": evaluation,
                            "overall_accuracy": report["overall"].get("accuracy")})
    log(f"[crosslingual] {setting} seed {seed}: {seconds:.0f} s, overall accuracy "
        f"{report['overall'].get('accuracy')}, states {states}")


def _finish(results: dict[str, Any], started: float) -> None:
    """Adds the MLM figures and timings to results (after every run: partial results are whole).

    `mlm_accuracy` by language is the M-BERT-recipe encoder's (the one pretrained_en and
    pretrained_all fine-tune); every pretrained encoder's figures are under `mlm`.
    """
    plain = next((figures for name, figures in results["mlm"].items() if "TLM" not in name), {})
    results["mlm_accuracy"] = dict(plain.get("by_language", {}))
    results["timings"] = {
        "total_s": round(time.monotonic() - started, 1),
        "pretraining_s": {name: figures.get("pretraining_seconds")
                          for name, figures in results["mlm"].items()},
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
    mlm = "; ".join(f"{name}: {100 * figures['overall']:.1f}% after {figures.get('train_steps')} steps"
                    for name, figures in results.get("mlm", {}).items() if figures.get("overall"))
    text = [
        "# Cross-lingual transfer on SIB-200 (topic classification, 7 classes)",
        "",
        f"Accuracy on each language's SIB-200 `test` split, %, mean over {seeds} seed(s) "
        "(min–max). Fine-tuning languages: `*_en` = English train rows only (zero-shot to the "
        "others), `*_all` = every language's train rows. *objective*: what the encoder was "
        "pretrained with. MLM accuracy: the M-BERT-recipe encoder's masked-LM accuracy on the "
        f"pretraining corpus's held-out split (overall: {mlm or 'n/a'}).",
        "",
        format_table(results, "accuracy"),
        "Macro-F1, %:",
        "",
        format_table({**results, "mlm_accuracy": {}}, "macro_f1"),
        "Targets on the non-English mean, for every pair of seeds:",
        "",
        f"- pretrained_en above random_init_en: accuracy "
        f"**{summary['pretrained_en_beats_random_init_en']}**, macro-F1 "
        f"**{summary['pretrained_en_beats_random_init_en_macro_f1']}**",
        f"- the better of pretrained_en / pretrained_tlm_en above bow_en: accuracy "
        f"**{summary['best_pretrained_en_beats_bow_en']}**, macro-F1 "
        f"**{summary['best_pretrained_en_beats_bow_en_macro_f1']}**",
        f"- English accuracy of pretrained_en >= 55% in every seed: "
        f"**{summary['pretrained_en_english_at_least_0.55']}** "
        f"(mean {summary['pretrained_en_english_accuracy']})",
        "",
        "The same targets for pretrained_aligned_en (the M-BERT recipe plus the alignment loss on "
        "the corpus's aligned sentences, fine-tuned with the embeddings frozen):",
        "",
        f"- above random_init_en: accuracy **{summary['pretrained_aligned_en_beats_random_init_en']}**, "
        f"macro-F1 **{summary['pretrained_aligned_en_beats_random_init_en_macro_f1']}**",
        f"- above bow_en: accuracy **{summary['pretrained_aligned_en_beats_bow_en']}**, "
        f"macro-F1 **{summary['pretrained_aligned_en_beats_bow_en_macro_f1']}**",
        f"- English accuracy >= 55% in every seed: "
        f"**{summary['pretrained_aligned_en_english_at_least_0.55']}** "
        f"(mean {summary['pretrained_aligned_en_english_accuracy']})",
        "",
    ]
    paths["md"].write_text("\n".join(text), encoding="utf-8")
    draw_chart(results, paths["png"])
    return paths


@click.command(help="Pretrain three encoders (M-BERT recipe, + TLM, + alignment) on NTREX(+SIB-200 "
                    "text), fine-tune 5 settings x seeds on SIB-200 through the pipeline, add two TF-IDF "
                    "baselines, evaluate every language's test split; one JSON line.")
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
@click.option("--time-budget", "time_budget", type=click.FloatRange(min=1.0), default=75.0,
              show_default=True,
              help="Minutes for the whole table on this machine: each pretraining gets "
                   "crosslingual.pretraining_share of it, sized in steps by timing the model here.")
@click.option("--pretrain-steps", type=click.IntRange(min=1), default=None,
              help="Pretraining steps, instead of sizing them from --time-budget.")
@click.option("--output", type=click.Path(file_okay=False, path_type=pathlib.Path),
              default=REPO_ROOT / "outputs" / "crosslingual", show_default=True,
              help="Pipeline output folder (artifacts, ML Metadata, serving).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=pathlib.Path),
              default=DEFAULT_CONFIG, show_default=True)
@click.option("--results-dir", type=click.Path(file_okay=False, path_type=pathlib.Path),
              default=DEFAULT_RESULTS, show_default=True)
@click.option("--verbose", is_flag=True, help="Show TensorFlow, TFX and Beam logs.")
def crosslingual(languages, ntrex, sib200, seeds, settings, time_budget, pretrain_steps, output,
                 config_path, results_dir, verbose) -> None:
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
    pipeline_settings = [name for name in chosen if name in PIPELINE_SETTINGS]
    try:  # Fail on a bad key now, not after the first hour of pretraining.
        for name in pipeline_settings:
            config_from_dict(run_config(base, name, 0, ntrex, sib200))
    except ConfigError as e:
        raise BenchmarkError(f"{config_path}: {e}") from e
    if pipeline_settings:
        checked = check_no_test_text(run_config(base, pipeline_settings[0], 0, ntrex, sib200),
                                     sib200)
        click.echo(f"[crosslingual] pretraining corpus: {checked} sentences, no SIB-200 test "
                   f"sentence among them")
    share = (base.get(BENCHMARK_KEY) or {}).get("pretraining_share", 0.2)
    if pipeline_settings and pretrain_steps is None:
        pretrain_steps = pretraining_steps_for(
            run_config(base, pipeline_settings[0], 0, ntrex, sib200), time_budget * share)
        click.echo(f"[crosslingual] {time_budget * share:.1f} minutes of pretraining per "
                   f"encoder: {pretrain_steps} steps on this machine")
    run_settings = {"config_file": str(config_path), "pipeline": base, "languages": tags,
                    "seeds": seeds, "settings": chosen, "ntrex": str(ntrex), "sib200": str(sib200),
                    "output": str(output.resolve()), "time_budget_minutes": time_budget,
                    "pretrain_steps": pretrain_steps,
                    "evaluation": {"split": "test", "min_accuracy": 0.0, "max_language_drop": 1.0}}

    def save(partial: dict[str, Any]) -> None:
        partial["config"] = run_settings
        write_results(partial, results_dir)

    results = run_benchmark(base, ntrex, sib200, tags, seeds, output, chosen, after_run=save,
                            pretrain_steps=pretrain_steps)
    save(results)
    summary = summarise(results)
    click.echo(json.dumps({"benchmark": "crosslingual", "languages": len(tags), "seeds": seeds,
                           **summary, "mlm": {name: figures.get("overall")
                                              for name, figures in results["mlm"].items()},
                           "wall_s": results["timings"]["total_s"],
                           "pretraining_s": results["timings"]["pretraining_s"],
                           "pretrain_steps": pretrain_steps,
                           "results": str(results_dir / "crosslingual.json")}))
