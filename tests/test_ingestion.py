"""Ingestion: language tags, readers, validation, the Beam job, the CLI, on hand-written and real data."""

import collections
import csv
import gzip
import json
import os
import pathlib

import pytest
from click.testing import CliRunner

from components.ingestion import readers
from components.ingestion.beam_job import run_ingestion
from components.ingestion.cli import ingest
from components.ingestion.io import read_examples
from components.ingestion.languages import normalize_language
from components.ingestion.records import AcceptedRecord, RawRecord, Rejected, split_for_doc, validate_record
from components.ingestion.summary import RejectRatioError

# NTREX code, SIB-200 code, tag: the 16 mappings of shared/data/languages.tsv.
GOLDEN_LANGUAGES = [
    ("eng", "eng_Latn", "en"), ("deu", "deu_Latn", "de"), ("fra", "fra_Latn", "fr"),
    ("spa", "spa_Latn", "es"), ("rus", "rus_Cyrl", "ru"), ("zho-CN", "zho_Hans", "zh-Hans"),
    ("zho-TW", "zho_Hant", "zh-Hant"), ("jpn", "jpn_Jpan", "ja"), ("kor", "kor_Hang", "ko"),
    ("arb", "arb_Arab", "ar"), ("hin", "hin_Deva", "hi"), ("ben", "ben_Beng", "bn"),
    ("tha", "tha_Thai", "th"), ("tur", "tur_Latn", "tr"), ("ell", "ell_Grek", "el"),
    ("swa", "swh_Latn", "sw"),
]
TAGS = sorted(tag for _, _, tag in GOLDEN_LANGUAGES)
SIB_LABELS = ["science/technology", "travel", "politics", "sports", "health", "entertainment", "geography"]


def _reasons(summary):
    return summary["rejects_by_reason"]


def _rejects(output):
    with open(os.path.join(output, "rejects.jsonl"), encoding="utf-8") as stream:
        return [json.loads(line) for line in stream]


# ----------------------------------------------------------------------------------- languages


@pytest.mark.parametrize("ntrex_code, sib_code, tag", GOLDEN_LANGUAGES)
def test_golden_language_mappings(ntrex_code, sib_code, tag):
    assert normalize_language(ntrex_code) == tag
    assert normalize_language(sib_code) == tag
    assert normalize_language(tag) == tag


@pytest.mark.parametrize("code, tag", [
    ("zho", "zh"), ("zh", "zh"), ("cmn_Hans", "zh-Hans"), ("zh-TW", "zh-Hant"), ("ZH-hans", "zh-Hans"),
    ("zh-Hant-HK", "zh-Hant"), ("swh", "sw"), ("swa", "sw"), ("arb", "ar"), ("arb_Latn", "ar-Latn"),
    ("eng-GB", "en-GB"), ("en_US", "en-US"), ("srp-Latn", "sr-Latn"), ("srp-Cyrl", "sr-Cyrl"),
    ("aze-Latn", "az"), ("azb_Arab", "az-Arab"), ("tgk-Cyrl", "tg"), ("ckb-Arab", "ckb"), ("pt-BR", "pt-BR"),
    ("por-BR", "pt-BR"), ("ger", "de"), ("iw", "he"), ("yue", "yue"), ("yue_Hant", "yue"), ("fil", "fil"),
    ("english", "en"), ("chinese", "zh-Hans"), ("tchinese", "zh-Hant"), ("traditionalchinese", "zh-Hant"),
    ("portuguese", "pt"), ("bangla", "bn"), ("bengali", "bn"), ("hinglish", "hi-Latn"), ("oriya", "or"),
    (" de ", "de"),
])
def test_more_language_mappings(code, tag):
    assert normalize_language(code) == tag


@pytest.mark.parametrize("code", ["", "xx", "qqq", "english-ish", "en-Latn-US-x-private-thing!", "123", None])
def test_unknown_language_is_none(code):
    assert normalize_language(code) is None


