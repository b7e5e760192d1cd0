"""Raw records, the checks every record goes through, and split assignment.

Readers (`readers.py`) turn source files into `RawRecord`s, one per sentence-sized unit
they read, each carrying its file and line. `validate_record` then decides, record by
record, between an `AcceptedRecord` (becomes a tf.Example) and a `Rejected` one with a
snake_case reason. Every record read ends up in exactly one of the two, which is what makes
`accepted + rejected == records_read` hold.

Every string a record carries out (text, ids, source, excerpt) encodes as UTF-8: lone
surrogates are rejected in the text and fields, escaped in file names and doc ids.

Reject reasons (first match wins, in this order):
  reader-side: `empty_file` (one per file without any record), `unreadable_file` (reading
    failed part way, e.g. permission denied or an I/O error: one per file, line 0, the error
    in the excerpt), `invalid_utf8` (the line's bytes do not decode), `too_long` (a line over
    `readers.MAX_LINE_BYTES`, never held in memory), `malformed_row` (JSON/TSV/YAML row that cannot be parsed or lacks
    a required field), `malformed_header` (TSV header without a `text` column: one per
    file), `missing_doc_id` (NTREX line with no line in DOCUMENT_IDS.tsv), `missing_label`
    (SIB-200 category absent or not in labels.txt, chatterbot file without categories);
  `invalid_unicode`: text, language, label or split holding a lone surrogate (JSON can
    spell one, `"\\ud800"`; it has no UTF-8 encoding);
  `control_characters`: NUL, other C0 controls except tab and newline (so a stray CR inside
    a line is rejected), DEL and C1 controls (U+0080..U+009F);
  `empty_text`: nothing but whitespace in a record (blank lines of the plain-text format are
    document boundaries and blank lines of JSONL/TSV are skipped: neither is a record);
  `too_long`: more than `max_record_chars` code points after stripping;
  `missing_language`, `unknown_language` (see `languages.normalize_language`);
  `unknown_split`: a `split` value other than train/eval/test (dev, validation, valid, val
    are renamed eval).
"""

from __future__ import annotations

import dataclasses
import re

from components import contracts
from components.ingestion.languages import normalize_language
from components.sampling import stable_bucket

EXCERPT_CHARS = 80
DEFAULT_MAX_RECORD_CHARS = 20_000
DEFAULT_MAX_REJECT_RATIO = 0.05

# Splits every output has (ingested Examples always carry train and eval; test only when the
# source has one).
ALWAYS_SPLITS = (contracts.TRAIN_SPLIT, contracts.EVAL_SPLIT)
ALL_SPLITS = (contracts.TRAIN_SPLIT, contracts.EVAL_SPLIT, contracts.TEST_SPLIT)
_SPLIT_ALIASES = {
    "train": "train", "training": "train",
    "eval": "eval", "dev": "eval", "validation": "eval", "valid": "eval", "val": "eval",
    "test": "test",
}

# C0 controls except tab (0x09) and newline (0x0a), DEL, and C1 controls.
_CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclasses.dataclass(frozen=True)
class RawRecord:
    """One record as a reader found it, before any check.

    Attributes:
      source: path of the file it came from.
      line: 1-based line number in that file (0 for a reject about the whole file).
      text: the decoded text, or None when the reader already rejects the record.
      language: the language code as the source spells it (None when absent).
      doc_id: document id; records of one document share it and always share a split.
      sentence_index: 0-based position of the record in its document.
      label: class label, when the format has labels.
      split: split given by the source (before aliasing), None to hash the doc_id.
      error: reject reason decided by the reader (invalid_utf8, malformed_row, ...).
      excerpt: what to show in rejects.jsonl when `text` is None.
    """

    source: str
    line: int
    text: str | None = None
    language: str | None = None
    doc_id: str | None = None
    sentence_index: int = 0
    label: str | None = None
    split: str | None = None
    error: str | None = None
    excerpt: str | None = None


