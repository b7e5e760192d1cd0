"""Readers: one source file in, `RawRecord`s out, each with its file and line number.

Every reader decodes line by line from bytes, so an undecodable line costs that line only
(reason `invalid_utf8`) and never the rest of the file. A UTF-8 byte-order mark at the start
of a file is dropped, and LF, CRLF and a lone CR all end a line. A file that yields no record
at all yields one `empty_file` reject instead, so that it is counted and named; one that fails
part way ends with an `unreadable_file` reject.

`plan_tasks(format, inputs)` lists the files of each input (raising `IngestionInputError`
naming the path when one is missing, unreadable, not a regular file or folder, or holds
nothing of that format), and `read_task(task)` reads one of them; the Beam job runs the second
in a FlatMap so that reading scales out with the number of files.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import re
import typing
from collections.abc import Iterator, Sequence

import yaml

from components.ingestion.records import RawRecord, excerpt

FORMATS = ("text", "jsonl", "tsv", "ntrex", "sib200", "chatterbot")

_BOM = b"\xef\xbb\xbf"
_NTREX_FILE = re.compile(r"^newstest\d+-(?:src|ref)\.(?P<code>[^.]+)\.txt$")
_NTREX_DOC_IDS = "DOCUMENT_IDS.tsv"
_SIB_LABELS = "labels.txt"
_SIB_SPLITS = {"train": "train", "dev": "eval", "test": "test"}
_SIB_COLUMNS = ("index_id", "category", "text")
_TABULAR_FIELDS = ("text", "language", "doc_id", "label", "split", "sentence_index")


class IngestionInputError(ValueError):
    """An input path that cannot be ingested; the message names the path."""


@dataclasses.dataclass(frozen=True)
class FileTask:
    """One file to read.

    Attributes:
      format: one of FORMATS.
      path: the file.
      doc_prefix: stable, location-independent name of the file used in doc ids
        (`<root name>/<language>/<file>`), so splits do not depend on where the data lives.
      language: language code implied by the file's location (text, ntrex, sib200,
        chatterbot), None when rows carry their own (jsonl, tsv).
      split: split implied by the file name (sib200), else None.
      aux_path: DOCUMENT_IDS.tsv (ntrex) or labels.txt (sib200).
    """

    format: str
    path: str
    doc_prefix: str
    language: str | None = None
    split: str | None = None
    aux_path: str | None = None


# --------------------------------------------------------------------------- line decoding

# CRLF, LF and a lone CR (old Mac files, or one line saved by a Windows editor) all end a line.
_LINE_END = re.compile(rb"\r\n|\r|\n")
_CHUNK_BYTES = 1 << 20
# A longer line is rejected `too_long` without being held in memory (a file with no line end,
# such as a dump of /dev/zero, would otherwise be read whole); every accepted record is far
# shorter (max_record_chars is in code points, at most 4 bytes each, plus the JSON around it).
MAX_LINE_BYTES = 8 << 20
_KEPT_BYTES = 1024  # what an over-long line keeps for its excerpt


class Line(typing.NamedTuple):
    """One line of a file: its 1-based number, its text (None when unusable), its bytes, and
    why it is unusable (`invalid_utf8`, `too_long`) or None."""

    number: int
    text: str | None
    raw: bytes
    error: str | None = None


def _split_lines(stream: typing.BinaryIO) -> Iterator[tuple[bytes, int]]:
    """Yields (line bytes without the line end, the line's full length in bytes).

    Reads in chunks; of a line over MAX_LINE_BYTES only the first _KEPT_BYTES are kept.
    """
    buffer = b""
    dropped = 0  # bytes of the current line already thrown away
    while True:
        chunk = stream.read(_CHUNK_BYTES)
        buffer += chunk
        start = 0
        for match in _LINE_END.finditer(buffer):
            if chunk and match.group() == b"\r" and match.end() == len(buffer):
                break  # may be the first half of a CRLF split across chunks
            yield buffer[start:match.start()], dropped + match.start() - start
            dropped = 0
            start = match.end()
        buffer = buffer[start:]
        if not chunk:
            if buffer or dropped:
                yield buffer, dropped + len(buffer)
            return
        if len(buffer) > MAX_LINE_BYTES:
            # No line end inside buffer, except maybe a trailing CR that must stay.
            tail = b"\r" if buffer.endswith(b"\r") else b""
            dropped += len(buffer) - _KEPT_BYTES - len(tail)
            buffer = buffer[:_KEPT_BYTES] + tail


def _read_lines(path: str) -> Iterator[Line]:
    """Yields the lines of a file, decoded one by one.

    Line ends (LF, CRLF or CR) are removed and a BOM on the first line is dropped; an
    undecodable line or one over MAX_LINE_BYTES comes with its error instead of its text.
    """
    with open(path, "rb") as stream:
        for number, (raw, length) in enumerate(_split_lines(stream), start=1):
            if number == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM):]
            if length > MAX_LINE_BYTES:
                yield Line(number, None, raw[:_KEPT_BYTES], "too_long")
                continue
            try:
                yield Line(number, raw.decode("utf-8"), raw)
            except UnicodeDecodeError:
                yield Line(number, None, raw, "invalid_utf8")


def _is_blank(line: str) -> bool:
    # Only spaces and tabs make a blank line: other Unicode "whitespace" such as U+001C is a
    # control character and must reach validation to be rejected.
    return not line.strip(" \t")


def _line_error(task: FileTask, number: int, raw: bytes, error: str, **fields) -> RawRecord:
    """The reject of a line that has no text (`invalid_utf8`, `too_long`)."""
    return RawRecord(source=task.path, line=number, error=error,
                     excerpt=raw.decode("utf-8", errors="backslashreplace"), **fields)


def _empty_file(task: FileTask) -> RawRecord:
    return RawRecord(source=task.path, line=0, error="empty_file", excerpt="",
                     language=task.language)


# --------------------------------------------------------------------------- readers


def read_text_file(task: FileTask) -> Iterator[RawRecord]:
    """Plain text: one sentence per line, a blank line between documents (BERT convention).

    doc_id is `<doc_prefix>#<document index>`; blank lines are boundaries, not records.
    """
    document = 0
    sentence = 0
    produced = 0
    for number, line, raw, error in _read_lines(task.path):
        if line is not None and _is_blank(line):
            if sentence:
                document += 1
                sentence = 0
            continue
        fields = dict(language=task.language, doc_id=f"{task.doc_prefix}#{document}", sentence_index=sentence)
        if line is None:
            yield _line_error(task, number, raw, error, **fields)
        else:
            yield RawRecord(source=task.path, line=number, text=line, **fields)
        sentence += 1
        produced += 1
    if not produced:
        yield _empty_file(task)


# Integers a row may give for a string field (doc_id, label) or for sentence_index: what a
# tf.Example int64 holds, and sentence positions well inside an int32.
_MAX_ID = 2**63 - 1
_MAX_SENTENCE_INDEX = 2**31 - 1


def _optional_str(row: dict, key: str) -> str | None:
    value = row.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"field {key!r} must be a string, got {type(value).__name__}")
    if isinstance(value, int) and not -_MAX_ID <= value <= _MAX_ID:
        raise ValueError(f"field {key!r}: integer out of range")
    return str(value)


def _sentence_index(value) -> int | None:
    """A row's sentence_index: a non-negative integer or digit string, None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"field 'sentence_index' must be an integer, got {excerpt(repr(value))}")
    if not 0 <= value <= _MAX_SENTENCE_INDEX:
        raise ValueError(f"field 'sentence_index' must be in [0, {_MAX_SENTENCE_INDEX}]")
    return value


def _tabular_record(task: FileTask, number: int, row: dict, sentence_counts: dict) -> RawRecord:
    """A JSONL/TSV row (already a dict) -> RawRecord; ValueError when a field is malformed."""
    if "text" not in row:
        raise ValueError("no 'text' field")
    text = row["text"]
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise ValueError(f"field 'text' must be a string, got {type(text).__name__}")
    language = _optional_str(row, "language")
    doc_id = _optional_str(row, "doc_id")
    label = _optional_str(row, "label")
    split = _optional_str(row, "split")
    index = _sentence_index(row.get("sentence_index"))
    if doc_id is None:
        # Without a doc id every row is its own document.
        doc_id = f"{task.doc_prefix}:{number}"
        index = 0 if index is None else index
    elif index is None:
        # Rows of one document are numbered in file order.
        index = sentence_counts[doc_id]
    sentence_counts[doc_id] += 1
    return RawRecord(source=task.path, line=number, text=text, language=language, doc_id=doc_id,
                     sentence_index=index, label=label, split=split)


def read_jsonl_file(task: FileTask) -> Iterator[RawRecord]:
    """JSON Lines: one object per line with `text`, `language` and optional `doc_id`,
    `label`, `split`, `sentence_index`. Blank lines are skipped; other keys are ignored."""
    produced = 0
    sentence_counts: dict[str, int] = collections.Counter()
    for number, line, raw, error in _read_lines(task.path):
        if line is not None and _is_blank(line):
            continue
        produced += 1
        if line is None:
            yield _line_error(task, number, raw, error)
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError(f"expected a JSON object, got {type(row).__name__}")
            yield _tabular_record(task, number, row, sentence_counts)
        except ValueError as error:  # json.JSONDecodeError is a ValueError.
            yield RawRecord(source=task.path, line=number, error="malformed_row",
                            excerpt=f"{error}: {line}")
        except RecursionError:  # json.loads of thousands of nested [ or {.
            yield RawRecord(source=task.path, line=number, error="malformed_row",
                            excerpt=f"JSON nested too deeply: {line}")
    if not produced:
        yield _empty_file(task)


def read_tsv_file(task: FileTask) -> Iterator[RawRecord]:
    """TSV with a header row naming the columns (`text` required; `language`, `doc_id`,
    `label`, `split`, `sentence_index` optional; others ignored). No quoting: fields are
    split on tabs, so a row with another number of fields than the header is malformed."""
    header: list[str] | None = None
    produced = 0
    sentence_counts: dict[str, int] = collections.Counter()
    for number, line, raw, error in _read_lines(task.path):
        if line is not None and _is_blank(line):
            continue
        if header is None:
            if line is None or "text" not in [name.strip().lower() for name in line.split("\t")]:
                yield RawRecord(source=task.path, line=number, error="malformed_header",
                                excerpt=f"header must name a 'text' column: {_excerpt_of(line, raw)}")
                return
            header = [name.strip().lower() for name in line.split("\t")]
            continue
        produced += 1
        if line is None:
            yield _line_error(task, number, raw, error)
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            yield RawRecord(source=task.path, line=number, error="malformed_row",
                            excerpt=f"{len(fields)} fields, header has {len(header)}: {line}")
            continue
        row = {name: value for name, value in zip(header, fields) if name in _TABULAR_FIELDS}
        try:
            yield _tabular_record(task, number, row, sentence_counts)
        except ValueError as error:
            yield RawRecord(source=task.path, line=number, error="malformed_row", excerpt=f"{error}: {line}")
    if not produced:
        yield _empty_file(task)


def _excerpt_of(line: str | None, raw: bytes) -> str:
    return line if line is not None else raw.decode("utf-8", errors="backslashreplace")


def _read_document_ids(path: str) -> list[str]:
    """DOCUMENT_IDS.tsv: line i holds the document id of line i of every NTREX file."""
    ids = []
    for number, line, _, _ in _read_lines(path):
        if line is None or not line.split("\t")[0].strip():
            raise IngestionInputError(f"{path}:{number}: no document id on this line")
        ids.append(line.split("\t")[0].strip())
    return ids


def read_ntrex_file(task: FileTask) -> Iterator[RawRecord]:
    """NTREX-128: line i of `newstest2019-{src,ref}.<code>.txt` is a sentence of document
    `DOCUMENT_IDS.tsv` line i. Parallel lines share the doc id, so a document's translations
    all land in the same split. The format is line-aligned: a blank line is a record
    (rejected `empty_text`), not a boundary."""
    doc_ids = _read_document_ids(task.aux_path)
    positions = []
    seen: dict[str, int] = collections.Counter()
    for doc_id in doc_ids:
        positions.append(seen[doc_id])
        seen[doc_id] += 1
    produced = 0
    for number, line, raw, error in _read_lines(task.path):
        produced += 1
        if number > len(doc_ids):
            yield RawRecord(source=task.path, line=number, error="missing_doc_id", language=task.language,
                            excerpt=f"{task.aux_path} has {len(doc_ids)} lines: {_excerpt_of(line, raw)}")
            continue
        fields = dict(language=task.language, doc_id=doc_ids[number - 1], sentence_index=positions[number - 1])
        if line is None:
            yield _line_error(task, number, raw, error, **fields)
        else:
            yield RawRecord(source=task.path, line=number, text=line, **fields)
    if not produced:
        yield _empty_file(task)


def read_labels(path: str) -> list[str]:
    """SIB-200 labels.txt: one category per line."""
    labels = []
    for number, line, _, _ in _read_lines(path):
        if line is None:
            raise IngestionInputError(f"{path}:{number}: label is not valid UTF-8")
        if line.strip():
            labels.append(line.strip())
    if not labels:
        raise IngestionInputError(f"{path}: no labels")
    return labels


def read_sib200_file(task: FileTask) -> Iterator[RawRecord]:
    """SIB-200: `<lang>/{train,dev,test}.tsv` with columns index_id, category, text.

    doc_id is the index_id, so a parallel sentence has the same doc id in every language;
    dev becomes eval. A category missing or not in labels.txt is rejected `missing_label`.
    """
    labels = frozenset(read_labels(task.aux_path))
    columns: dict[str, int] | None = None
    produced = 0
    for number, line, raw, error in _read_lines(task.path):
        if line is not None and _is_blank(line):
            continue
        if columns is None:
            names = [name.strip().lower() for name in line.split("\t")] if line is not None else []
            if not set(_SIB_COLUMNS) <= set(names):
                yield RawRecord(source=task.path, line=number, error="malformed_header", language=task.language,
                                excerpt=f"expected columns {'/'.join(_SIB_COLUMNS)}: {_excerpt_of(line, raw)}")
                return
            columns = {name: names.index(name) for name in _SIB_COLUMNS}
            width = len(names)
            continue
        produced += 1
        if line is None:
            yield _line_error(task, number, raw, error, language=task.language, split=task.split)
            continue
        fields = line.split("\t")
        if len(fields) != width or not fields[columns["index_id"]].strip():
            yield RawRecord(source=task.path, line=number, error="malformed_row", language=task.language,
                            excerpt=f"{len(fields)} fields, header has {width}: {line}")
            continue
        category = fields[columns["category"]].strip()
        text = fields[columns["text"]]
        record = RawRecord(source=task.path, line=number, text=text, language=task.language,
                           doc_id=fields[columns["index_id"]].strip(), sentence_index=0,
                           label=category or None, split=task.split)
        if category not in labels:
            record = dataclasses.replace(record, error="missing_label",
                                         excerpt=f"category {category!r} not in {_SIB_LABELS}: {text}")
        yield record
    if not produced:
        yield _empty_file(task)


def read_chatterbot_file(task: FileTask) -> Iterator[RawRecord]:
    """chatterbot-corpus YAML: each conversation is a document, each utterance a sentence,
    the file's topic the label; the line is the utterance's YAML line.

    The topic is the file name (`sports.yml` -> `sports`) of a file that declares `categories`:
    the `categories` entries themselves are translated (`スポーツ`, `спорт`), while the file
    names are shared across languages, which is what cross-lingual evaluation needs.

    Lines are decoded one by one (undecodable ones replaced before parsing) so that an
    invalid byte costs only the utterances on that line. A file that is not valid YAML is
    one `malformed_row` reject at the parser's line; a conversation that is not a list of
    strings, or that is an alias of an earlier one, is one `malformed_row` reject.
    """
    decoded = []
    bad_lines: dict[int, tuple[bytes, str]] = {}
    for number, line, raw, error in _read_lines(task.path):
        if line is None:
            bad_lines[number] = raw, error
            line = raw.decode("utf-8", errors="replace")
        decoded.append(line)
    text = "\n".join(decoded)
    if not text.strip():
        yield _empty_file(task)
        return
    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        yield RawRecord(source=task.path, line=mark.line + 1 if mark else 0, error="malformed_row",
                        language=task.language, excerpt=f"invalid YAML: {getattr(error, 'problem', error)}")
        return
    except RecursionError:
        yield RawRecord(source=task.path, line=0, error="malformed_row", language=task.language,
                        excerpt="YAML nested too deeply")
        return
    if not isinstance(root, yaml.MappingNode):
        yield RawRecord(source=task.path, line=1, error="malformed_row", language=task.language,
                        excerpt="expected a mapping with 'categories' and 'conversations'")
        return
    sections = {key.value: value for key, value in root.value if isinstance(key, yaml.ScalarNode)}
    label = None
    categories = sections.get("categories")
    if (isinstance(categories, yaml.SequenceNode) and categories.value) or (
            isinstance(categories, yaml.ScalarNode) and categories.value.strip()):
        label = os.path.splitext(os.path.basename(task.path))[0].lower()
    conversations = sections.get("conversations")
    if not isinstance(conversations, yaml.SequenceNode) or not conversations.value:
        yield _empty_file(task)
        return
    read = set()
    for index, conversation in enumerate(conversations.value):
        yield from _conversation_records(task, index, conversation, label, read, decoded, bad_lines)


def _conversation_records(task: FileTask, index: int, conversation, label, read: set,
                          decoded: list, bad_lines: dict) -> Iterator[RawRecord]:
    """The utterances of one chatterbot conversation (a document), or one reject for it."""
    doc_id = f"{task.doc_prefix}#{index}"
    line = conversation.start_mark.line + 1
    if id(conversation) in read:
        # A YAML alias (*name) of an earlier conversation: a few bytes could repeat a long
        # conversation millions of times, so it costs one reject, not its utterances. The
        # composed node only knows the line of the anchored original.
        yield RawRecord(source=task.path, line=line, error="malformed_row", language=task.language,
                        excerpt=f"conversation {index + 1} is a YAML alias of the one at line {line}")
        return
    read.add(id(conversation))
    if not isinstance(conversation, yaml.SequenceNode) or not all(
            isinstance(utterance, yaml.ScalarNode) for utterance in conversation.value):
        yield RawRecord(source=task.path, line=line, error="malformed_row", language=task.language,
                        excerpt=f"conversation is not a list of utterances: {decoded[line - 1].strip()}")
        return
    for position, utterance in enumerate(conversation.value):
        first_line = utterance.start_mark.line + 1
        last_line = max(first_line, utterance.end_mark.line + (1 if utterance.end_mark.column else 0))
        fields = dict(language=task.language, doc_id=doc_id, sentence_index=position, label=label)
        bad = [number for number in range(first_line, last_line + 1) if number in bad_lines]
        value = "" if utterance.tag == "tag:yaml.org,2002:null" else utterance.value
        if bad:
            yield _line_error(task, bad[0], *bad_lines[bad[0]], **fields)
        elif label is None:
            yield RawRecord(source=task.path, line=first_line, text=value, error="missing_label",
                            excerpt=f"no 'categories' in file: {value}", **fields)
        else:
            yield RawRecord(source=task.path, line=first_line, text=value, **fields)


_READERS = {
    "text": read_text_file,
    "jsonl": read_jsonl_file,
    "tsv": read_tsv_file,
    "ntrex": read_ntrex_file,
    "sib200": read_sib200_file,
    "chatterbot": read_chatterbot_file,
}


def read_task(task: FileTask) -> Iterator[RawRecord]:
    """Reads one planned file with its format's reader.

    A file that fails to read part way (permission denied, an I/O error, its DOCUMENT_IDS.tsv
    or labels.txt gone bad since planning) ends with one `unreadable_file` reject at line 0
    naming the error; the records read before it stand, and the job goes on.
    """
    read = 0
    try:
        for record in _READERS[task.format](task):
            read += 1
            yield record
    except (OSError, IngestionInputError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        yield RawRecord(source=task.path, line=0, error="unreadable_file", language=task.language,
                        excerpt=f"read failed after {read} records: {reason}")


# --------------------------------------------------------------------------- planning


def default_chatterbot_path() -> str:
    """The data folder of the installed chatterbot-corpus package."""
    import chatterbot_corpus  # Imported here: only this format needs it.

    return os.path.join(os.path.dirname(chatterbot_corpus.__file__), "data")


def _check_readable(path: str, file: bool = False) -> None:
    """Raises IngestionInputError naming path unless it is a readable regular file (or folder,
    unless `file`): a FIFO, device or socket could block or never end, so it is never opened."""
    if not os.path.exists(path):
        raise IngestionInputError(f"{path}: no such file or directory")
    if not os.path.isfile(path) and not os.path.isdir(path):
        raise IngestionInputError(f"{path}: not a regular file or folder (a FIFO, device or socket is not read)")
    if file and not os.path.isfile(path):
        raise IngestionInputError(f"{path}: is a folder, expected a file")
    if not os.access(path, os.R_OK | (os.X_OK if os.path.isdir(path) else 0)):
        raise IngestionInputError(f"{path}: permission denied")


def _files(directory: str, pattern: re.Pattern | None = None, suffix: str | None = None) -> list[str]:
    names = sorted(os.listdir(directory))
    return [os.path.join(directory, name) for name in names
            if os.path.isfile(os.path.join(directory, name))
            and (pattern is None or pattern.match(name)) and (suffix is None or name.endswith(suffix))]


def _subdirectories(directory: str) -> list[str]:
    return [os.path.join(directory, name) for name in sorted(os.listdir(directory))
            if os.path.isdir(os.path.join(directory, name)) and not name.startswith((".", "_"))]


def _language_folder_tasks(fmt: str, path: str, suffix: str) -> list[FileTask]:
    """`<root>/<language>/*<suffix>`; `path` may be the root, one language folder or a file."""
    if os.path.isfile(path):
        folder = os.path.dirname(os.path.abspath(path))
        files = [path]
    elif _files(path, suffix=suffix):
        folder, files = path, _files(path, suffix=suffix)
    else:
        tasks = []
        for folder in _subdirectories(path):
            tasks += _language_folder_tasks(fmt, folder, suffix) if _files(folder, suffix=suffix) else []
        if not tasks:
            raise IngestionInputError(f"{path}: no <language>/*{suffix} files found")
        return tasks
    language = os.path.basename(os.path.normpath(folder))
    root_name = os.path.basename(os.path.dirname(os.path.abspath(folder)))
    return [FileTask(fmt, file, f"{root_name}/{language}/{os.path.basename(file)}", language=language)
            for file in files]


def _tabular_tasks(fmt: str, path: str) -> list[FileTask]:
    suffix = "." + fmt
    if os.path.isfile(path):
        files = [path]
        root = os.path.dirname(os.path.abspath(path))
    else:
        root = path
        files = sorted(os.path.join(directory, name) for directory, _, names in os.walk(path)
                       for name in names if name.endswith(suffix))
        if not files:
            raise IngestionInputError(f"{path}: no *{suffix} files found")
    return [FileTask(fmt, file, os.path.relpath(file, os.path.dirname(os.path.abspath(root)))) for file in files]


def _ntrex_tasks(path: str) -> list[FileTask]:
    if os.path.isfile(path):
        folder, files = os.path.dirname(os.path.abspath(path)), [path]
        if not _NTREX_FILE.match(os.path.basename(path)):
            raise IngestionInputError(f"{path}: not an NTREX file (newstest2019-{{src,ref}}.<code>.txt)")
    else:
        folder, files = path, _files(path, pattern=_NTREX_FILE)
        if not files:
            raise IngestionInputError(f"{path}: no newstest2019-{{src,ref}}.<code>.txt files found")
    doc_ids = os.path.join(folder, _NTREX_DOC_IDS)
    _check_readable(doc_ids, file=True)
    _read_document_ids(doc_ids)  # A broken id file fails here, naming its line, not in a Beam worker.
    return [FileTask("ntrex", file, f"ntrex/{os.path.basename(file)}",
                     language=_NTREX_FILE.match(os.path.basename(file)).group("code"), aux_path=doc_ids)
            for file in files]


def _sib200_tasks(path: str) -> list[FileTask]:
    if os.path.isfile(path):
        folders = [os.path.dirname(os.path.abspath(path))]
        only = os.path.basename(path)
    else:
        folders = _subdirectories(path) if os.path.exists(os.path.join(path, _SIB_LABELS)) else [path]
        only = None
    tasks = []
    for folder in folders:
        labels = os.path.join(os.path.dirname(os.path.abspath(folder)), _SIB_LABELS)
        for split_file, split in _SIB_SPLITS.items():
            file = os.path.join(folder, split_file + ".tsv")
            if os.path.isfile(file) and only in (None, split_file + ".tsv"):
                _check_readable(labels, file=True)
                read_labels(labels)  # Fails here, naming the file, rather than in a Beam worker.
                tasks.append(FileTask("sib200", file, f"sib200/{os.path.basename(folder)}/{split_file}.tsv",
                                      language=os.path.basename(folder), split=split, aux_path=labels))
    if not tasks:
        raise IngestionInputError(f"{path}: no <language>/{{train,dev,test}}.tsv files found next to {_SIB_LABELS}")
    return tasks


def plan_tasks(fmt: str, inputs: Sequence[str]) -> list[FileTask]:
    """Lists the files to read for each input path of a format.

    Args:
      fmt: one of FORMATS.
      inputs: files or folders; empty only for `chatterbot` (the installed corpus).

    Returns:
      One FileTask per file, in a stable order.

    Raises:
      IngestionInputError: naming the path that is missing, unreadable or empty of the format.
    """
    if fmt not in FORMATS:
        raise IngestionInputError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    inputs = list(inputs)
    if not inputs:
        if fmt != "chatterbot":
            raise IngestionInputError(f"format {fmt!r} needs at least one input path")
        inputs = [default_chatterbot_path()]
    tasks: list[FileTask] = []
    for path in inputs:
        path = str(path)
        _check_readable(path)
        try:
            tasks += _path_tasks(fmt, path)
        except OSError as error:  # e.g. a sub-folder that cannot be listed
            raise IngestionInputError(f"{error.filename or path}: {error.strerror or error}") from None
    for task in tasks:
        _check_readable(task.path, file=True)
    return tasks


def _path_tasks(fmt: str, path: str) -> list[FileTask]:
    """The FileTasks of one input path of a format."""
    if fmt == "text":
        return _language_folder_tasks(fmt, path, ".txt")
    if fmt == "chatterbot":
        return [dataclasses.replace(task, doc_prefix="chatterbot/" + task.doc_prefix.split("/", 1)[1])
                for task in _language_folder_tasks(fmt, path, ".yml")]
    if fmt in ("jsonl", "tsv"):
        return _tabular_tasks(fmt, path)
    if fmt == "ntrex":
        return _ntrex_tasks(path)
    return _sib200_tasks(path)
