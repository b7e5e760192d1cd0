"""BaseModelConfig: start from a released checkpoint, the YAML `base_model:` section."""

from __future__ import annotations

import dataclasses
from typing import Optional

from components.base_model.formats import FORMATS
from components.settings import setting

BASE_MODEL_MODES = ("finetune", "continue-pretraining")


@dataclasses.dataclass
class BaseModelConfig:
    """Start from an existing BERT checkpoint instead of pretraining from scratch.

    The checkpoint's vocabulary replaces the vocabulary stage (same Vocabulary artifact), its
    casing the tokenizer's, its config the encoder preset. `finetune` skips pretraining;
    `continue-pretraining` runs the pretraining stage (MLM + NSP) from the checkpoint's encoder
    and heads on `pretraining_corpus` first.
    """

    # bert-tf1 | huggingface | keras-hub
    format: str = setting("", choices=FORMATS)
    # A local folder (relative to the config file) or gs://...
    path: str = setting("", check=lambda value: None if value else "the checkpoint folder is required")
    mode: str = setting("finetune", choices=BASE_MODEL_MODES)
    # None = as the checkpoint says (its tokenizer files, folder name or vocabulary).
    lower_case: Optional[bool] = None

    def for_import(self) -> "BaseModelConfig":
        """What BaseModelImport receives: the mode left at its default, so both modes import with
        the same parameters (one cached import)."""
        return dataclasses.replace(self, mode=BaseModelConfig.mode)