def test_shared_languages_table(ntrex_dir):
    with open(ntrex_dir.parent / "languages.tsv", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream, delimiter="\t"))
    assert len(rows) == 16
    for row in rows:
        assert (normalize_language(row["ntrex"]), normalize_language(row["sib200"])) == (row["bcp47"], row["bcp47"])


def test_every_ntrex_language_code_maps(ntrex_dir):
    codes = [line.split()[0] for line in (ntrex_dir / "LANGUAGES.tsv").read_text(encoding="utf-8").splitlines()
             if line.strip()]
    assert len(codes) == len(set(codes)) == 129  # the file lists 129 codes
    tags = {code: normalize_language(code) for code in codes}
    assert [code for code, tag in tags.items() if tag is None] == []
    # Region variants stay apart, scripts of Serbian stay apart: no two NTREX references merge.
    assert len(set(tags.values())) == 129


def test_every_chatterbot_folder_maps():
    folders = os.listdir(readers.default_chatterbot_path())
    assert len(folders) > 10
    assert {folder: normalize_language(folder) for folder in folders if normalize_language(folder) is None} == {}


# ----------------------------------------------------------------------------------- validation


def _raw(text, **fields):
    return RawRecord(source="f.txt", line=3, text=text, **{"language": "eng", "doc_id": "d", **fields})


@pytest.mark.parametrize("record, reason", [
    (_raw("a\x00b"), "control_characters"),
    (_raw("a\x85b"), "control_characters"),  # C1 control (NEL) that str.strip() would eat
    (_raw("a\rb"), "control_characters"),
    (_raw("x" * 21), "too_long"),
    (_raw("   "), "empty_text"),
    (_raw("hello", language=None), "missing_language"),
    (_raw("hello", language="klingon"), "unknown_language"),
    (_raw("hello", split="holdout"), "unknown_split"),
    (RawRecord(source="f.txt", line=3, error="invalid_utf8", excerpt="b\\xff"), "invalid_utf8"),
])
def test_validation_reasons(record, reason):
    outcome = validate_record(record, max_record_chars=20)
    assert isinstance(outcome, Rejected)
    assert (outcome.reason, outcome.source, outcome.line) == (reason, "f.txt", 3)


def test_validation_accepts_and_normalises():
    outcome = validate_record(_raw("  tab\tinside  ", language="zho_Hant", split="dev", label="x"), max_record_chars=20)
    assert outcome == AcceptedRecord(text="tab\tinside", language="zh-Hant", doc_id="d", sentence_index=0,
                                     label="x", source="f.txt:3", split="eval")
    assert validate_record(_raw("x" * 20), max_record_chars=20).text == "x" * 20


def test_hash_split_is_stable_and_about_one_in_ten():
    splits = collections.Counter(split_for_doc(f"doc-{index}") for index in range(2000))
    assert 150 < splits["eval"] < 250 and splits["eval"] + splits["train"] == 2000
    # Fixed values: the split of a document must not change between runs or machines.
    assert all(split_for_doc(f"doc-{index}") == _md5_split(f"doc-{index}") for index in range(200))


def _md5_split(doc_id):
    import hashlib
    return "eval" if int.from_bytes(hashlib.md5(doc_id.encode()).digest()[:8], "big") % 10 == 0 else "train"


# ----------------------------------------------------------------------------------- readers


def _read_all(fmt, *inputs):
    return [record for task in readers.plan_tasks(fmt, [str(path) for path in inputs])
            for record in readers.read_task(task)]


def test_text_reader_documents_and_lines(tmp_path):
    (tmp_path / "corpus" / "de").mkdir(parents=True)
    (tmp_path / "corpus" / "de" / "a.txt").write_bytes(
        b"\xef\xbb\xbfEins.\r\nZwei.\r\n\r\n\r\nDrei \xff.\nVier.\n\n")
    records = _read_all("text", tmp_path / "corpus")
    assert [(r.line, r.text, r.doc_id, r.sentence_index, r.error) for r in records] == [
        (1, "Eins.", "corpus/de/a.txt#0", 0, None),
        (2, "Zwei.", "corpus/de/a.txt#0", 1, None),
        (5, None, "corpus/de/a.txt#1", 0, "invalid_utf8"),
        (6, "Vier.", "corpus/de/a.txt#1", 1, None),
    ]
    assert {r.language for r in records} == {"de"}
    assert records[2].excerpt == "Drei \\xff."


