"""BERT's pretrained masked-LM and next-sentence heads, carried beside an imported encoder.

Google's TF1 release and Hugging Face `BertForPreTraining` folders hold both heads
(`cls/predictions/...`, `cls/seq_relationship/...`); keras-hub presets have no place for them.
Continued pretraining starts better from them than from fresh heads (a fresh MLM head's first
steps mostly train the head, not the encoder), so an import keeps them in `pretraining_heads.npz`,
one array per weight of `models.pretraining_model.PretrainingModel`'s heads:

  masked_lm_head/transform_dense/kernel        float32 [H, H]
  masked_lm_head/transform_dense/bias          float32 [H]
  masked_lm_head/transform_layer_norm/gamma    float32 [H]
  masked_lm_head/transform_layer_norm/beta     float32 [H]
  masked_lm_head/output_bias                   float32 [V]
  next_sentence_head/classifier/kernel         float32 [H, 2]
  next_sentence_head/classifier/bias           float32 [2]

Either head may be missing (a masked-LM-only checkpoint has no next-sentence head).
"""

from __future__ import annotations

import dataclasses
import io
import posixpath
from typing import Optional

import numpy as np

from components.base_model.formats import HEADS_FILE

MLM_KEYS = ("masked_lm_head/transform_dense/kernel", "masked_lm_head/transform_dense/bias",
            "masked_lm_head/transform_layer_norm/gamma", "masked_lm_head/transform_layer_norm/beta",
            "masked_lm_head/output_bias")
NSP_KEYS = ("next_sentence_head/classifier/kernel", "next_sentence_head/classifier/bias")


@dataclasses.dataclass
class PretrainingHeads:
    """The heads' arrays by the keys above; `mlm` / `nsp` None when the checkpoint lacks them."""

    mlm: Optional[dict[str, np.ndarray]] = None
    nsp: Optional[dict[str, np.ndarray]] = None

    def __post_init__(self):
        for name, group, keys in (("mlm", self.mlm, MLM_KEYS), ("nsp", self.nsp, NSP_KEYS)):
            if group is not None and set(group) != set(keys):
                raise ValueError(f"PretrainingHeads.{name}: expected keys {list(keys)}, got {sorted(group)}")

    @property
    def present(self) -> tuple[str, ...]:
        return tuple(name for name in ("mlm", "nsp") if getattr(self, name) is not None)

    def arrays(self) -> dict[str, np.ndarray]:
        return {**(self.mlm or {}), **(self.nsp or {})}

    def check_shapes(self, hidden: int, vocab_size: int, where: str) -> None:
        """Raises ValueError naming `where` and the key of an array of the wrong shape."""
        expected = {MLM_KEYS[0]: (hidden, hidden), MLM_KEYS[1]: (hidden,), MLM_KEYS[2]: (hidden,),
                    MLM_KEYS[3]: (hidden,), MLM_KEYS[4]: (vocab_size,),
                    NSP_KEYS[0]: (hidden, 2), NSP_KEYS[1]: (2,)}
        for key, value in self.arrays().items():
            if tuple(value.shape) != expected[key]:
                raise ValueError(f"{where}: {key} has shape {tuple(value.shape)}, expected {expected[key]}")


def save_heads(heads: PretrainingHeads, directory: str) -> Optional[str]:
    """Writes `<directory>/pretraining_heads.npz` (any tf.io.gfile path); None when there are no heads."""
    import tensorflow as tf

    if not heads.present:
        return None
    buffer = io.BytesIO()
    np.savez(buffer, **heads.arrays())
    path = posixpath.join(directory, HEADS_FILE)
    with tf.io.gfile.GFile(path, "wb") as handle:
        handle.write(buffer.getvalue())
    return path


def load_heads(directory: str) -> Optional[PretrainingHeads]:
    """Reads `<directory>/pretraining_heads.npz`; None when the file is not there.

    Raises:
        ValueError: naming the file and the key when a head is incomplete or a key is unknown.
    """
    import tensorflow as tf

    path = posixpath.join(directory, HEADS_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path, "rb") as handle:
        with np.load(io.BytesIO(handle.read())) as archive:
            arrays = {key: archive[key].astype(np.float32) for key in archive.files}
    unknown = sorted(set(arrays) - set(MLM_KEYS) - set(NSP_KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown key {unknown[0]!r}")
    groups = {}
    for name, keys in (("mlm", MLM_KEYS), ("nsp", NSP_KEYS)):
        found = [key for key in keys if key in arrays]
        if found and len(found) != len(keys):
            missing = next(key for key in keys if key not in arrays)
            raise ValueError(f"{path}: missing {missing!r} (the {name} head is incomplete)")
        groups[name] = {key: arrays[key] for key in keys} if found else None
    return PretrainingHeads(**groups)


def assign_heads(model, heads: PretrainingHeads, where: str) -> None:
    """Sets a built `PretrainingModel`'s head weights from `heads` (the heads it has)."""
    mlm, nsp = model.masked_lm_head, model.next_sentence_head
    heads.check_shapes(model.encoder.hidden_dim, model.encoder.vocabulary_size, where)
    targets = {
        MLM_KEYS[0]: mlm.transform_dense.kernel, MLM_KEYS[1]: mlm.transform_dense.bias,
        MLM_KEYS[2]: mlm.transform_layer_norm.gamma, MLM_KEYS[3]: mlm.transform_layer_norm.beta,
        MLM_KEYS[4]: mlm.output_bias,
        NSP_KEYS[0]: nsp.classifier.kernel, NSP_KEYS[1]: nsp.classifier.bias,
    }
    for key, value in heads.arrays().items():
        targets[key].assign(value)
