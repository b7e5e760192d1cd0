"""Counting what ingestion read, accepted and rejected; the reject-ratio gate.

The counts are a Beam CombineFn over one small tuple per record (`outcome_key`), so they
aggregate across workers like any other combine; document counts need a Distinct over
(language, doc_id) and are merged in afterwards (`finish_summary`).
"""

from __future__ import annotations

import collections
import json

import apache_beam as beam

from components.ingestion.records import ALL_SPLITS, AcceptedRecord, Rejected

# How many files the reject-ratio error and summary name.
WORST_FILES = 5


class RejectRatioError(RuntimeError):
    """More records were rejected than the limit allows; the message names the worst files."""


def outcome_key(outcome: AcceptedRecord | Rejected) -> tuple:
    """(accepted?, file, language, label, characters, split, reason) of one record."""
    if isinstance(outcome, AcceptedRecord):
        file = outcome.source.rsplit(":", 1)[0]
        return (True, file, outcome.language, outcome.label, len(outcome.text), outcome.split, None)
    return (False, outcome.source, outcome.language, None, 0, None, outcome.reason)


def _new_accumulator() -> dict:
    return {
        "records_read": 0,
        "accepted": 0,
        "rejected": 0,
        "rejects_by_reason": collections.Counter(),
        "splits": collections.Counter(),
        "languages": {},  # tag -> {"records", "characters", "labels": Counter}
        "files": {},  # path -> [read, rejected]
    }


def _add(accumulator: dict, key: tuple) -> dict:
    accepted, file, language, label, characters, split, reason = key
    accumulator["records_read"] += 1
    counts = accumulator["files"].setdefault(file, [0, 0])
    counts[0] += 1
    if accepted:
        accumulator["accepted"] += 1
        accumulator["splits"][split] += 1
        detail = accumulator["languages"].setdefault(
            language, {"records": 0, "characters": 0, "labels": collections.Counter()})
        detail["records"] += 1
        detail["characters"] += characters
        if label is not None:
            detail["labels"][label] += 1
    else:
        accumulator["rejected"] += 1
        accumulator["rejects_by_reason"][reason] += 1
        counts[1] += 1
    return accumulator


def _merge(accumulators) -> dict:
    merged = _new_accumulator()
    for accumulator in accumulators:
        for key in ("records_read", "accepted", "rejected"):
            merged[key] += accumulator[key]
        merged["rejects_by_reason"].update(accumulator["rejects_by_reason"])
        merged["splits"].update(accumulator["splits"])
        for language, detail in accumulator["languages"].items():
            target = merged["languages"].setdefault(
                language, {"records": 0, "characters": 0, "labels": collections.Counter()})
            target["records"] += detail["records"]
            target["characters"] += detail["characters"]
            target["labels"].update(detail["labels"])
        for file, (read, rejected) in accumulator["files"].items():
            counts = merged["files"].setdefault(file, [0, 0])
            counts[0] += read
            counts[1] += rejected
    return merged


class CountOutcomes(beam.CombineFn):
    """Combines `outcome_key` tuples into the counts of the summary."""

    def create_accumulator(self):
        return _new_accumulator()

    def add_input(self, accumulator, key):
        return _add(accumulator, key)

    def merge_accumulators(self, accumulators):
        return _merge(accumulators)

    def extract_output(self, accumulator):
        return accumulator


def worst_files(files: dict, limit: int = WORST_FILES) -> list[dict]:
    """Files with rejects, most rejected (then highest ratio) first."""
    rows = [{"file": file, "records": read, "rejected": rejected}
            for file, (read, rejected) in files.items() if rejected]
    rows.sort(key=lambda row: (-row["rejected"], -row["rejected"] / row["records"], row["file"]))
    return rows[:limit]


def finish_summary(counts: dict, documents: dict[str, int], max_reject_ratio: float) -> dict:
    """The summary.json content from the combined counts and per-language document counts."""
    read = counts["records_read"]
    languages = {}
    for language in sorted(counts["languages"]):
        detail = counts["languages"][language]
        languages[language] = {
            "records": detail["records"],
            "documents": documents.get(language, 0),
            "characters": detail["characters"],
            "labels": dict(sorted(detail["labels"].items())),
        }
    return {
        "records_read": read,
        "accepted": counts["accepted"],
        "rejected": counts["rejected"],
        "reject_ratio": counts["rejected"] / read if read else 0.0,
        "max_reject_ratio": max_reject_ratio,
        "by_language": {language: detail["records"] for language, detail in languages.items()},
        "rejects_by_reason": dict(sorted(counts["rejects_by_reason"].items())),
        "splits": {split: counts["splits"].get(split, 0) for split in ALL_SPLITS
                   if split != "test" or counts["splits"].get(split)},
        "languages": languages,
        "files": len(counts["files"]),
        "worst_files": worst_files(counts["files"]),
    }


def check_reject_ratio(summary: dict) -> None:
    """Raises RejectRatioError naming the worst files when the reject ratio is over the limit."""
    if summary["reject_ratio"] <= summary["max_reject_ratio"]:
        return
    named = "; ".join(f"{row['file']} ({row['rejected']}/{row['records']} rejected)"
                      for row in summary["worst_files"])
    raise RejectRatioError(
        f"rejected {summary['rejected']} of {summary['records_read']} records "
        f"({summary['reject_ratio']:.2%} > limit {summary['max_reject_ratio']:.2%}); "
        f"reasons {json.dumps(summary['rejects_by_reason'])}; worst files: {named}")