def test_jsonl_reader(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join([
        json.dumps({"text": "Hola.", "language": "spa", "doc_id": "d1"}),
        json.dumps({"text": "Otra.", "language": "es", "doc_id": "d1", "label": "x", "split": "test"}),
        "",
        json.dumps({"text": "Solo.", "language": "es"}),
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"language": "es"}),
        json.dumps({"text": 5, "language": "es"}),
    ]) + "\n", encoding="utf-8")
    records = _read_all("jsonl", path)
    assert [(r.line, r.text, r.language, r.doc_id, r.sentence_index, r.label, r.split, r.error) for r in records] == [
        (1, "Hola.", "spa", "d1", 0, None, None, None),
        (2, "Otra.", "es", "d1", 1, "x", "test", None),
        (4, "Solo.", "es", f"{tmp_path.name}/c.jsonl:4", 0, None, None, None),
        (5, None, None, None, 0, None, None, "malformed_row"),
        (6, None, None, None, 0, None, None, "malformed_row"),
        (7, None, None, None, 0, None, None, "malformed_row"),
        (8, None, None, None, 0, None, None, "malformed_row"),
    ]


def test_tsv_reader(tmp_path):
    path = tmp_path / "c.tsv"
    path.write_text("language\ttext\tlabel\textra\nfra\tBonjour.\tgreet\tz\nfra\tSalut.\n\tSans langue.\t\t\n",
                    encoding="utf-8")
    records = _read_all("tsv", path)
    assert [(r.line, r.text, r.language, r.label, r.error) for r in records] == [
        (2, "Bonjour.", "fra", "greet", None),
        (3, None, None, None, "malformed_row"),
        (4, "Sans langue.", None, None, None),
    ]
    (tmp_path / "bad.tsv").write_text("lang\tsentence\nen\thi\n", encoding="utf-8")
    assert [(r.line, r.error) for r in _read_all("tsv", tmp_path / "bad.tsv")] == [(1, "malformed_header")]
    (tmp_path / "head_only.tsv").write_text("text\tlanguage\n", encoding="utf-8")
    assert [(r.line, r.error) for r in _read_all("tsv", tmp_path / "head_only.tsv")] == [(0, "empty_file")]


def test_ntrex_reader(tmp_path):
    (tmp_path / "DOCUMENT_IDS.tsv").write_text("a\na\nb\na\n", encoding="utf-8")
    (tmp_path / "newstest2019-ref.zho-TW.txt").write_bytes("一。\r\n二。\r\n\r\n四。\r\n五。\r\n".encode())
    (tmp_path / "README.md").write_text("not data")
    records = _read_all("ntrex", tmp_path)
    assert [(r.line, r.text, r.language, r.doc_id, r.sentence_index, r.error) for r in records] == [
        (1, "一。", "zho-TW", "a", 0, None),
        (2, "二。", "zho-TW", "a", 1, None),
        (3, "", "zho-TW", "b", 0, None),
        (4, "四。", "zho-TW", "a", 2, None),
        (5, None, "zho-TW", None, 0, "missing_doc_id"),
    ]
    assert validate_record(records[2]).reason == "empty_text"


