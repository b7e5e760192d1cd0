"""Build, export and load the BERT encoder (keras-nlp `BertBackbone`).

An exported pretrained encoder is a folder with `encoder.keras` (the backbone in Keras format,
float32 weights), `encoder_config.json`, `vocab.txt` and `tokenizer.json`. Fine-tuning loads
it with `load_pretrained_encoder`, which also accepts a local keras-nlp/keras-hub preset folder
(`config.json` + `model.weights.h5`, e.g. a downloaded `bert_base_multi`), since presets cannot
be downloaded on machines without internet.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil

import keras
import keras_hub

from models.encoder_config import EncoderConfig

from components import contracts
from components.vocabulary.files import check_vocab_matches

ENCODER_FILE = contracts.ENCODER_FILE
CONFIG_FILE = contracts.ENCODER_CONFIG_FILE
VOCAB_FILES = (contracts.VOCAB_FILE, contracts.TOKENIZER_FILE)
_PRESET_FILES = ("config.json", "model.weights.h5")


def build_encoder(config: EncoderConfig, dtype: str | None = None) -> keras_hub.models.BertBackbone:
    """Returns a freshly initialised BERT encoder of the given shape.

    Args:
        config: The encoder shape.
        dtype: A Keras dtype policy name (`"mixed_bfloat16"`, `"float32"`); None uses the
            global policy.

    Returns:
        A `BertBackbone` with inputs `token_ids` int32 [batch, seq_len], `segment_ids` int32
        [batch, seq_len], `padding_mask` [batch, seq_len] and outputs `sequence_output`
        float [batch, seq_len, hidden] and `pooled_output` float [batch, hidden].
    """
    return keras_hub.models.BertBackbone(**config.backbone_kwargs(), dtype=dtype, name="bert_encoder")


def config_from_backbone(backbone: keras_hub.models.BertBackbone) -> EncoderConfig:
    """Returns the `EncoderConfig` describing an existing backbone (e.g. one loaded from a preset)."""
    return EncoderConfig.from_backbone(backbone)


# The backbone's embedding layers (keras-hub `BertBackbone` names): word pieces, positions,
# segments and their layer norm.
EMBEDDING_LAYERS = ("token_embedding", "position_embedding", "segment_embedding",
                    "embeddings_layer_norm")


def freeze_embeddings(backbone: keras_hub.models.BertBackbone) -> int:
    """Stops training of the backbone's embedding layers; returns how many weights that froze.

    Fine-tuned on one language, a multilingual encoder otherwise moves only the rows of that
    language's word pieces, away from the other languages' rows it was pretrained beside (the
    zero-shot transfer loss Wu & Dredze 2019 report for M-BERT). Call before `compile`.
    """
    frozen = 0
    for name in EMBEDDING_LAYERS:
        layer = backbone.get_layer(name)
        layer.trainable = False
        frozen += layer.count_params()
    return frozen


def export_encoder(
    backbone: keras_hub.models.BertBackbone,
    export_dir: str | os.PathLike,
    vocab_dir: str | os.PathLike | None = None,
) -> pathlib.Path:
    """Writes the encoder export (components/contracts.py): `encoder.keras`, `encoder_config.json`,
    vocabulary files.

    The backbone is re-saved with a float32 policy whatever it trained in (the variables of a
    mixed_bfloat16 model are float32 already), so fine-tuning chooses its own precision.

    Args:
        backbone: The trained encoder.
        export_dir: Destination folder (created).
        vocab_dir: Folder with `vocab.txt` and `tokenizer.json` to copy; checked against the
            backbone's vocabulary size.

    Returns:
        The export folder.
    """
    export_dir = pathlib.Path(export_dir)
    export_dir.mkdir(parents=True, exist_ok=True)
    config = config_from_backbone(backbone)
    if backbone.dtype_policy.name != "float32":
        float_backbone = build_encoder(config, dtype="float32")
        float_backbone.set_weights(backbone.get_weights())
        backbone = float_backbone
    if vocab_dir is not None:
        check_vocab_matches(vocab_dir, config.vocab_size)
        for name in VOCAB_FILES:
            source = pathlib.Path(vocab_dir) / name
            if not source.is_file():
                raise FileNotFoundError(f"vocabulary file not found: {source}")
            shutil.copyfile(source, export_dir / name)
    backbone.save(export_dir / ENCODER_FILE)
    config.save(export_dir / CONFIG_FILE)
    return export_dir


def load_pretrained_encoder(
    path: str | os.PathLike, dtype: str | None = None
) -> keras_hub.models.BertBackbone:
    """Loads a pretrained encoder from an export folder, a `.keras` file or a keras-nlp preset folder.

    Args:
        path: One of: a folder written by `export_encoder` (has `encoder.keras`); a `.keras`
            file of a `BertBackbone`; a local keras-nlp/keras-hub preset folder (`config.json`
            + `model.weights.h5`, as written by `BertBackbone.save_to_preset`).
        dtype: Optional dtype policy to rebuild the encoder with (e.g. `"mixed_bfloat16"`).

    Returns:
        The `BertBackbone` with its trained weights.

    Raises:
        FileNotFoundError: when `path` is none of the above (the message lists what was looked for).
        ValueError: when the folder holds a model that is not a BERT backbone.
    """
    path = pathlib.Path(path)
    if path.is_dir() and (path / ENCODER_FILE).is_file():
        path = path / ENCODER_FILE
    if path.is_file() and path.suffix == ".keras":
        backbone = keras.saving.load_model(path, compile=False)
        if not isinstance(backbone, keras_hub.models.BertBackbone):
            raise ValueError(f"{path} holds a {type(backbone).__name__}, not a BertBackbone")
        if dtype is not None and backbone.dtype_policy.name != dtype:
            rebuilt = build_encoder(config_from_backbone(backbone), dtype=dtype)
            rebuilt.set_weights(backbone.get_weights())
            backbone = rebuilt
        return backbone
    if path.is_dir() and all((path / name).is_file() for name in _PRESET_FILES):
        preset_class = json.loads((path / "config.json").read_text(encoding="utf-8")).get("class_name", "")
        if not preset_class.endswith("BertBackbone"):
            raise ValueError(f"{path / 'config.json'}: class_name is {preset_class!r}, expected a BertBackbone")
        kwargs = {} if dtype is None else {"dtype": dtype}
        return keras_hub.models.BertBackbone.from_preset(str(path), **kwargs)
    raise FileNotFoundError(
        f"no pretrained encoder at {path}: expected a folder with {ENCODER_FILE}, a .keras file, "
        f"or a keras-nlp preset folder with {' and '.join(_PRESET_FILES)}"
    )
