"""Shared fixtures: where the real data lives, and skipping cleanly where it does not."""

import os
import pathlib

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
# The committed sample (tests/data, a few hundred KB of the same layouts) stands in for the full
# sets on a plain clone, so every test runs there too.
SAMPLE_DATA = REPO_ROOT / "tests" / "data"
_FULL_DATA = pathlib.Path(os.environ.get("MBERT_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
SHARED_DATA = _FULL_DATA if (_FULL_DATA / "ntrex").is_dir() else SAMPLE_DATA


def _require(path: pathlib.Path) -> pathlib.Path:
    if not path.exists():
        raise FileNotFoundError(f"test data not found at {path}")
    return path


@pytest.fixture(scope="session")
def ntrex_dir() -> pathlib.Path:
    """The NTREX-128 folder (16 languages x 1,997 lines)."""
    return _require(SHARED_DATA / "ntrex")


@pytest.fixture(scope="session")
def sib200_dir() -> pathlib.Path:
    """The SIB-200 folder (<lang>/{train,dev,test}.tsv + labels.txt)."""
    return _require(SHARED_DATA / "sib200")


@pytest.fixture(scope="session")
def sample_ntrex_dir() -> pathlib.Path:
    """The committed NTREX sample, whatever else is present: for end-to-end tests whose outcome
    depends on which rows they cut (which documents land in the eval split, whether a tiny model
    is good enough to be blessed), so they see the same rows on every machine."""
    return _require(SAMPLE_DATA / "ntrex")


@pytest.fixture(scope="session")
def sample_sib200_dir() -> pathlib.Path:
    """The committed SIB-200 sample (48 train / 14 dev / 28 test rows per language), as above."""
    return _require(SAMPLE_DATA / "sib200")


@pytest.fixture(scope="session")
def ntrex_lines(ntrex_dir) -> int:
    """Lines per language file in the NTREX folder in use (1,997 in full, 74 in the sample)."""
    with open(ntrex_dir / "newstest2019-src.eng.txt", encoding="utf-8") as f:
        return sum(1 for _ in f)


@pytest.fixture(scope="session")
def ntrex_documents(ntrex_dir) -> int:
    """News documents in the NTREX folder in use (123 in full, 5 in the sample)."""
    with open(ntrex_dir / "DOCUMENT_IDS.tsv", encoding="utf-8") as f:
        return len({line.strip() for line in f if line.strip()})


@pytest.fixture()
def time_limit():
    """`with time_limit(seconds):` fails the test instead of letting it hang (e.g. on a FIFO or
    a device opened by mistake)."""
    import contextlib
    import signal

    @contextlib.contextmanager
    def limit(seconds: int = 60):
        def expire(*_):
            raise TimeoutError(f"blocked for {seconds} s")

        previous = signal.signal(signal.SIGALRM, expire)
        signal.alarm(seconds)
        try:
            yield
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)

    return limit