def test_sib200_reader(tmp_path):
    (tmp_path / "labels.txt").write_text("\n".join(SIB_LABELS) + "\n", encoding="utf-8")
    (tmp_path / "swh_Latn").mkdir()
    (tmp_path / "swh_Latn" / "dev.tsv").write_text(
        "index_id\tcategory\ttext\n7\thealth\tAfya.\n8\tcooking\tChakula.\n9\t\tHakuna.\n10\thealth\n",
        encoding="utf-8")
    records = _read_all("sib200", tmp_path)
    assert [(r.line, r.doc_id, r.label, r.split, r.language, r.error) for r in records] == [
        (2, "7", "health", "eval", "swh_Latn", None),
        (3, "8", "cooking", "eval", "swh_Latn", "missing_label"),
        (4, "9", None, "eval", "swh_Latn", "missing_label"),
        (5, None, None, None, "swh_Latn", "malformed_row"),
    ]


def test_chatterbot_reader_keeps_lines_and_isolates_bad_bytes(tmp_path):
    folder = tmp_path / "data" / "tchinese"
    folder.mkdir(parents=True)
    (folder / "greetings.yml").write_bytes(
        "categories:\n- greetings\n- other\nconversations:\n- - 你好\n  - 嗨\n- - bad \xff here\n  - fine\n"
        "- just a string\n".encode("utf-8", errors="surrogateescape").replace(b"\xc3\xbf", b"\xff"))
    (folder / "empty.yml").write_bytes(b"")
    (folder / "nocat.yml").write_text("conversations:\n- - hi\n", encoding="utf-8")
    records = _read_all("chatterbot", tmp_path / "data")
    assert [(r.source.rsplit("/", 1)[1], r.line, r.text, r.doc_id, r.sentence_index, r.label, r.error)
            for r in records] == [
        ("empty.yml", 0, None, None, 0, None, "empty_file"),
        ("greetings.yml", 5, "你好", "chatterbot/tchinese/greetings.yml#0", 0, "greetings", None),
        ("greetings.yml", 6, "嗨", "chatterbot/tchinese/greetings.yml#0", 1, "greetings", None),
        ("greetings.yml", 7, None, "chatterbot/tchinese/greetings.yml#1", 0, "greetings", "invalid_utf8"),
        ("greetings.yml", 8, "fine", "chatterbot/tchinese/greetings.yml#1", 1, "greetings", None),
        ("greetings.yml", 9, None, None, 0, None, "malformed_row"),
        ("nocat.yml", 2, "hi", "chatterbot/tchinese/nocat.yml#0", 0, None, "missing_label"),
    ]
    assert {r.language for r in records} == {"tchinese"}


@pytest.mark.parametrize("fmt", ["text", "ntrex", "sib200", "jsonl"])
def test_missing_input_path_names_it(tmp_path, fmt):
    with pytest.raises(readers.IngestionInputError, match=str(tmp_path / "nowhere")):
        readers.plan_tasks(fmt, [str(tmp_path / "nowhere")])


def test_folder_without_files_of_the_format_names_it(tmp_path):
    with pytest.raises(readers.IngestionInputError, match=f"{tmp_path}: no newstest2019"):
        readers.plan_tasks("ntrex", [str(tmp_path)])
    (tmp_path / "newstest2019-src.eng.txt").write_text("x\n")
    with pytest.raises(readers.IngestionInputError, match="DOCUMENT_IDS.tsv: no such file"):
        readers.plan_tasks("ntrex", [str(tmp_path)])


# ----------------------------------------------------------------------------------- Beam job, tiny


