"""Two rules more than one stage applies: M-BERT's language smoothing and stable hash buckets.

- `language_multipliers`: the vocabulary learner weights word counts by it, PretrainingExampleGen
  makes that many passes over each language (google-research/bert multilingual.md: exponent 0.7).
- `stable_bucket`: the same key lands in the same bucket in every process and worker (Python's
  hash() is salted per process): ingestion's train/eval split, the instance builder's shards.
"""

from __future__ import annotations

import hashlib
from typing import Mapping


def language_multipliers(sizes: Mapping[str, float], smoothing: float) -> dict[str, float]:
    """m_l = q_l / p_l with p_l = n_l / sum n and q_l = p_l^s / sum_k p_k^s.

    Multiplying every count of language l by m_l keeps the total and gives l the share q_l.

    Args:
      sizes: natural size n_l of each language (words, instances: any unit).
      smoothing: s; 1 keeps natural shares, 0 makes every language equal, 0.7 is M-BERT's.

    Returns:
      The multiplier of each language; 0 for a language of size 0.
    """
    if smoothing < 0:
        raise ValueError(f"smoothing: must be >= 0, got {smoothing}")
    for language, size in sizes.items():
        if size < 0:
            raise ValueError(f"sizes[{language!r}]: must be >= 0, got {size}")
    total = float(sum(sizes.values()))
    if total == 0:
        return {language: 0.0 for language in sizes}
    shares = {language: size / total for language, size in sizes.items() if size > 0}
    weights = {language: share ** smoothing for language, share in shares.items()}
    norm = sum(weights.values())
    return {language: (weights[language] / norm) / shares[language] if language in shares
            else 0.0 for language in sizes}


def stable_bucket(key: str, buckets: int) -> int:
    """A bucket in [0, buckets) from the MD5 of the UTF-8 key (stable across processes)."""
    return int.from_bytes(hashlib.md5(key.encode("utf-8")).digest()[:8], "big") % buckets
