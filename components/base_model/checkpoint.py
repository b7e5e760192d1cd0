"""Read a BERT checkpoint of any supported format into one encoder + heads + vocabulary.

`inspect_checkpoint` reads configs, vocabulary and weight names/shapes only (seconds even for
bert-base) and raises `CheckpointError` naming the file and the variable or key for: a folder of
another architecture, a missing weight, a vocabulary whose size differs from the embedding
matrix, position embeddings shorter than the configured sequence length. `load_checkpoint` runs
those checks, then reads the weights:

  bert-tf1     google-research/bert release, variables mapped by our own code (tf1.py)
  huggingface  config.json + model.safetensors, read by keras-hub (huggingface.py)
  keras-hub    a keras-hub preset folder, read by keras-hub (keras_hub_preset.py)

Remote folders (gs://...) are copied to a local temporary folder first (only the files the
format reads, see formats.FILE_PATTERNS).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import posixpath
import shutil
import tempfile
from typing import Iterator, Optional

from components.base_model import formats
from components.base_model.heads import PretrainingHeads
from models.encoder_config import EncoderConfig

_LOG = logging.getLogger(__name__)

# Tokens the pipeline's tokenizer, packer and masking look up by name.
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and the variable or key."""


@dataclasses.dataclass
class CheckpointInfo:
    """What a checkpoint folder holds, found without reading its weights.

    Attributes:
        format: One of formats.FORMATS.
        path: The folder as given (local or remote).
        local_dir: Where the files are read (a local copy for a remote folder).
        encoder: The encoder's shape from the checkpoint's config (vocab_size = embedding rows,
            max_sequence_length = position-embedding rows).
        weights_file: The file holding the encoder weights (named in error messages).
        embedding_variable: Name of the token-embedding matrix in that file.
        position_variable: Name of the position-embedding matrix in that file.
        vocab_file: The vocabulary file (one token per line, line number = id).
        vocabulary: Its tokens (filled by inspect_checkpoint).
        lower_case: Uncased model; None = the format's files do not say.
        casing_from: Where lower_case came from (a file and key, or "vocabulary").
        heads: Which pretraining heads the checkpoint holds: "mlm", "nsp".
        details: Format-specific facts the loader needs (checkpoint prefix, name prefix, ...).
    """

    format: str
    path: str
    local_dir: str
    encoder: EncoderConfig
    weights_file: str
    embedding_variable: str
    position_variable: str
    vocab_file: str
    lower_case: Optional[bool] = None
    casing_from: str = ""
    heads: tuple[str, ...] = ()
    vocabulary: list[str] = dataclasses.field(default_factory=list)
    details: dict = dataclasses.field(default_factory=dict)

    def summary(self) -> dict:
        """A JSON-able description (what `mbert checkpoint inspect` prints)."""
        return {"format": self.format, "path": self.path, "encoder": self.encoder.to_dict(),
                "weights_file": self.weights_file, "vocab_file": self.vocab_file,
                "vocab_size": len(self.vocabulary), "lower_case": self.lower_case,
                "casing_from": self.casing_from, "heads": list(self.heads)}


@dataclasses.dataclass
class ImportedCheckpoint:
    """A loaded checkpoint: a float32 `BertBackbone`, its pretraining heads (or None), its info."""

    info: CheckpointInfo
    encoder: object  # keras_hub.models.BertBackbone
    heads: Optional[PretrainingHeads]


def _reader(checkpoint_format: str):
    from components.base_model import huggingface, keras_hub_preset, tf1

    return {formats.BERT_TF1: tf1, formats.HUGGINGFACE: huggingface,
            formats.KERAS_HUB: keras_hub_preset}[formats.check_format(checkpoint_format)]


@contextlib.contextmanager
def local_folder(checkpoint_format: str, path: str) -> Iterator[str]:
    """Yields a local folder with the checkpoint's files: `path` itself, or a temporary copy."""
    import tensorflow as tf

    if not tf.io.gfile.isdir(path):
        raise CheckpointError(f"{path}: no such checkpoint folder")
    if not formats.is_remote(path):
        yield path
        return
    staging = tempfile.mkdtemp(prefix="mbert-checkpoint-")
    try:
        for relative in formats.wanted_files(checkpoint_format, path):
            target = posixpath.join(staging, relative)
            tf.io.gfile.makedirs(posixpath.dirname(target))
            _LOG.info("copying %s/%s", path, relative)
            tf.io.gfile.copy(posixpath.join(path, relative), target, overwrite=True)
        yield staging
    except CheckpointError as error:
        # Name the user's files, not the temporary copy.
        raise CheckpointError(str(error).replace(staging, path.rstrip("/"))) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def read_vocabulary(vocab_file: str) -> list[str]:
    """vocab.txt as a list (line number = id); an empty line is an error naming file and line."""
    from components.vocabulary.files import read_vocab_file

    try:
        return read_vocab_file(vocab_file)
    except (FileNotFoundError, ValueError) as e:
        raise CheckpointError(str(e)) from None


def _check_vocabulary(info: CheckpointInfo) -> None:
    rows = info.encoder.vocab_size
    if len(info.vocabulary) != rows:
        raise CheckpointError(
            f"{info.vocab_file} has {len(info.vocabulary)} tokens but {info.weights_file}: "
            f"{info.embedding_variable} has {rows} rows; the vocabulary does not belong to "
            f"these weights")
    for token in SPECIAL_TOKENS:
        if token not in info.vocabulary:
            raise CheckpointError(f"{info.vocab_file}: special token {token} is missing")