def test_text_format_end_to_end(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "ko").mkdir(parents=True)
    (corpus / "th").mkdir()
    (corpus / "ko" / "a.txt").write_text("첫째.\n둘째.\n\n셋째.\n", encoding="utf-8")
    (corpus / "th" / "b.txt").write_text("หนึ่ง\nสอง\nสาม\n", encoding="utf-8")
    summary = run_ingestion("text", [str(corpus)], str(tmp_path / "out"))
    assert (summary["records_read"], summary["accepted"], summary["rejected"]) == (6, 6, 0)
    assert summary["by_language"] == {"ko": 3, "th": 3}
    assert summary["languages"]["ko"] == {"records": 3, "documents": 2, "characters": 9, "labels": {}}
    assert summary["languages"]["th"]["documents"] == 1
    assert summary["split_names"] == ["train", "eval"]
    rows = read_examples(str(tmp_path / "out"))
    assert sorted((row["doc_id"], row["sentence_index"], row["text"]) for row in rows) == [
        ("corpus/ko/a.txt#0", 0, "첫째."), ("corpus/ko/a.txt#0", 1, "둘째."), ("corpus/ko/a.txt#1", 0, "셋째."),
        ("corpus/th/b.txt#0", 0, "หนึ่ง"), ("corpus/th/b.txt#0", 1, "สอง"), ("corpus/th/b.txt#0", 2, "สาม"),
    ]
    for row in rows:
        assert row["split"] == split_for_doc(row["doc_id"])
        assert "label" not in row
    assert {row["source"] for row in rows if row["language"] == "th"} == {f"{corpus}/th/b.txt:{n}" for n in (1, 2, 3)}
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["accepted"] == 6
    assert (tmp_path / "out" / "rejects.jsonl").read_text() == ""
    # Both always-present splits have a GZIP shard even when one got no record.
    for split in ("train", "eval"):
        assert list((tmp_path / "out" / f"Split-{split}").glob("data_tfrecord-*.gz"))


