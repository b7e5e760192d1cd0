"""Readers: one source file in, `RawRecord`s out, each with its file and line number.

Every reader decodes line by line from bytes, so an undecodable line costs that line only
(reason `invalid_utf8`) and never the rest of the file. A UTF-8 byte-order mark at the start
of a file and CRLF line ends are normalised away. A file that yields no record at all yields
one `empty_file` reject instead, so that it is counted and named.

`plan_tasks(format, inputs)` lists the files of each input (raising `IngestionInputError`
naming the path when one is missing, unreadable or holds nothing of that format), and
`read_task(task)` reads one of them; the Beam job runs the second in a FlatMap so that
reading scales out with the number of files.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import re
from collections.abc import Iterator, Sequence

import yaml

from components.ingestion.records import RawRecord

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


def _read_lines(path: str) -> Iterator[tuple[int, str | None, bytes]]:
    """Yields (1-based line number, decoded line or None if undecodable, raw bytes).

    Line ends (LF or CRLF) are removed and a BOM on the first line is dropped.
    """
    with open(path, "rb") as stream:
        for number, raw in enumerate(stream, start=1):
            if raw.endswith(b"\n"):
                raw = raw[:-1]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if number == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM):]
            try:
                yield number, raw.decode("utf-8"), raw
            except UnicodeDecodeError:
                yield number, None, raw


def _is_blank(line: str) -> bool:
    # Only spaces and tabs make a blank line: other Unicode "whitespace" such as U+001C is a
    # control character and must reach validation to be rejected.
    return not line.strip(" \t")


def _invalid_utf8(task: FileTask, number: int, raw: bytes, **fields) -> RawRecord:
    return RawRecord(source=task.path, line=number, error="invalid_utf8",
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
    for number, line, raw in _read_lines(task.path):
        if line is not None and _is_blank(line):
            if sentence:
                document += 1
                sentence = 0
            continue
        fields = dict(language=task.language, doc_id=f"{task.doc_prefix}#{document}", sentence_index=sentence)
        if line is None:
            yield _invalid_utf8(task, number, raw, **fields)
        else:
            yield RawRecord(source=task.path, line=number, text=line, **fields)
        sentence += 1
        produced += 1
    if not produced:
        yield _empty_file(task)


def _optional_str(row: dict, key: str) -> str | None:
    value = row.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"field {key!r} must be a string, got {type(value).__name__}")
    return str(value)


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
    index = row.get("sentence_index")
    if index is not None and index != "":
        try:
            index = int(index)
        except (TypeError, ValueError):
            raise ValueError(f"field 'sentence_index' must be an integer, got {index!r}") from None
        if index < 0:
            raise ValueError(f"field 'sentence_index' must be >= 0, got {index}")
    if doc_id is None:
        # Without a doc id every row is its own document.
        doc_id = f"{task.doc_prefix}:{number}"
        index = 0 if index in (None, "") else index
    elif index in (None, ""):
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
    for number, line, raw in _read_lines(task.path):
        if line is not None and _is_blank(line):
            continue
        produced += 1
        if line is None:
            yield _invalid_utf8(task, number, raw)
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError(f"expected a JSON object, got {type(row).__name__}")
            yield _tabular_record(task, number, row, sentence_counts)
        except ValueError as error:  # json.JSONDecodeError is a ValueError.
            yield RawRecord(source=task.path, line=number, error="malformed_row",
                            excerpt=f"{error}: {line}")
    if not produced:
        yield _empty_file(task)


def read_tsv_file(task: FileTask) -> Iterator[RawRecord]:
    """TSV with a header row naming the columns (`text` required; `language`, `doc_id`,
    `label`, `split`, `sentence_index` optional; others ignored). No quoting: fields are
    split on tabs, so a row with another number of fields than the header is malformed."""
    header: list[str] | None = None
    produced = 0
    sentence_counts: dict[str, int] = collections.Counter()
    for number, line, raw in _read_lines(task.path):
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
            yield _invalid_utf8(task, number, raw)
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
    for number, line, _ in _read_lines(path):
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
    for number, line, raw in _read_lines(task.path):
        produced += 1
        if number > len(doc_ids):
            yield RawRecord(source=task.path, line=number, error="missing_doc_id", language=task.language,
                            excerpt=f"{task.aux_path} has {len(doc_ids)} lines: {_excerpt_of(line, raw)}")
            continue
        fields = dict(language=task.language, doc_id=doc_ids[number - 1], sentence_index=positions[number - 1])
        if line is None:
            yield _invalid_utf8(task, number, raw, **fields)
        else:
            yield RawRecord(source=task.path, line=number, text=line, **fields)
    if not produced:
        yield _empty_file(task)


def read_labels(path: str) -> list[str]:
    """SIB-200 labels.txt: one category per line."""
    labels = []
    for number, line, _ in _read_lines(path):
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
    for number, line, raw in _read_lines(task.path):
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
            yield _invalid_utf8(task, number, raw, language=task.language, split=task.split)
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
    strings is one `malformed_row` reject.
    """
    decoded = []
    bad_lines: dict[int, bytes] = {}
    for number, line, raw in _read_lines(task.path):
        if line is None:
            bad_lines[number] = raw
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
    for index, conversation in enumerate(conversations.value):
        doc_id = f"{task.doc_prefix}#{index}"
        line = conversation.start_mark.line + 1
        if not isinstance(conversation, yaml.SequenceNode) or not all(
                isinstance(utterance, yaml.ScalarNode) for utterance in conversation.value):
            yield RawRecord(source=task.path, line=line, error="malformed_row", language=task.language,
                            excerpt=f"conversation is not a list of utterances: {decoded[line - 1].strip()}")
            continue
        for position, utterance in enumerate(conversation.value):
            first_line = utterance.start_mark.line + 1
            last_line = max(first_line, utterance.end_mark.line + (1 if utterance.end_mark.column else 0))
            fields = dict(language=task.language, doc_id=doc_id, sentence_index=position, label=label)
            bad = [number for number in range(first_line, last_line + 1) if number in bad_lines]
            value = "" if utterance.tag == "tag:yaml.org,2002:null" else utterance.value
            if bad:
                yield _invalid_utf8(task, bad[0], bad_lines[bad[0]], **fields)
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
    """Reads one planned file with its format's reader."""
    return _READERS[task.format](task)


# --------------------------------------------------------------------------- planning


def default_chatterbot_path() -> str:
    """The data folder of the installed chatterbot-corpus package."""
    import chatterbot_corpus  # Imported here: only this format needs it.

    return os.path.join(os.path.dirname(chatterbot_corpus.__file__), "data")


def _check_readable(path: str) -> None:
    if not os.path.exists(path):
        raise IngestionInputError(f"{path}: no such file or directory")
    if not os.access(path, os.R_OK):
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
    _check_readable(doc_ids)
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
                _check_readable(labels)
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
        if fmt == "text":
            tasks += _language_folder_tasks(fmt, path, ".txt")
        elif fmt == "chatterbot":
            tasks += [dataclasses.replace(task, doc_prefix="chatterbot/" + task.doc_prefix.split("/", 1)[1])
                      for task in _language_folder_tasks(fmt, path, ".yml")]
        elif fmt in ("jsonl", "tsv"):
            tasks += _tabular_tasks(fmt, path)
        elif fmt == "ntrex":
            tasks += _ntrex_tasks(path)
        else:
            tasks += _sib200_tasks(path)
    for task in tasks:
        _check_readable(task.path)
    return tasks
