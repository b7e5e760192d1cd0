"""Write an imported checkpoint as the pipeline's artifacts or as a keras-hub preset.

- `write_vocabulary`: the Vocabulary artifact's files (vocab.txt, tokenizer.json, vocab_stats.json,
  written by components/vocabulary/files.py), so PretrainingExampleGen, fine-tuning and serving tokenise as the checkpoint
  was trained (its vocabulary, its casing).
- `write_encoder`: the pretraining Trainer's export layout (components/contracts.py, models/encoder.py
  `export_encoder`) plus `pretraining_heads.npz`: what fine-tuning and continued pretraining read.
- `write_keras_hub_preset`: `BertBackbone.save_to_preset` + `BertTokenizer.save_to_preset` (+ the
  heads file), loadable with `keras_hub.models.BertBackbone.from_preset(dir)`.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile

from components.base_model import formats
from components.base_model.checkpoint import CheckpointInfo, ImportedCheckpoint
from components.base_model.heads import save_heads
from components.vocabulary import files

# Words up to this many characters are tokenised (Hugging Face BertTokenizer's limit).
MAX_CHARS_PER_WORD = 100


def write_vocabulary(info: CheckpointInfo, out_dir: str) -> dict:
    """The Vocabulary artifact's files for the checkpoint (any tf.io.gfile path): its tokens, and
    its casing (uncased = lower case + strip accents, as BERT).

    Returns:
        The vocab_stats.json contents (vocab size and where the vocabulary came from).
    """
    settings = files.tokenizer_settings(info.vocabulary, lower_case=bool(info.lower_case),
                                        max_chars_per_word=MAX_CHARS_PER_WORD)
    stats = {"vocab_size": len(info.vocabulary), "languages": {},
             "source": {"format": info.format, "path": info.path, "vocab_file": info.vocab_file,
                        "lower_case": info.lower_case, "casing_from": info.casing_from}}
    files.write_vocabulary(out_dir, info.vocabulary, settings, stats)
    return stats


def write_encoder(imported: ImportedCheckpoint, export_dir: str, vocab_dir: str) -> str:
    """The encoder export (encoder.keras, encoder_config.json, vocab files) + the heads file."""
    from models.encoder import export_encoder

    export_encoder(imported.encoder, export_dir, vocab_dir)
    if imported.heads is not None:
        save_heads(imported.heads, str(export_dir))
    return str(export_dir)


def write_keras_hub_preset(imported: ImportedCheckpoint, out_dir: str) -> str:
    """A keras-hub preset folder (local or remote) for the backbone, tokenizer and heads."""
    import keras_hub
    import tensorflow as tf

    local = tempfile.mkdtemp(prefix="mbert-preset-") if formats.is_remote(out_dir) else out_dir
    try:
        os.makedirs(local, exist_ok=True)
        imported.encoder.save_to_preset(local)
        lower = bool(imported.info.lower_case)
        keras_hub.models.BertTokenizer(vocabulary=list(imported.info.vocabulary), lowercase=lower,
                                       strip_accents=lower).save_to_preset(local)
        if imported.heads is not None:
            save_heads(imported.heads, local)
        if local != out_dir:
            for folder, _, files in os.walk(local):
                for name in files:
                    source = os.path.join(folder, name)
                    target = posixpath.join(out_dir, os.path.relpath(source, local))
                    tf.io.gfile.makedirs(posixpath.dirname(target))
                    tf.io.gfile.copy(source, target, overwrite=True)
    finally:
        if local != out_dir:
            shutil.rmtree(local, ignore_errors=True)
    return out_dir