def test_jsonl_and_tsv_through_the_cli(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text(
        json.dumps({"text": "Γειά.", "language": "ell", "label": "greet", "split": "validation"}) + "\n" +
        json.dumps({"text": "Χαίρε.", "language": "el", "label": "greet", "split": "train"}) + "\n",
        encoding="utf-8")
    (tmp_path / "b.tsv").write_text("text\tlanguage\tsplit\tdoc_id\nमैं\thin\ttest\tx\nतुम\thi\ttest\tx\n",
                                    encoding="utf-8")
    result = CliRunner().invoke(ingest, ["--format", "jsonl", "--input", str(tmp_path / "in"),
                                         "--output", str(tmp_path / "o1")])
    assert result.exit_code == 0, result.output
    rows = read_examples(str(tmp_path / "o1"))
    assert sorted((row["split"], row["language"], row["label"]) for row in rows) == [
        ("eval", "el", "greet"), ("train", "el", "greet")]
    result = CliRunner().invoke(ingest, ["--format", "tsv", "--input", str(tmp_path / "b.tsv"),
                                         "--output", str(tmp_path / "o2")])
    assert result.exit_code == 0, result.output
    assert '"test": 2' in result.output
    rows = read_examples(str(tmp_path / "o2"), "test")
    assert sorted((row["doc_id"], row["sentence_index"], row["text"]) for row in rows) == [
        ("x", 0, "मैं"), ("x", 1, "तुम")]
    assert sorted(os.listdir(tmp_path / "o2")) == ["Split-eval", "Split-test", "Split-train", "rejects.jsonl",
                                                   "summary.json"]


def test_cli_errors(tmp_path):
    runner = CliRunner()
    result = runner.invoke(ingest, ["--format", "xml", "--input", str(tmp_path), "--output", str(tmp_path / "o")])
    assert result.exit_code == 2 and "xml" in result.output
    missing = tmp_path / "does-not-exist"
    result = runner.invoke(ingest, ["--format", "text", "--input", str(missing), "--output", str(tmp_path / "o")])
    assert result.exit_code == 1 and str(missing) in result.output


# ----------------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def ntrex_output(ntrex_dir, tmp_path_factory):
    output = tmp_path_factory.mktemp("ntrex")
    return run_ingestion("ntrex", [str(ntrex_dir)], str(output)), output


def test_ntrex_exact_counts(ntrex_output, ntrex_lines, ntrex_documents):
    summary, _ = ntrex_output
    assert (summary["records_read"], summary["accepted"], summary["rejected"]) == (16 * ntrex_lines, 16 * ntrex_lines, 0)
    assert summary["by_language"] == {tag: ntrex_lines for tag in TAGS}
    assert {tag: detail["documents"] for tag, detail in summary["languages"].items()} == {tag: ntrex_documents for tag in TAGS}
    assert sum(summary["splits"].values()) == 16 * ntrex_lines and summary["split_names"] == ["train", "eval"]
    assert summary["rejects_by_reason"] == {}


def test_ntrex_documents_never_cross_splits(ntrex_output, ntrex_dir, ntrex_lines, ntrex_documents):
    summary, output = ntrex_output
    rows = read_examples(str(output))
    assert len(rows) == 16 * ntrex_lines
    splits_of_doc = collections.defaultdict(set)
    positions = collections.defaultdict(list)
    for row in rows:
        splits_of_doc[row["doc_id"]].add(row["split"])
        positions[(row["language"], row["doc_id"])].append(row["sentence_index"])
    assert len(splits_of_doc) == ntrex_documents
    assert all(len(splits) == 1 for splits in splits_of_doc.values())
    eval_docs = {doc for doc, splits in splits_of_doc.items() if splits == {"eval"}}
    assert 0 < len(eval_docs) < ntrex_documents
    # Every document's sentences are numbered 0..n-1 in every language.
    assert all(sorted(found) == list(range(len(found))) for found in positions.values())
    assert summary["splits"]["eval"] == sum(len(found) for (_, doc), found in positions.items() if doc in eval_docs)
    # Line 1 of the English source is the first sentence of the first document.
    first = next(row for row in rows if row["source"] == f"{ntrex_dir}/newstest2019-src.eng.txt:1")
    expected = (ntrex_dir / "newstest2019-src.eng.txt").read_bytes().split(b"\r\n")[0].decode().strip()
    assert (first["text"], first["language"], first["sentence_index"]) == (expected, "en", 0)


def test_sib200_exact_counts(sib200_dir, tmp_path):
    # Rows per split from the files in use: 701/99/204 in full, fewer in the committed sample.
    per_split = {split: len((sib200_dir / "eng_Latn" / f"{split}.tsv").read_text(encoding="utf-8").splitlines()) - 1
            for split in ("train", "dev", "test")}
    total = sum(per_split.values())
    summary = run_ingestion("sib200", [str(sib200_dir)], str(tmp_path))
    assert (summary["records_read"], summary["accepted"], summary["rejected"]) == (16 * total, 16 * total, 0)
    assert summary["splits"] == {"train": 16 * per_split["train"], "eval": 16 * per_split["dev"], "test": 16 * per_split["test"]}
    assert summary["split_names"] == ["train", "eval", "test"]
    for tag in TAGS:
        labels = summary["languages"][tag]["labels"]
        assert set(labels) == set(SIB_LABELS) and sum(labels.values()) == total
    rows = read_examples(str(tmp_path), "test")
    per_language = collections.Counter(row["language"] for row in rows)
    assert per_language == {tag: per_split["test"] for tag in TAGS}
    assert all(row["label"] in SIB_LABELS for row in rows)
    # Parallel rows share their doc id (index_id) across languages.
    docs = collections.defaultdict(set)
    for row in rows:
        docs[row["language"]].add(row["doc_id"])
    assert len({frozenset(ids) for ids in docs.values()}) == 1 and len(docs["en"]) == per_split["test"]


def test_chatterbot_default_corpus():
    import tempfile
    with tempfile.TemporaryDirectory() as output:
        summary = run_ingestion("chatterbot", [], output)
    assert len(summary["by_language"]) > 10
    assert summary["accepted"] + summary["rejected"] == summary["records_read"] > 10_000
    assert set(summary["rejects_by_reason"]) <= {"malformed_row"}
    assert summary["languages"]["zh-Hant"]["labels"]["greetings"] > 0


# ----------------------------------------------------------------------------------- corrupted real data

N_LINES = 40


@pytest.fixture()
def corrupted_ntrex(ntrex_dir, tmp_path):
    """First N_LINES of 3 real NTREX files, with corruptions injected; returns the folder."""
    folder = tmp_path / "ntrex"
    folder.mkdir()

    def real_lines(code):
        name = "newstest2019-src.eng.txt" if code == "eng" else f"newstest2019-ref.{code}.txt"
        return (ntrex_dir / name).read_bytes().split(b"\r\n")[:N_LINES]

    doc_ids = (ntrex_dir / "DOCUMENT_IDS.tsv").read_bytes().split(b"\n")[:N_LINES]
    (folder / "DOCUMENT_IDS.tsv").write_bytes(b"\n".join(doc_ids) + b"\n")
    eng = real_lines("eng")
    eng[8] = b"A" * 25_000  # line 9: over-long
    (folder / "newstest2019-src.eng.txt").write_bytes(b"\n".join(eng) + b"\n")
    deu = real_lines("deu")
    deu[4] = deu[4][:10] + b"\xff\xfe" + deu[4][10:]  # line 5: invalid UTF-8
    (folder / "newstest2019-ref.deu.txt").write_bytes(b"\n".join(deu) + b"\n")
    fra = real_lines("fra")
    fra[6] = fra[6][:5] + b"\x00" + fra[6][5:]  # line 7: NUL
    (folder / "newstest2019-ref.fra.txt").write_bytes(b"\n".join(fra) + b"\n")
    # A language the table does not know: every line rejected.
    (folder / "newstest2019-ref.qqq.txt").write_bytes(b"\n".join(real_lines("eng")) + b"\n")
    (folder / "newstest2019-ref.ita.txt").write_bytes(b"")  # empty file
    # BOM + CRLF: normalised, every line accepted.
    (folder / "newstest2019-ref.spa.txt").write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(real_lines("spa")) + b"\r\n")
    return folder