@dataclasses.dataclass(frozen=True)
class AcceptedRecord:
    """A record that passed every check; fields map one to one onto the tf.Example features."""

    text: str
    language: str
    doc_id: str
    sentence_index: int
    label: str | None
    source: str  # "path:line"
    split: str


@dataclasses.dataclass(frozen=True)
class Rejected:
    """A record that failed a check; one line of rejects.jsonl."""

    source: str
    line: int
    reason: str
    excerpt: str
    language: str | None = None  # the normalised tag when known, for the summary.

    def to_json_dict(self) -> dict:
        return {"source": self.source, "line": self.line, "reason": self.reason, "excerpt": self.excerpt}


def printable(text: str) -> str:
    """text with anything UTF-8 cannot encode (lone surrogates, e.g. from a file name in
    another encoding) shown as a backslash escape, so that it can be written out."""
    return text.encode("utf-8", errors="backslashreplace").decode("utf-8")


def has_lone_surrogate(text: str | None) -> bool:
    """Whether text holds a code point that UTF-8 cannot encode."""
    try:
        (text or "").encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def excerpt(text: str | bytes | None) -> str:
    """At most EXCERPT_CHARS characters of a text (undecodable bytes and lone surrogates shown
    as backslash escapes)."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="backslashreplace")
    return printable(text[:EXCERPT_CHARS])


def split_for_doc(doc_id: str) -> str:
    """The split of a document without a given split: `eval` for 1 in 10 documents.

    The hash is MD5 of the UTF-8 doc id (Python's hash() is salted per process, so it would
    send one document to different splits in different Beam workers).
    """
    return contracts.EVAL_SPLIT if stable_bucket(doc_id, 10) == 0 else contracts.TRAIN_SPLIT


def canonical_split(split: str | None) -> str | None:
    """Maps a source's split name onto train/eval/test; None when it is not one of those."""
    if split is None:
        return None
    return _SPLIT_ALIASES.get(split.strip().lower())


def validate_record(record: RawRecord, max_record_chars: int = DEFAULT_MAX_RECORD_CHARS) -> AcceptedRecord | Rejected:
    """Checks one record; see the module docstring for the reasons and their order.

    Args:
      record: what a reader produced.
      max_record_chars: longest accepted text, in code points after stripping.

    Returns:
      The accepted record (stripped text, normalised language, split decided) or the reject.
    """
    # A file name in another encoding reaches Python as lone surrogates: shown escaped.
    source = printable(record.source)
    language = normalize_language(record.language) if record.language else None

    def reject(reason: str, shown: str | None = None) -> Rejected:
        return Rejected(source, record.line, reason, excerpt(shown if shown is not None else record.text),
                        language)

    if record.error is not None:
        return reject(record.error, record.excerpt if record.text is None else record.text)
    if any(has_lone_surrogate(value) for value in (record.text, record.language, record.label, record.split)):
        return reject("invalid_unicode")
    text = record.text if record.text is not None else ""
    # Controls are looked for before stripping: str.strip() would silently eat some of them
    # (U+001C..U+001F and U+0085 count as whitespace to Python).
    if _CONTROL_CHARACTERS.search(text):
        return reject("control_characters")
    text = text.strip()
    if not text:
        return reject("empty_text")
    if len(text) > max_record_chars:
        return reject("too_long")
    if record.language is None or not record.language.strip():
        return reject("missing_language")
    if language is None:
        return reject("unknown_language")
    if record.split is not None:
        split = canonical_split(record.split)
        if split is None:
            return reject("unknown_split", f"split={record.split!r}: {text}")
    else:
        split = None
    doc_id = printable(record.doc_id) if record.doc_id else f"{source}:{record.line}"
    return AcceptedRecord(
        text=text,
        language=language,
        doc_id=doc_id,
        sentence_index=record.sentence_index,
        label=record.label,
        source=f"{source}:{record.line}",
        split=split or split_for_doc(doc_id),
    )
