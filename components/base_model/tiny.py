"""Tiny random BERT checkpoints in the three formats users hold, written here without downloads.

Tests and benchmarks make one set of weights (`random_bert_weights`, google-research/bert's TF1
variable names) and write it as Google's TF1 release (`bert_config.json`, `bert_model.ckpt.*`,
`vocab.txt`), as a Hugging Face folder (`config.json`, `model.safetensors`, `vocab.txt`,
`tokenizer_config.json`) and as a keras-hub preset. The Hugging Face writer has its own
name/layout mapping (PyTorch `Linear` weights are [out, in]) so that it checks, rather than
repeats, the TF1 importer's; the keras-hub preset is made by keras-hub itself from the Hugging
Face folder.
"""

from __future__ import annotations

import json
import pathlib
import re
from typing import Optional, Sequence

import numpy as np

# The shape of a tiny BERT in bert_config.json terms (2 layers, hidden 32, as the unit tests use).
TINY_CONFIG = {
    "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
    "max_position_embeddings": 64, "type_vocab_size": 2, "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02,
}

# A hand-written multilingual vocabulary: BERT's special-token layout ([PAD], [unusedN], [UNK],
# [CLS], [SEP], [MASK]), Latin with accents, CJK, Thai and Arabic pieces.
TINY_VOCAB = (["[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
              + ["the", "The", "cat", "##s", "sat", "é", "café", "Über", "中", "文", "ก", "##ข",
                 "ข", "مر", "##حبا", ".", ",", "!", "a", "##a", "b", "##b"])


def bert_config(vocab_size: int, **overrides) -> dict:
    """A google-research/bert `bert_config.json` mapping for the tiny shape."""
    return {**TINY_CONFIG, "vocab_size": vocab_size, **overrides}


def random_bert_weights(config: dict, seed: int = 0, heads: bool = True) -> dict[str, np.ndarray]:
    """Random float32 weights under google-research/bert's TF1 variable names.

    Scales are large enough (0.2, layer-norm gammas around 1) that swapping two variables or a
    transposition changes the encoder output by far more than float rounding.

    Args:
        config: bert_config.json keys (hidden_size, num_hidden_layers, ...).
        seed: numpy seed.
        heads: include the masked-LM (`cls/predictions/...`) and next-sentence
            (`cls/seq_relationship/...`) heads.

    Returns:
        name -> array, e.g. `bert/encoder/layer_0/attention/self/query/kernel` float32 [H, H].
    """
    rng = np.random.default_rng(seed)
    h, i, v = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    shapes = {
        "bert/embeddings/word_embeddings": (v, h),
        "bert/embeddings/position_embeddings": (config["max_position_embeddings"], h),
        "bert/embeddings/token_type_embeddings": (config["type_vocab_size"], h),
        "bert/pooler/dense/kernel": (h, h), "bert/pooler/dense/bias": (h,),
    }
    _layer_norm_shapes(shapes, "bert/embeddings/LayerNorm", h)
    for n in range(config["num_hidden_layers"]):
        prefix = f"bert/encoder/layer_{n}"
        for part in ("query", "key", "value"):
            shapes[f"{prefix}/attention/self/{part}/kernel"] = (h, h)
            shapes[f"{prefix}/attention/self/{part}/bias"] = (h,)
        shapes.update({
            f"{prefix}/attention/output/dense/kernel": (h, h),
            f"{prefix}/attention/output/dense/bias": (h,),
            f"{prefix}/intermediate/dense/kernel": (h, i), f"{prefix}/intermediate/dense/bias": (i,),
            f"{prefix}/output/dense/kernel": (i, h), f"{prefix}/output/dense/bias": (h,),
        })
        _layer_norm_shapes(shapes, f"{prefix}/attention/output/LayerNorm", h)
        _layer_norm_shapes(shapes, f"{prefix}/output/LayerNorm", h)
    if heads:
        shapes.update({
            "cls/predictions/transform/dense/kernel": (h, h),
            "cls/predictions/transform/dense/bias": (h,), "cls/predictions/output_bias": (v,),
            "cls/seq_relationship/output_weights": (2, h), "cls/seq_relationship/output_bias": (2,),
        })
        _layer_norm_shapes(shapes, "cls/predictions/transform/LayerNorm", h)
    weights = {}
    for name, shape in shapes.items():
        value = rng.normal(0.0, 0.2, size=shape)
        if name.endswith("/gamma"):
            value = 1.0 + 0.5 * value
        weights[name] = value.astype(np.float32)
    return weights


def _layer_norm_shapes(shapes: dict, prefix: str, hidden: int) -> None:
    shapes[f"{prefix}/gamma"] = (hidden,)
    shapes[f"{prefix}/beta"] = (hidden,)


def _write_vocab(path: pathlib.Path, vocab: Sequence[str]) -> None:
    path.write_text("".join(f"{token}\n" for token in vocab), encoding="utf-8")


def write_tf1_checkpoint(out_dir, weights: dict[str, np.ndarray], config: dict,
                         vocab: Sequence[str], prefix: str = "bert_model.ckpt") -> pathlib.Path:
    """Writes Google's release layout: bert_config.json, `<prefix>.index/.data-*`, vocab.txt.

    The bundle is written with the raw SaveV2 op, so variable names are exactly the given ones
    (as a TF1 `tf.train.Saver` wrote them), with no object-graph metadata.
    """
    import tensorflow as tf

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = sorted(weights)
    tf.raw_ops.SaveV2(prefix=str(out_dir / prefix), tensor_names=tf.constant(names),
                      shape_and_slices=tf.constant([""] * len(names)),
                      tensors=[tf.constant(weights[name]) for name in names])
    (out_dir / "bert_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    _write_vocab(out_dir / "vocab.txt", vocab)
    return out_dir


def huggingface_name(tf1_name: str, legacy_layer_norm: bool = True) -> tuple[str, bool]:
    """(Hugging Face name, whether the array is transposed) of a google-research/bert variable.

    `legacy_layer_norm` keeps `LayerNorm.gamma/beta`, the names of the checkpoints on the Hub
    converted from Google's release (bert-base-multilingual-cased); current `transformers`
    writes `LayerNorm.weight/bias`.
    """
    special = {"cls/predictions/output_bias": "cls.predictions.bias",
               "cls/seq_relationship/output_weights": "cls.seq_relationship.weight",
               "cls/seq_relationship/output_bias": "cls.seq_relationship.bias"}
    if tf1_name in special:
        return special[tf1_name], False
    name = re.sub(r"layer_(\d+)", r"layer.\1", tf1_name).replace("/", ".")
    if name.endswith("_embeddings"):
        return name + ".weight", False
    if name.endswith(".kernel"):
        return name[:-len("kernel")] + "weight", True
    if not legacy_layer_norm:
        name = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", name)
        name = re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", name)
    return name, False


def write_huggingface_checkpoint(out_dir, weights: dict[str, np.ndarray], config: dict,
                                 vocab: Sequence[str], lower_case: bool = False,
                                 legacy_layer_norm: bool = True,
                                 model_prefix: str = "bert.") -> pathlib.Path:
    """Writes a Hugging Face BERT folder: config.json, model.safetensors, vocab.txt, tokenizer_config.json.

    Args:
        model_prefix: `"bert."` as `BertForPreTraining`/`BertForMaskedLM` save it, `""` as a bare
            `BertModel` does (its checkpoint then has no heads).
    """
    from safetensors.numpy import save_file

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for tf1_name, value in weights.items():
        name, transpose = huggingface_name(tf1_name, legacy_layer_norm)
        if name.startswith("bert."):
            name = model_prefix + name[len("bert."):]
        tensors[name] = np.ascontiguousarray(value.T if transpose else value)
    save_file(tensors, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    heads = any(name.startswith("cls/") for name in weights)
    hf_config = {
        "architectures": ["BertForPreTraining" if heads else "BertModel"], "model_type": "bert",
        "hidden_size": config["hidden_size"], "num_hidden_layers": config["num_hidden_layers"],
        "num_attention_heads": config["num_attention_heads"],
        "intermediate_size": config["intermediate_size"], "hidden_act": config["hidden_act"],
        "hidden_dropout_prob": config["hidden_dropout_prob"],
        "attention_probs_dropout_prob": config["attention_probs_dropout_prob"],
        "max_position_embeddings": config["max_position_embeddings"],
        "type_vocab_size": config["type_vocab_size"], "vocab_size": config["vocab_size"],
        "initializer_range": config["initializer_range"], "layer_norm_eps": 1e-12,
        "pad_token_id": 0, "position_embedding_type": "absolute",
    }
    (out_dir / "config.json").write_text(json.dumps(hf_config, indent=2), encoding="utf-8")
    (out_dir / "tokenizer_config.json").write_text(
        json.dumps({"do_lower_case": lower_case}), encoding="utf-8")
    _write_vocab(out_dir / "vocab.txt", vocab)
    return out_dir


def write_keras_hub_preset(out_dir, huggingface_dir, lower_case: Optional[bool] = None
                           ) -> pathlib.Path:
    """A keras-hub preset made by keras-hub from a Hugging Face folder (backbone + tokenizer).

    Only library calls: `BertBackbone.from_preset(<HF folder>)` and the tokenizer's
    `save_to_preset`, as a keras-hub user would make one.
    """
    import keras_hub

    huggingface_dir = pathlib.Path(huggingface_dir)
    hf_config = json.loads((huggingface_dir / "config.json").read_text(encoding="utf-8"))
    if lower_case is None:
        lower_case = json.loads((huggingface_dir / "tokenizer_config.json").read_text(
            encoding="utf-8"))["do_lower_case"]
    backbone = keras_hub.models.BertBackbone.from_preset(
        str(huggingface_dir), max_sequence_length=hf_config["max_position_embeddings"])
    out_dir = pathlib.Path(out_dir)
    backbone.save_to_preset(str(out_dir))
    vocab = (huggingface_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    keras_hub.models.BertTokenizer(vocabulary=vocab, lowercase=lower_case).save_to_preset(str(out_dir))
    return out_dir
