"""What a runner resolves about the input corpora before it builds the pipeline.

Spans: an input path may contain `{SPAN}` (an integer) or `{YYYY}`, `{MM}`, `{DD}` (dated folders),
e.g. `data/span-{SPAN}/corpus` or `data/{YYYY}-{MM}-{DD}`. The newest span present is ingested.

Fingerprints: the CorpusIngestion component gets a fingerprint of its input files (paths, sizes,
modification times). TFX caches an execution by its inputs and parameters, so a new span or
changed files re-run ingestion and everything downstream, while unchanged inputs come from cache.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import os
import re

from components.ingestion.readers import plan_tasks
from pipeline.config import ConfigError, CorpusConfig

_FIELDS = {"{SPAN}": r"(?P<span>\d+)", "{YYYY}": r"(?P<year>\d{4})",
           "{MM}": r"(?P<month>\d{2})", "{DD}": r"(?P<day>\d{2})"}


@dataclasses.dataclass
class ResolvedCorpus:
    inputs: list[str]
    span: str  # "" when the inputs have no span pattern; else e.g. "3" or "2026-11-28".
    fingerprint: str


def _newest_match(pattern: str, key: str) -> tuple[str, str]:
    """Returns (path, span label) of the newest existing path matching a span pattern."""
    wildcard = pattern
    regex = re.escape(pattern)
    for field, group in _FIELDS.items():
        wildcard = wildcard.replace(field, "*")
        escaped = re.escape(field)
        regex = regex.replace(escaped, group, 1).replace(escaped, r"\d+")
    matches = []
    for path in glob.glob(wildcard):
        m = re.fullmatch(regex, path)
        if m:
            values = m.groupdict()
            order = tuple(int(values[k]) for k in ("year", "month", "day", "span") if values.get(k))
            matches.append((order, path, values))
    if not matches:
        raise ConfigError(f"{key}: no input matches the span pattern {pattern}")
    order, path, values = max(matches)
    label = values.get("span") or "-".join(values[k] for k in ("year", "month", "day") if values.get(k))
    return path, label


def resolve_corpus(corpus: CorpusConfig, key: str) -> ResolvedCorpus:
    """Resolves span patterns to the newest span and fingerprints the files that will be read."""
    inputs, spans = [], set()
    for i, path in enumerate(corpus.inputs):
        if any(field in path for field in _FIELDS):
            path, span = _newest_match(path, f"{key}.inputs[{i}]")
            spans.add(span)
        inputs.append(path)
    if len(spans) > 1:
        raise ConfigError(f"{key}.inputs: span patterns resolve to different spans {sorted(spans)}")
    digest = hashlib.sha256()
    for task in plan_tasks(corpus.format, inputs):
        stat = os.stat(task.path)
        digest.update(f"{task.path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return ResolvedCorpus(inputs=inputs, span=spans.pop() if spans else "",
                          fingerprint=digest.hexdigest()[:32])
