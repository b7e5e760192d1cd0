"""CorpusConfig: one input corpus of the ingestion stage (YAML `pretraining_corpus:`,
`extra_pretraining_corpus:`, `labelled_data:`).

CorpusIngestion receives it as one JSON value (`config`) and reads it back with the YAML's rules
(components/settings.py).
"""

from __future__ import annotations

import dataclasses

from components.ingestion.readers import FORMATS
from components.ingestion.records import DEFAULT_MAX_RECORD_CHARS, DEFAULT_MAX_REJECT_RATIO
from components.settings import fraction, setting


@dataclasses.dataclass
class CorpusConfig:
    """One input corpus for the ingestion component."""

    # text, jsonl, tsv, ntrex, sib200 or chatterbot (components/ingestion/readers.py).
    format: str = setting("chatterbot", choices=FORMATS)
    # Files or folders; relative paths are resolved against the config file's folder; empty =
    # the installed chatterbot-corpus for format chatterbot.
    # Span patterns `{SPAN}`, `{YYYY}`/`{MM}`/`{DD}`, `{VERSION}` in a path are resolved by the
    # ingestion component when it runs (components/ingestion/spans.py): the newest span.
    inputs: list[str] = dataclasses.field(default_factory=list)
    # Longest accepted record, in code points after stripping (longer ones go to rejects).
    max_record_chars: int = setting(DEFAULT_MAX_RECORD_CHARS, minimum=1, maximum=1_000_000)
    # The execution fails (after writing its outputs) when rejected / read is above this.
    max_reject_ratio: float = fraction(DEFAULT_MAX_REJECT_RATIO)

    def _cross_problems(self):
        if not self.inputs and self.format != "chatterbot":
            yield "inputs", f"format {self.format!r} needs at least one input path"
