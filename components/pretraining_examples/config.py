"""PretrainingExamplesConfig: the pretraining-examples stage's settings (YAML `pretraining_examples:`).

PretrainingExampleGen receives it as one JSON value (`config`) and reads it back with the YAML's
rules (components/settings.py).
"""

from __future__ import annotations

import dataclasses

from components.settings import SEED_MAX, fraction, setting


@dataclasses.dataclass
class PretrainingExamplesConfig:
    """How instances are cut (BERT's create_pretraining_data, M-BERT's language smoothing)."""

    # Packed length, `[CLS] a [SEP] b [SEP]` + padding (5 positions at least; 512 is BERT's
    # position-embedding table).
    max_seq_length: int = setting(128, minimum=8, maximum=8192)
    # Share of instances with a shorter random target length.
    short_seq_prob: float = fraction(0.1)
    # Passes over the (smoothed) data, each with fresh randomness.
    dupe_factor: int = setting(10, minimum=1, maximum=1000)
    # Language sampling exponent: language l's share becomes p_l^s / sum p^s (M-BERT: 0.7).
    smoothing: float = fraction(0.7)
    # Probability that b comes from another document of the same language; 0 = every b follows
    # its a (no next-sentence task: set pretraining.next_sentence_prediction false too).
    random_next_prob: float = fraction(0.5)
    # Share of translation pairs (XLM's TLM) among the training instances, made from sentences
    # aligned across languages (NTREX lines, SIB-200 index_id); 0 = plain M-BERT.
    translation_fraction: float = fraction(0.0)
    # Also write those aligned sentences themselves (`<output>/parallel/`), for the trainer's
    # alignment loss (pretraining.alignment_weight).
    parallel_sentences: bool = False
    # All randomness derives from it (per language and shard, not a global RNG).
    seed: int = setting(12345, minimum=0, maximum=SEED_MAX)
    # Wanted number of training instances (expected); 0 = the natural size.
    target_instances: int = setting(0, minimum=0)
    # About how many documents form one random-next pool (one Beam group).
    docs_per_shard: int = setting(1000, minimum=1)
