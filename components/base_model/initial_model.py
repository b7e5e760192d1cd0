"""Start the pretraining Trainer from an imported encoder (+ heads): continued pretraining.

The pretraining Trainer calls these two functions when `initial_model_dir` is set (the base
model's encoder export, see outputs.write_encoder): the encoder's shape comes from its
`encoder_config.json` instead of a preset, and the freshly built `PretrainingModel` takes its
encoder weights and, when `pretraining_heads.npz` is there, its masked-LM / next-sentence heads.
A checkpoint restored afterwards (a resumed run) overrides both, as it should.
"""

from __future__ import annotations

import logging
import os

from components.base_model.heads import HEADS_FILE, assign_heads, load_heads
from models.encoder import CONFIG_FILE, load_pretrained_encoder
from models.encoder_config import EncoderConfig

_LOG = logging.getLogger(__name__)

# Overrides that change no weight shape; anything else would not fit the imported weights.
_SHAPE_FREE = ("dropout",)


def initial_encoder_config(initial_model_dir: str, vocab_size: int, seq_len: int,
                           overrides: dict) -> EncoderConfig:
    """The imported encoder's shape, checked against the vocabulary and the instance length.

    Raises:
        ValueError: naming encoder_config.json and the key that does not fit.
    """
    path = os.path.join(initial_model_dir, CONFIG_FILE)
    config = EncoderConfig.load(path)
    if config.vocab_size != vocab_size:
        raise ValueError(f"{path}: vocab_size is {config.vocab_size} but the vocabulary has "
                         f"{vocab_size} tokens; continued pretraining needs the base model's vocabulary")
    if config.max_sequence_length < seq_len:
        raise ValueError(f"{path}: max_sequence_length is {config.max_sequence_length}, shorter "
                         f"than seq_len {seq_len}")
    values = config.to_dict()
    for key, value in overrides.items():
        if key in _SHAPE_FREE:
            values[key] = value
        elif key != "vocab_size" and values.get(key) != value:
            raise ValueError(f"encoder.{key}={value!r} does not fit the base model in "
                             f"{initial_model_dir} ({key}={values.get(key)!r})")
    return EncoderConfig.from_dict(values, where=path)


def restore_initial_model(model, initial_model_dir: str) -> tuple[str, ...]:
    """Copies the imported encoder (and heads) into a built `PretrainingModel`.

    Returns:
        The heads that were restored ("mlm", "nsp"); the others keep their fresh initialisation.
    """
    encoder = load_pretrained_encoder(initial_model_dir)
    model.encoder.set_weights(encoder.get_weights())
    heads = load_heads(initial_model_dir)
    if heads is None:
        _LOG.info("%s has no %s: pretraining heads start fresh", initial_model_dir, HEADS_FILE)
        return ()
    assign_heads(model, heads, os.path.join(initial_model_dir, HEADS_FILE))
    _LOG.info("started from %s (encoder and heads %s)", initial_model_dir, heads.present)
    return heads.present
