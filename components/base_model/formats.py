"""The checkpoint formats a base model can come in, and which of their files are read.

Light on purpose (no TensorFlow, no Keras): pipeline/config.py validates `base_model.format`
against FORMATS, and the runner fingerprints the files named here.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import posixpath

BERT_TF1 = "bert-tf1"
HUGGINGFACE = "huggingface"
KERAS_HUB = "keras-hub"
FORMATS = (BERT_TF1, HUGGINGFACE, KERAS_HUB)

# Our own file beside a converted checkpoint: the masked-LM and next-sentence heads, which
# keras-hub presets have no place for (see heads.py).
HEADS_FILE = "pretraining_heads.npz"

# Files each format reads (glob patterns relative to the checkpoint folder). A Hugging Face clone
# often also holds pytorch_model.bin, tf_model.h5 and flax_model.msgpack (3x the size): only
# these are copied from a remote folder.
FILE_PATTERNS = {
    BERT_TF1: ("bert_config.json", "vocab.txt", "checkpoint", "*.index", "*.data-*"),
    HUGGINGFACE: ("config.json", "model.safetensors", "model.safetensors.index.json",
                  "model-*-of-*.safetensors", "vocab.txt", "tokenizer_config.json",
                  "tokenizer.json", "special_tokens_map.json"),
    KERAS_HUB: ("config.json", "metadata.json", "model.weights.h5", "tokenizer.json",
                "assets/tokenizer/vocabulary.txt", HEADS_FILE),
}


def is_remote(path: str) -> bool:
    """gs://, s3:// and the like: read through tf.io.gfile, staged locally before loading."""
    return "://" in path


def check_format(checkpoint_format: str, key: str = "format") -> str:
    if checkpoint_format not in FORMATS:
        raise ValueError(f"{key}: unknown checkpoint format {checkpoint_format!r} "
                         f"(known: {', '.join(FORMATS)})")
    return checkpoint_format


def wanted_files(checkpoint_format: str, path: str) -> list[str]:
    """Relative paths of the files under `path` (local or remote) that the format reads, sorted."""
    import tensorflow as tf

    patterns = FILE_PATTERNS[check_format(checkpoint_format)]
    found = []
    for directory, _, files in tf.io.gfile.walk(path):
        relative_dir = os.path.relpath(directory, path) if not is_remote(path) else \
            directory[len(path.rstrip("/")):].strip("/")
        for name in files:
            relative = posixpath.join(relative_dir, name) if relative_dir not in ("", ".") else name
            if any(fnmatch.fnmatchcase(relative, pattern) for pattern in patterns):
                found.append(relative)
    return sorted(found)


def fingerprint(checkpoint_format: str, path: str) -> str:
    """A digest of the read files' names, sizes and modification times (a cache key, not a hash).

    TFX caches the import by its parameters; with this among them, a checkpoint replaced in place
    re-runs the import and everything downstream.
    """
    import tensorflow as tf

    digest = hashlib.sha256()
    for relative in wanted_files(checkpoint_format, path):
        stat = tf.io.gfile.stat(posixpath.join(path, relative))
        digest.update(f"{relative}\0{stat.length}\0{stat.mtime_nsec}\n".encode())
    return digest.hexdigest()[:32]
