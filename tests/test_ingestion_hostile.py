"""Ingestion under hostile input: every record read is accepted or rejected with a reason that
names its file and line, whatever its bytes or values; no record, file or field ends the job."""

import io
import json
import os

import pytest
from click.testing import CliRunner

from components.ingestion import beam_job, readers
from components.ingestion.beam_job import run_ingestion
from components.ingestion.cli import ingest
from components.ingestion.io import read_examples
from components.ingestion.records import validate_record


def _rejects(output):
    with open(os.path.join(output, "rejects.jsonl"), encoding="utf-8") as stream:
        return [json.loads(line) for line in stream]


def _assert_counts_add_up(summary, output):
    assert summary["records_read"] == summary["accepted"] + summary["rejected"]
    assert sum(summary["rejects_by_reason"].values()) == summary["rejected"]
    assert len(_rejects(output)) == summary["rejected"]
    assert len(read_examples(str(output))) == summary["accepted"]


# ----------------------------------------------------------------------------------- hostile values

# (line of JSONL, reason or None when accepted); the line number is the position + 1.
HOSTILE_JSONL = [
    ('{"text": "Hello.", "language": "en", "doc_id": 7, "label": 3, "sentence_index": "2"}', None),
    ('{"text": "lone \\ud800 surrogate", "language": "en"}', "invalid_unicode"),
    ('{"text": "fine text", "language": "en", "label": "bad \\udfff label"}', "invalid_unicode"),
    ('{"text": "fine text", "language": "e\\ud800n"}', "invalid_unicode"),
    ('{"text": "fine text", "language": "en", "label": 1e400}', "malformed_row"),  # inf
    ('{"text": "fine text", "language": "en", "label": NaN}', "malformed_row"),
    ('{"text": "fine text", "language": "en", "label": 2.5}', "malformed_row"),
    ('{"text": "fine text", "language": "en", "label": ' + "9" * 40 + "}", "malformed_row"),
    ('{"text": "fine text", "language": "en", "doc_id": ' + "9" * 5000 + "}", "malformed_row"),
    ('{"text": "fine text", "language": "en", "label": {"nested": [1, {"x": 2}]}}', "malformed_row"),
    ('{"text": "fine text", "language": "en", "doc_id": "d", "sentence_index": 1.5}', "malformed_row"),
    ('{"text": "fine text", "language": "en", "doc_id": "d", "sentence_index": -1}', "malformed_row"),
    ('{"text": "fine text", "language": "en", "doc_id": "d", "sentence_index": 1e999}', "malformed_row"),
    ('{"text": "fine text", "language": "en", "doc_id": "d", "sentence_index": ' + str(2**40) + "}",
     "malformed_row"),
    ('{"text": "fine text", "language": "en", "doc_id": "d", "sentence_index": true}', "malformed_row"),
    ('{"text": "fine text", "language": "en", "doc_id": "d", "sentence_index": "٣"}', "malformed_row"),
    ('{"text": ' + "[" * 100_000 + "]" * 100_000 + ', "language": "en"}', "malformed_row"),
    ("[" * 100_000, "malformed_row"),
    ('{"text": ["a", "list"], "language": "en"}', "malformed_row"),
    ('{"text": "Surrogate in the doc id.", "language": "en", "doc_id": "x\\udcffy"}', None),
    ('{"text": "a\\u0000b", "language": "en"}', "control_characters"),
]


def test_hostile_jsonl_values_are_rejected_one_by_one(tmp_path):
    corpus = tmp_path / "hostile.jsonl"
    corpus.write_text("\n".join(line for line, _ in HOSTILE_JSONL) + "\n", encoding="utf-8")
    output = tmp_path / "out"
    summary = run_ingestion("jsonl", [str(corpus)], str(output), max_reject_ratio=1.0)
    _assert_counts_add_up(summary, output)
    expected = {number: reason for number, (_, reason) in enumerate(HOSTILE_JSONL, start=1) if reason}
    assert summary["records_read"] == len(HOSTILE_JSONL)
    assert summary["accepted"] == len(HOSTILE_JSONL) - len(expected)
    assert {(r["source"], r["line"]): r["reason"] for r in _rejects(output)} == {
        (str(corpus), number): reason for number, reason in expected.items()}
    rows = {row["text"]: row for row in read_examples(str(output))}
    assert (rows["Hello."]["doc_id"], rows["Hello."]["label"], rows["Hello."]["sentence_index"]) == ("7", "3", 2)
    assert rows["Surrogate in the doc id."]["doc_id"] == "x\\udcffy"
    surrogate = [r for r in _rejects(output) if r["line"] == 2][0]
    assert surrogate["excerpt"] == "lone \\ud800 surrogate"