def _check_positions(info: CheckpointInfo, max_seq_length: int, setting: str) -> None:
    positions = info.encoder.max_sequence_length
    if max_seq_length > positions:
        raise CheckpointError(
            f"{info.weights_file}: {info.position_variable} has {positions} positions, fewer than "
            f"{setting}={max_seq_length}; lower {setting} to at most {positions}")


def _resolve_casing(info: CheckpointInfo, lower_case: Optional[bool]) -> None:
    if lower_case is not None:
        if info.lower_case is not None and info.lower_case != lower_case:
            _LOG.warning("base_model.lower_case=%s overrides %s=%s", lower_case,
                         info.casing_from, info.lower_case)
        info.lower_case, info.casing_from = lower_case, "base_model.lower_case"
    elif info.lower_case is None:
        # An uncased vocabulary was built from lower-cased text: it has no upper-case letter.
        cased = any(ch.isupper() for token in info.vocabulary
                    if not (token.startswith("[") and token.endswith("]")) for ch in token)
        info.lower_case, info.casing_from = not cased, f"{info.vocab_file} (upper-case tokens)"


def inspect_checkpoint(checkpoint_format: str, local_dir: str, *, path: Optional[str] = None,
                       lower_case: Optional[bool] = None, max_seq_length: int = 0,
                       setting: str = "max_seq_length") -> CheckpointInfo:
    """Checks a local checkpoint folder without reading its weights.

    Args:
        checkpoint_format: One of formats.FORMATS.
        local_dir: The folder (see `local_folder` for remote ones).
        path: The folder as the user gave it (recorded; default local_dir).
        lower_case: Force uncased (True) or cased (False); None = from the checkpoint's files,
            else from its vocabulary.
        max_seq_length: The longest sequence the pipeline will feed (0 = no check).
        setting: The config key of max_seq_length, for the error message.

    Returns:
        The CheckpointInfo, vocabulary and casing filled in.

    Raises:
        CheckpointError: naming the file and the variable or key.
    """
    info = _reader(checkpoint_format).inspect(local_dir, path or local_dir)
    info.vocabulary = read_vocabulary(info.vocab_file)
    _check_vocabulary(info)
    _check_positions(info, max_seq_length, setting)
    _resolve_casing(info, lower_case)
    return info


def load_checkpoint(checkpoint_format: str, path: str, *, lower_case: Optional[bool] = None,
                    max_seq_length: int = 0, setting: str = "max_seq_length",
                    heads: bool = True) -> ImportedCheckpoint:
    """Inspects, then loads a checkpoint folder (local or remote).

    Args:
        checkpoint_format, lower_case, max_seq_length, setting: as in inspect_checkpoint.
        path: The checkpoint folder.
        heads: Also read the masked-LM / next-sentence heads when the checkpoint has them.

    Returns:
        The ImportedCheckpoint (float32 encoder).
    """
    with local_folder(checkpoint_format, path) as local_dir:
        info = inspect_checkpoint(checkpoint_format, local_dir, path=path, lower_case=lower_case,
                                  max_seq_length=max_seq_length, setting=setting)
        reader = _reader(checkpoint_format)
        encoder = reader.load_encoder(info)
        loaded_heads = reader.load_heads(info) if heads and info.heads else None
    if loaded_heads is not None:
        loaded_heads.check_shapes(info.encoder.hidden_dim, info.encoder.vocab_size, info.weights_file)
    return ImportedCheckpoint(info=info, encoder=encoder, heads=loaded_heads)


def assign(variable, value, where: str, name: str) -> None:
    """variable.assign(value) after checking the size; errors name the file and the variable."""
    import numpy as np

    value = np.asarray(value, dtype=np.float32)
    if value.size != int(np.prod(variable.shape)):
        raise CheckpointError(f"{where}: {name} has shape {tuple(value.shape)}, the encoder "
                              f"built from the checkpoint's config needs {tuple(variable.shape)}")
    variable.assign(value.reshape(tuple(variable.shape)))


def sniff_format(local_dir: str) -> Optional[str]:
    """The format a folder looks like (for hints in errors), or None."""
    import tensorflow as tf

    def has(name):
        return tf.io.gfile.exists(posixpath.join(local_dir, name))

    if has("bert_config.json"):
        return formats.BERT_TF1
    if has("config.json") and has("model.weights.h5"):
        return formats.KERAS_HUB
    if has("config.json"):
        return formats.HUGGINGFACE
    return None


def wrong_format_hint(local_dir: str, expected: str) -> str:
    found = sniff_format(local_dir)
    return f" (the folder looks like a {found} checkpoint: set format: {found})" \
        if found and found != expected else ""


def read_config_json(local_dir: str, name: str, checkpoint_format: str, folder: str,
                     expected_files: str) -> dict:
    """A checkpoint folder's JSON config; a missing file says what the folder should hold (and
    which format it looks like), invalid JSON names the file and line."""
    path = posixpath.join(local_dir, name)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: not found; a {checkpoint_format} {folder} has {expected_files}"
                              f"{wrong_format_hint(local_dir, checkpoint_format)}")
    try:
        return json.loads(open(path, encoding="utf-8").read())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path}: not valid JSON (line {error.lineno}: {error.msg})") from None