def test_corrupted_ntrex_copy_exact_counts(corrupted_ntrex, ntrex_dir, tmp_path):
    output = tmp_path / "out"
    summary = run_ingestion("ntrex", [str(corrupted_ntrex)], str(output), max_reject_ratio=1.0)
    # 5 files x 40 lines + 1 record for the empty file.
    assert summary["records_read"] == 5 * N_LINES + 1
    assert summary["rejected"] == 1 + 1 + 1 + N_LINES + 1
    assert summary["accepted"] == 4 * N_LINES - 3
    assert _reasons(summary) == {"control_characters": 1, "empty_file": 1, "invalid_utf8": 1, "too_long": 1,
                                 "unknown_language": N_LINES}
    assert summary["by_language"] == {"de": N_LINES - 1, "en": N_LINES - 1, "es": N_LINES, "fr": N_LINES - 1}
    rejects = {(pathlib.Path(r["source"]).name, r["line"]): r for r in _rejects(output)}
    assert len(rejects) == summary["rejected"]
    assert rejects[("newstest2019-ref.deu.txt", 5)]["reason"] == "invalid_utf8"
    assert "\\xff\\xfe" in rejects[("newstest2019-ref.deu.txt", 5)]["excerpt"]
    assert rejects[("newstest2019-ref.fra.txt", 7)]["reason"] == "control_characters"
    assert rejects[("newstest2019-src.eng.txt", 9)] == {
        "source": str(corrupted_ntrex / "newstest2019-src.eng.txt"), "line": 9, "reason": "too_long",
        "excerpt": "A" * 80}
    assert rejects[("newstest2019-ref.ita.txt", 0)]["reason"] == "empty_file"
    assert {line for (name, line) in rejects if name == "newstest2019-ref.qqq.txt"} == set(range(1, N_LINES + 1))
    assert all(len(r["excerpt"]) <= 80 for r in rejects.values())
    # The BOM and CR are gone from the accepted Spanish text.
    spanish = sorted((row for row in read_examples(str(output)) if row["language"] == "es"),
                     key=lambda row: int(row["source"].rsplit(":", 1)[1]))
    assert len(spanish) == N_LINES
    assert not spanish[0]["text"].startswith("\ufeff") and not any("\r" in row["text"] for row in spanish)
    first_real_line = (ntrex_dir / "newstest2019-ref.spa.txt").read_bytes().split(b"\r\n")[0].decode("utf-8")
    assert spanish[0]["text"] == first_real_line.strip()
    assert summary["worst_files"][0] == {"file": str(corrupted_ntrex / "newstest2019-ref.qqq.txt"),
                                         "records": N_LINES, "rejected": N_LINES}


