"""Where PretrainingExampleGen puts its records, and how a reader finds each file's language.

    <uri>/Split-train/data_tfrecord-<language>-00000-of-00002.gz   (components/contracts.py, GZIP)
    <uri>/Split-eval/...
    <uri>/counts.json                                             (instance counts, plan)

Plain Python (no Beam, no TensorFlow) so that both the Beam writer and the trainer's input
pipeline import it.
"""

from __future__ import annotations

import os
import re
from typing import Optional

from components import contracts

FILE_PREFIX = contracts.RECORD_FILE_PREFIX
COUNTS_FILE = "counts.json"
_LANGUAGE_FILE = re.compile(rf"^{FILE_PREFIX}-(?P<language>[A-Za-z0-9_-]+?)-\d{{5}}-of-\d{{5}}\.gz$")


def file_language(language: str) -> str:
    """A language tag as it appears in file names (BCP-47 tags pass unchanged)."""
    return re.sub(r"[^A-Za-z0-9-]", "_", language) or "und"


def language_file_name(language: str, index: int, files: int) -> str:
    """`data_tfrecord-<language>-00003-of-00004.gz`: file `index` of the language's `files`."""
    return f"{FILE_PREFIX}-{file_language(language)}-{index:05d}-of-{files:05d}.gz"


def language_of_file(path: str) -> Optional[str]:
    """The language part of a `language_file_name`; None for any other name."""
    match = _LANGUAGE_FILE.match(os.path.basename(path))
    return match.group("language") if match else None


def counts_path(split_file: str) -> str:
    """`<uri>/counts.json` for a file under `<uri>/Split-<split>/`."""
    return os.path.join(os.path.dirname(os.path.dirname(split_file)), COUNTS_FILE)


def parallel_pattern(split_file: str) -> str:
    """The aligned-sentence records (`<uri>/parallel/*.gz`) of the artifact of a file under
    `<uri>/Split-<split>/`."""
    return contracts.parallel_pattern(os.path.dirname(os.path.dirname(split_file)))


def split_of(split_file: str) -> Optional[str]:
    """`train` for a file under `<uri>/Split-train/`; None elsewhere."""
    folder = os.path.basename(os.path.dirname(split_file))
    return folder[len(contracts.SPLIT_DIR_PREFIX):] if folder.startswith(contracts.SPLIT_DIR_PREFIX) else None
