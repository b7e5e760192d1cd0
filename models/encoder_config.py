"""The one serialisable description of an encoder's shape: `EncoderConfig` and its presets.

The config travels with every exported encoder (`encoder_config.json`) so fine-tuning and serving
rebuild exactly the network that was trained. Like google-research/bert's `BertConfig`, it
round-trips through JSON; unlike it, unknown keys and wrong types are rejected with the key named,
because a typo in a config silently falling back to a default is how a "base" run trains a toy.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

# name -> shape of the encoder; vocab_size always comes from the vocabulary actually built.
PRESETS: dict[str, dict[str, int]] = {
    "tiny": dict(num_layers=2, hidden_dim=32, num_heads=2, intermediate_dim=64),
    # Turc et al. 2019's smallest BERT ("BERT-Tiny", 2/128): what 2 CPU cores pretrain in 30 min.
    "compact": dict(num_layers=2, hidden_dim=128, num_heads=2, intermediate_dim=512),
    "small": dict(num_layers=4, hidden_dim=256, num_heads=4, intermediate_dim=1024),
    "base": dict(num_layers=12, hidden_dim=768, num_heads=12, intermediate_dim=3072),
}


# EncoderConfig field -> the `BertBackbone` argument and attribute of another name.
BACKBONE_NAMES = {"vocab_size": "vocabulary_size"}


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
    """Shape of a BERT encoder (the keras-nlp `BertBackbone` arguments we use).

    Attributes:
        vocab_size: Number of WordPiece ids (lines of `vocab.txt`).
        num_layers: Transformer layers.
        hidden_dim: Width of every token representation; a multiple of `num_heads`.
        num_heads: Attention heads per layer.
        intermediate_dim: Width of the feed-forward block.
        max_sequence_length: Number of position embeddings (longest input the encoder accepts).
        dropout: Dropout rate used in training, in [0, 1).
    """

    vocab_size: int
    num_layers: int
    hidden_dim: int
    num_heads: int
    intermediate_dim: int
    max_sequence_length: int = 512
    dropout: float = 0.1

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type == "int":
                # bool is an int subclass; `num_layers: true` in a YAML file is a mistake.
                if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                    raise ValueError(f"EncoderConfig.{field.name} must be a positive integer, got {value!r}")
            elif field.type == "float":
                if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value < 1.0:
                    raise ValueError(f"EncoderConfig.{field.name} must be a number in [0, 1), got {value!r}")
        if self.hidden_dim % self.num_heads:
            raise ValueError(
                f"EncoderConfig.hidden_dim ({self.hidden_dim}) must be a multiple of "
                f"EncoderConfig.num_heads ({self.num_heads})"
            )

    @classmethod
    def preset(cls, name: str, vocab_size: int, **overrides: Any) -> "EncoderConfig":
        """Returns the named preset (`tiny`, `small`, `base`) for a vocabulary, with overrides.

        Raises:
            ValueError: for an unknown preset name or an unknown override key.
        """
        if name not in PRESETS:
            raise ValueError(f"unknown encoder preset {name!r}; known presets: {sorted(PRESETS)}")
        return cls.from_dict({**PRESETS[name], "vocab_size": vocab_size, **overrides}, where=f"preset {name!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "EncoderConfig") -> "EncoderConfig":
        """Builds a config from a dict, rejecting keys that are not fields (named in the error)."""
        if not isinstance(values, dict):
            raise ValueError(f"{where}: expected a JSON object, got {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{where}: unknown EncoderConfig key {unknown[0]!r} (known keys: {sorted(known)})")
        missing = sorted(
            f.name
            for f in dataclasses.fields(cls)
            if f.name not in values and f.default is dataclasses.MISSING
        )
        if missing:
            raise ValueError(f"{where}: missing EncoderConfig key {missing[0]!r}")
        try:
            return cls(**values)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """Returns the config as a JSON object string (sorted keys, stable across runs)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str = "EncoderConfig JSON") -> "EncoderConfig":
        """Parses `to_json` output; malformed JSON and unknown keys raise ValueError naming them."""
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{where}: not valid JSON ({error})") from None
        return cls.from_dict(values, where=where)

    def save(self, path: str | os.PathLike) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "EncoderConfig":
        with open(path, encoding="utf-8") as f:
            return cls.from_json(f.read(), where=str(path))

    def backbone_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of keras-nlp's `BertBackbone` for this config."""
        return {BACKBONE_NAMES.get(f.name, f.name): getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_backbone(cls, backbone: Any) -> "EncoderConfig":
        """The config of an existing `BertBackbone` (e.g. one loaded from a preset): the
        inverse of `backbone_kwargs`."""
        values = {f.name: getattr(backbone, BACKBONE_NAMES.get(f.name, f.name)) for f in dataclasses.fields(cls)}
        return cls(**{**values, "dropout": float(values["dropout"])})