def test_corrupted_sib200_copy_exact_counts(sib200_dir, tmp_path):
    folder = tmp_path / "sib"
    folder.mkdir()
    (folder / "labels.txt").write_bytes((sib200_dir / "labels.txt").read_bytes())
    lines = {}
    for language in ("eng_Latn", "kor_Hang"):
        (folder / language).mkdir()
        for split, count in (("train", 30), ("dev", 10)):
            lines[language, split] = (sib200_dir / language / f"{split}.tsv").read_bytes().split(b"\n")[:count + 1]
    train = lines["eng_Latn", "train"]
    train[3] = b"\t".join([train[3].split(b"\t")[0], b"", train[3].split(b"\t")[2]])  # line 4: no category
    train[5] = b"\t".join([train[5].split(b"\t")[0], b"cooking", train[5].split(b"\t")[2]])  # line 6: unknown
    train[7] = b"\t".join(train[7].split(b"\t")[:2])  # line 8: missing the text column
    train[9] = train[9] + b"\x07"  # line 10: BEL control character
    for (language, split), content in lines.items():
        (folder / language / f"{split}.tsv").write_bytes(b"\n".join(content) + b"\n")
    (folder / "kor_Hang" / "test.tsv").write_bytes(b"")
    (folder / "xyz_Zzzz").mkdir()
    (folder / "xyz_Zzzz" / "test.tsv").write_bytes(b"\n".join(lines["kor_Hang", "dev"][:6]) + b"\n")
    output = tmp_path / "out"
    summary = run_ingestion("sib200", [str(folder)], str(output), max_reject_ratio=1.0)
    assert summary["records_read"] == 2 * 40 + 1 + 5
    assert _reasons(summary) == {"control_characters": 1, "empty_file": 1, "malformed_row": 1, "missing_label": 2,
                                 "unknown_language": 5}
    assert (summary["accepted"], summary["rejected"]) == (80 - 4, 10)
    assert summary["splits"] == {"train": 60 - 4, "eval": 20}
    assert summary["by_language"] == {"en": 36, "ko": 40}
    rejects = {(r["source"].split("/sib/")[1], r["line"]): r["reason"] for r in _rejects(output)}
    assert rejects == {
        ("eng_Latn/train.tsv", 4): "missing_label", ("eng_Latn/train.tsv", 6): "missing_label",
        ("eng_Latn/train.tsv", 8): "malformed_row", ("eng_Latn/train.tsv", 10): "control_characters",
        ("kor_Hang/test.tsv", 0): "empty_file",
        **{("xyz_Zzzz/test.tsv", line): "unknown_language" for line in range(2, 7)},
    }


def test_reject_ratio_over_limit_fails_naming_the_file(corrupted_ntrex, tmp_path):
    with pytest.raises(RejectRatioError, match="newstest2019-ref.qqq.txt"):
        run_ingestion("ntrex", [str(corrupted_ntrex)], str(tmp_path / "api"))
    result = CliRunner().invoke(ingest, ["--format", "ntrex", "--input", str(corrupted_ntrex),
                                         "--output", str(tmp_path / "cli")])
    assert result.exit_code == 1
    assert str(corrupted_ntrex / "newstest2019-ref.qqq.txt") in result.output
    assert "(40/40 rejected)" in result.output
    # The outputs are still written, for inspection.
    assert json.loads((tmp_path / "cli" / "summary.json").read_text())["rejected"] == N_LINES + 4
    with gzip.open(next((tmp_path / "cli" / "Split-train").glob("*.gz"))) as stream:
        assert stream.read(1)