def test_file_name_that_is_not_utf8_is_shown_escaped(tmp_path):
    folder = tmp_path / "corpus" / "en"
    folder.mkdir(parents=True)
    name = os.fsdecode(b"caf\xe9.txt")  # Latin-1 name: a lone surrogate in Python
    with open(os.path.join(str(folder), name), "wb") as stream:
        stream.write(b"One sentence.\n\x00 and a control.\n")
    output = tmp_path / "out"
    summary = run_ingestion("text", [str(tmp_path / "corpus")], str(output), max_reject_ratio=1.0)
    _assert_counts_add_up(summary, output)
    assert (summary["accepted"], summary["rejected"]) == (1, 1)
    (reject,) = _rejects(output)
    assert reject["source"] == f"{folder}/caf\\udce9.txt" and reject["line"] == 2
    (row,) = read_examples(str(output))
    assert row["source"] == f"{folder}/caf\\udce9.txt:1"


# ----------------------------------------------------------------------------------- line ends


def test_ntrex_lone_cr_ends_a_line_like_crlf(tmp_path):
    (tmp_path / "DOCUMENT_IDS.tsv").write_bytes(b"a\ra\r\nb\nb\n")
    (tmp_path / "newstest2019-ref.deu.txt").write_bytes(b"Eins.\rZwei.\r\nDrei.\nVier.\r")
    records = [record for task in readers.plan_tasks("ntrex", [str(tmp_path)])
               for record in readers.read_task(task)]
    assert [(r.line, r.text, r.doc_id, r.sentence_index) for r in records] == [
        (1, "Eins.", "a", 0), (2, "Zwei.", "a", 1), (3, "Drei.", "b", 0), (4, "Vier.", "b", 1)]
    assert [validate_record(record).text for record in records] == ["Eins.", "Zwei.", "Drei.", "Vier."]


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 64])
def test_line_ends_split_across_read_chunks(monkeypatch, chunk):
    monkeypatch.setattr(readers, "_CHUNK_BYTES", chunk)
    data = b"ab\r\ncd\r\ref\n\ngh\r"
    lines = list(readers._split_lines(io.BytesIO(data)))
    assert lines == [(b"ab", 2), (b"cd", 2), (b"", 0), (b"ef", 2), (b"", 0), (b"gh", 2)]


def test_over_long_line_is_rejected_without_reading_it_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 100)
    monkeypatch.setattr(readers, "_KEPT_BYTES", 10)
    monkeypatch.setattr(readers, "_CHUNK_BYTES", 16)
    path = tmp_path / "en" / "a.txt"
    path.parent.mkdir()
    path.write_bytes(b"short.\n" + b"x" * 1000 + b"\r\nafter.\n" + b"y" * 500)
    records = [record for task in readers.plan_tasks("text", [str(tmp_path)]) for record in readers.read_task(task)]
    assert [(r.line, r.text, r.error, r.excerpt) for r in records] == [
        (1, "short.", None, None), (2, None, "too_long", "x" * 10), (3, "after.", None, None),
        (4, None, "too_long", "y" * 10)]


# ----------------------------------------------------------------------------------- hostile files


