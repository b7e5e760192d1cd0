"""keras-hub preset folders (`config.json`, `model.weights.h5`, `tokenizer.json`, vocabulary asset).

keras-hub reads its own presets (`BertBackbone.from_preset(dir)`); here the folder is checked
first so that errors name the file and the variable: keras-hub's own message for a missing weight
names only the layer ("Layer 'key' expected 2 variables"). Variable paths inside
`model.weights.h5` follow the layer classes (`layers/reversible_embedding/vars/0` is the token
embedding), so the expected set is taken from a tiny backbone with the same number of layers.

Presets have no place for BERT's pretraining heads; an import by this project writes them beside
the preset as `pretraining_heads.npz` (heads.py), read back here when present.
"""

from __future__ import annotations

import functools
import json
import os
import posixpath
import tempfile

from components.base_model import formats
from components.base_model.checkpoint import CheckpointError, read_config_json, CheckpointInfo, wrong_format_hint
from components.base_model.heads import PretrainingHeads, load_heads as _load_heads_file
from models.encoder_config import EncoderConfig

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
VOCAB_FILE = "assets/tokenizer/vocabulary.txt"
TOKENIZER_FILE = "tokenizer.json"
EMBEDDING = "layers/reversible_embedding/vars/0"
POSITIONS = "layers/position_embedding/vars/0"


def read_config(local_dir: str) -> dict:
    """The backbone's constructor arguments from config.json; another class names the key."""
    config = read_config_json(local_dir, CONFIG_FILE, formats.KERAS_HUB, "preset folder",
                              f"{CONFIG_FILE}, {WEIGHTS_FILE} and {VOCAB_FILE}")
    path = posixpath.join(local_dir, CONFIG_FILE)
    if "registered_name" not in config:
        raise CheckpointError(f"{path}: no registered_name, not a keras-hub preset"
                              f"{wrong_format_hint(local_dir, formats.KERAS_HUB)}")
    if config.get("class_name") != "BertBackbone":
        raise CheckpointError(f"{path}: class_name is {config.get('class_name')!r}, expected "
                              f"'BertBackbone'")
    arguments = config.get("config", {})
    if arguments.get("num_segments", 2) != 2:
        raise CheckpointError(f"{path}: config.num_segments is {arguments['num_segments']}; the "
                              f"pipeline's encoder has 2 segment types")
    return arguments


@functools.lru_cache(maxsize=8)
def expected_variables(num_layers: int) -> frozenset[str]:
    """Dataset paths in model.weights.h5 of a BertBackbone with `num_layers` layers."""
    import keras_hub

    tiny = keras_hub.models.BertBackbone(vocabulary_size=8, num_layers=num_layers, num_heads=1,
                                         hidden_dim=2, intermediate_dim=2, max_sequence_length=2)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, WEIGHTS_FILE)
        tiny.save_weights(path)
        return frozenset(_datasets(path))


def _datasets(path: str) -> dict[str, tuple[int, ...]]:
    import h5py

    shapes = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, item: shapes.__setitem__(name, tuple(item.shape))
                          if isinstance(item, h5py.Dataset) else None)
    return shapes


def _check_weights(path: str, encoder: EncoderConfig) -> None:
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: not found (sharded presets are not supported)")
    found = _datasets(path)
    for name in sorted(expected_variables(encoder.num_layers)):
        if name not in found:
            raise CheckpointError(f"{path}: missing variable {name}")
    for name, rows in ((EMBEDDING, encoder.vocab_size), (POSITIONS, encoder.max_sequence_length)):
        if found[name] != (rows, encoder.hidden_dim):
            raise CheckpointError(f"{path}: {name} has shape {found[name]} but "
                                  f"{CONFIG_FILE} implies {(rows, encoder.hidden_dim)}")


def _casing(local_dir: str) -> dict:
    path = posixpath.join(local_dir, TOKENIZER_FILE)
    if not os.path.isfile(path):
        return {}
    value = json.loads(open(path, encoding="utf-8").read()).get("config", {}).get("lowercase")
    return {"lower_case": value, "casing_from": f"{path} (config.lowercase)"} \
        if isinstance(value, bool) else {}


def inspect(local_dir: str, path: str) -> CheckpointInfo:
    """config.json, the weight file's variable names and shapes, the heads file if any."""
    arguments = read_config(local_dir)
    config_path = posixpath.join(local_dir, CONFIG_FILE)
    try:
        encoder = EncoderConfig.from_dict(dict(
            vocab_size=arguments.get("vocabulary_size"), num_layers=arguments.get("num_layers"),
            hidden_dim=arguments.get("hidden_dim"), num_heads=arguments.get("num_heads"),
            intermediate_dim=arguments.get("intermediate_dim"),
            max_sequence_length=arguments.get("max_sequence_length"),
            dropout=float(arguments.get("dropout", 0.1))), where=f"{config_path}: config")
    except ValueError as error:
        raise CheckpointError(str(error)) from None
    weights = posixpath.join(local_dir, WEIGHTS_FILE)
    _check_weights(weights, encoder)
    try:
        heads = _load_heads_file(local_dir)
    except ValueError as error:
        raise CheckpointError(str(error)) from None
    return CheckpointInfo(
        format=formats.KERAS_HUB, path=path, local_dir=local_dir, encoder=encoder,
        weights_file=weights, embedding_variable=EMBEDDING, position_variable=POSITIONS,
        vocab_file=posixpath.join(local_dir, VOCAB_FILE),
        heads=heads.present if heads else (), **_casing(local_dir))


def load_encoder(info: CheckpointInfo):
    import keras_hub

    try:
        return keras_hub.models.BertBackbone.from_preset(info.local_dir, dtype="float32")
    except ValueError as error:
        raise CheckpointError(f"{info.weights_file}: {error}") from None


def load_heads(info: CheckpointInfo) -> PretrainingHeads:
    return _load_heads_file(info.local_dir)
