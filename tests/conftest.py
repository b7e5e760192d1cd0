"""Shared fixtures: where the real data lives, and skipping cleanly where it does not."""

import os
import pathlib

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(os.environ.get("MBERT_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def _require(path: pathlib.Path) -> pathlib.Path:
    if not path.exists():
        pytest.skip(f"real data not found at {path} (set MBERT_SHARED_DATA to the shared/data folder)")
    return path


@pytest.fixture(scope="session")
def ntrex_dir() -> pathlib.Path:
    """The NTREX-128 folder (16 languages x 1,997 lines)."""
    return _require(SHARED_DATA / "ntrex")


@pytest.fixture(scope="session")
def sib200_dir() -> pathlib.Path:
    """The SIB-200 folder (<lang>/{train,dev,test}.tsv + labels.txt)."""
    return _require(SHARED_DATA / "sib200")