def test_fifo_device_and_folder_are_refused_naming_the_path(tmp_path, time_limit):
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    with time_limit():
        for fmt, path in [("jsonl", fifo), ("text", "/dev/zero"), ("tsv", "/dev/null")]:
            with pytest.raises(readers.IngestionInputError, match=f"{path}: not a regular file or folder"):
                readers.plan_tasks(fmt, [str(path)])
        # A FIFO among the files of a folder is named too, before anything is read.
        with pytest.raises(readers.IngestionInputError, match=f"{fifo}: not a regular file"):
            readers.plan_tasks("jsonl", [str(tmp_path)])
        result = CliRunner().invoke(ingest, ["--format", "text", "--input", "/dev/zero",
                                             "--output", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "/dev/zero: not a regular file or folder" in result.output and "Traceback" not in result.output
    ntrex = tmp_path / "ntrex"
    (ntrex / "DOCUMENT_IDS.tsv").mkdir(parents=True)
    (ntrex / "newstest2019-ref.deu.txt").write_text("Eins.\n")
    with pytest.raises(readers.IngestionInputError, match="DOCUMENT_IDS.tsv: is a folder, expected a file"):
        readers.plan_tasks("ntrex", [str(ntrex)])


def test_unreadable_input_is_named_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "x", "language": "en"}\n')
    # Tests may run as root, for whom chmod 000 changes nothing: the access check is faked.
    monkeypatch.setattr(readers.os, "access", lambda p, mode: str(p) != str(path))
    with pytest.raises(readers.IngestionInputError, match=f"{path}: permission denied"):
        readers.plan_tasks("jsonl", [str(tmp_path)])


def test_file_failing_part_way_is_one_reject_and_the_job_goes_on(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    for language in ("en", "de"):
        (corpus / language).mkdir(parents=True)
        (corpus / language / "a.txt").write_text("One.\nTwo.\nThree.\n", encoding="utf-8")
    real_reader = readers._READERS["text"]

    def failing_reader(task):
        records = real_reader(task)
        yield next(records)
        if "/de/" in task.path:
            raise PermissionError(13, "Permission denied", task.path)
        yield from records

    monkeypatch.setitem(readers._READERS, "text", failing_reader)
    output = tmp_path / "out"
    summary = run_ingestion("text", [str(corpus)], str(output), max_reject_ratio=1.0)
    _assert_counts_add_up(summary, output)
    assert (summary["records_read"], summary["accepted"], summary["rejected"]) == (5, 4, 1)
    assert _rejects(output) == [{"source": str(corpus / "de" / "a.txt"), "line": 0, "reason": "unreadable_file",
                                 "excerpt": "read failed after 1 records: Permission denied"}]


def test_failed_job_leaves_no_beam_temp_folders(tmp_path, monkeypatch):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"text": f"Sentence {i}.", "language": "en"}) + "\n" for i in range(50)))

    def broken(record):
        raise RuntimeError("disk full")

    monkeypatch.setattr(beam_job, "to_tf_example", broken)
    output = tmp_path / "out"
    with pytest.raises(Exception, match="disk full"):
        run_ingestion("jsonl", [str(corpus)], str(output))
    assert [path for path in output.rglob("*") if "beam-temp" in path.name] == []


def test_removing_beam_temp_on_failure_removes_every_sink_folder(tmp_path):
    for folder in (tmp_path, tmp_path / "Split-train", tmp_path / "Split-test"):
        (folder / "beam-temp-data-0123").mkdir(parents=True)
        (folder / "beam-temp-data-0123" / "shard").write_text("partial")
    (tmp_path / "Split-train" / "data_tfrecord-00000-of-00001.gz").write_text("kept")
    with pytest.raises(KeyboardInterrupt):
        with beam_job.removing_beam_temp_on_failure(str(tmp_path)):
            raise KeyboardInterrupt
    assert sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*")) == [
        "Split-test", "Split-train", "Split-train/data_tfrecord-00000-of-00001.gz"]


def test_chatterbot_alias_bomb_costs_one_reject_per_alias(tmp_path):
    folder = tmp_path / "data" / "english"
    folder.mkdir(parents=True)
    utterances = "".join(f"  - line {i}\n" for i in range(1000))
    aliases = "".join("- *c\n" for _ in range(1000))
    (folder / "bomb.yml").write_text(f"categories: [bomb]\nconversations:\n- &c\n{utterances}{aliases}", encoding="utf-8")
    records = [record for task in readers.plan_tasks("chatterbot", [str(tmp_path / "data")])
               for record in readers.read_task(task)]
    # 1,000 utterances of the first conversation, then one reject per alias (not 10**6 records).
    assert len(records) == 2000
    assert [r.error for r in records[:1000]] == [None] * 1000
    assert [(r.error, r.line, r.excerpt) for r in records[1000:]] == [
        ("malformed_row", 3, f"conversation {index} is a YAML alias of the one at line 3") for index in range(2, 1002)]
