"""Writes the small real-data sample under tests/data/ from ../shared/data (run once, committed).

NTREX-128: the sentences of four documents for training and one that ingestion puts in the
eval split (md5 of the doc id, components/ingestion/records.py), with their DOCUMENT_IDS.tsv
lines, in all 16 languages; rows stay line-aligned translations. SIB-200: the first rows of
every language's train/dev/test (parallel: the same index_id in every language). The CC BY-SA
4.0 licence files travel with them. Tests use this sample when ../shared/data is absent.

    .venv/bin/python tests/data/make_sample.py [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import pathlib
import shutil

HERE = pathlib.Path(__file__).resolve().parent
# Documents 0-3 (train) and 6 (cnbc.com.6790, the eval split) of NTREX-128.
NTREX_DOCUMENTS = ("bbc.381790", "rt.com.91337", "nytimes.184853", "upi.176266", "cnbc.com.6790")
SIB_ROWS = {"train": 48, "dev": 14, "test": 28}  # rows per language, every category in each


def _lines(path: pathlib.Path) -> list[bytes]:
    # Bytes, line ends kept as they are (NTREX's files end lines with CRLF, as tests expect).
    return path.read_bytes().splitlines(keepends=True)


def write_ntrex(source: pathlib.Path, target: pathlib.Path) -> int:
    target.mkdir(parents=True, exist_ok=True)
    doc_ids = _lines(source / "DOCUMENT_IDS.tsv")
    keep = [i for i, line in enumerate(doc_ids) if line.strip().decode("utf-8") in NTREX_DOCUMENTS]
    for path in sorted(source.glob("newstest2019-*.txt")) + [source / "DOCUMENT_IDS.tsv"]:
        lines = _lines(path)
        (target / path.name).write_bytes(b"".join(lines[i] for i in keep))
    for name in ("LICENSE.md", "LANGUAGES.tsv"):
        shutil.copyfile(source / name, target / name)
    return len(keep)


def _balanced_rows(path: pathlib.Path, rows: int) -> list[int]:
    """Indices (after the header) of `rows` rows taken in turn from each category: SIB-200's test
    file is sorted by category, so its first rows would all be one class."""
    by_category: dict[bytes, list[int]] = {}
    for i, line in enumerate(_lines(path)[1:]):
        by_category.setdefault(line.split(b"\t")[1], []).append(i)
    queues = [iter(indices) for _, indices in sorted(by_category.items())]
    keep = []
    while len(keep) < rows:
        keep += [i for i in (next(q, None) for q in queues) if i is not None][:rows - len(keep)]
    return sorted(keep)


def write_sib200(source: pathlib.Path, target: pathlib.Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    # The same rows in every language (the files are parallel, row by row).
    keep = {split: _balanced_rows(source / "eng_Latn" / f"{split}.tsv", rows)
            for split, rows in SIB_ROWS.items()}
    for language in sorted(p for p in source.iterdir() if p.is_dir()):
        (target / language.name).mkdir(exist_ok=True)
        for split in SIB_ROWS:
            header, *lines = _lines(language / f"{split}.tsv")
            (target / language.name / f"{split}.tsv").write_bytes(
                header + b"".join(lines[i] for i in keep[split]))
    for name in ("LICENSE", "labels.txt"):
        shutil.copyfile(source / name, target / name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(HERE.parents[2] / "shared" / "data"))
    args = parser.parse_args()
    shared = pathlib.Path(args.shared)
    lines = write_ntrex(shared / "ntrex", HERE / "ntrex")
    write_sib200(shared / "sib200", HERE / "sib200")
    shutil.copyfile(shared / "languages.tsv", HERE / "languages.tsv")
    print(f"ntrex: {lines} lines per language; sib200: {SIB_ROWS} rows per language")


if __name__ == "__main__":
    main()
