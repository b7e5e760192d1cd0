"""google-research/bert TF1 checkpoints (`bert_config.json`, `bert_model.ckpt.*`, `vocab.txt`).

No library reads these into keras-hub, so the variable mapping is ours, read with
`tf.train.load_checkpoint`. Names and layouts (TF1 Dense kernels are [in, out], as Keras'):

  bert/embeddings/word_embeddings                     [V, H]  -> token_embedding
  bert/embeddings/position_embeddings                 [P, H]  -> position_embedding
  bert/embeddings/token_type_embeddings               [2, H]  -> segment_embedding
  bert/embeddings/LayerNorm/{gamma,beta}              [H]     -> embeddings_layer_norm
  bert/encoder/layer_N/attention/self/{query,key,value}/kernel [H, H] -> [H, heads, H/heads]
  bert/encoder/layer_N/attention/self/{query,key,value}/bias   [H]    -> [heads, H/heads]
  bert/encoder/layer_N/attention/output/dense/kernel  [H, H]  -> [heads, H/heads, H]
  bert/encoder/layer_N/attention/output/LayerNorm/*   [H]     -> _self_attention_layer_norm
  bert/encoder/layer_N/intermediate/dense/*           [H, I]  -> _feedforward_intermediate_dense
  bert/encoder/layer_N/output/dense/*                 [I, H]  -> _feedforward_output_dense
  bert/encoder/layer_N/output/LayerNorm/*             [H]     -> _feedforward_layer_norm
  bert/pooler/dense/{kernel,bias}                     [H, H]  -> pooled_dense
  cls/predictions/transform/dense/*, cls/predictions/transform/LayerNorm/*,
  cls/predictions/output_bias [V]                             -> masked-LM head
  cls/seq_relationship/output_weights [2, H] (transposed), cls/seq_relationship/output_bias [2]
                                                              -> next-sentence head

The head-major reshapes are exact because TF1's query kernel column h * (H/heads) + d is head h,
unit d (modeling.py's transpose_for_scores). Optimizer slots (`.../adam_m`) and `global_step`
in a training checkpoint are ignored. BERT's `gelu` is the tanh approximation, as keras-hub's.
"""

from __future__ import annotations

import glob
import os
import posixpath

from components.base_model import formats
from components.base_model.checkpoint import CheckpointError, read_config_json, CheckpointInfo, assign, wrong_format_hint
from components.base_model.heads import MLM_KEYS, NSP_KEYS, PretrainingHeads
from models.encoder_config import EncoderConfig

CONFIG_FILE = "bert_config.json"
VOCAB_FILE = "vocab.txt"
EMBEDDING = "bert/embeddings/word_embeddings"
POSITIONS = "bert/embeddings/position_embeddings"
_REQUIRED_KEYS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                  "intermediate_size", "max_position_embeddings")
_MLM_NAMES = ("cls/predictions/transform/dense/kernel", "cls/predictions/transform/dense/bias",
              "cls/predictions/transform/LayerNorm/gamma", "cls/predictions/transform/LayerNorm/beta",
              "cls/predictions/output_bias")
_NSP_NAMES = ("cls/seq_relationship/output_weights", "cls/seq_relationship/output_bias")


def read_config(local_dir: str) -> dict:
    """bert_config.json, checked: a missing or non-integer shape key names the file and key."""
    config = read_config_json(local_dir, CONFIG_FILE, formats.BERT_TF1, "checkpoint folder",
                              f"{CONFIG_FILE}, bert_model.ckpt.* and {VOCAB_FILE}")
    path = posixpath.join(local_dir, CONFIG_FILE)
    for key in _REQUIRED_KEYS:
        if not isinstance(config.get(key), int) or isinstance(config.get(key), bool):
            raise CheckpointError(f"{path}: {key} must be an integer, got {config.get(key)!r}")
    if config.get("hidden_act", "gelu") != "gelu":
        raise CheckpointError(f"{path}: hidden_act is {config['hidden_act']!r}; only BERT's 'gelu' "
                              f"is supported")
    if config.get("type_vocab_size", 2) != 2:
        raise CheckpointError(f"{path}: type_vocab_size is {config['type_vocab_size']}; the "
                              f"pipeline's encoder has 2 segment types")
    return config


def checkpoint_prefix(local_dir: str) -> str:
    """The checkpoint's path prefix: named by a `checkpoint` file, else the only `*.index` file."""
    import tensorflow as tf

    named = tf.train.latest_checkpoint(local_dir)
    if named:
        return named
    indexes = sorted(glob.glob(os.path.join(glob.escape(local_dir), "*.index")))
    if not indexes:
        raise CheckpointError(f"{local_dir}: no TF1 checkpoint (no *.index file, e.g. "
                              f"bert_model.ckpt.index){wrong_format_hint(local_dir, formats.BERT_TF1)}")
    if len(indexes) > 1:
        names = ", ".join(os.path.basename(p) for p in indexes)
        raise CheckpointError(f"{local_dir}: several checkpoints ({names}) and no 'checkpoint' file "
                              f"naming one; keep one")
    return indexes[0][:-len(".index")]


def encoder_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """Every encoder variable the mapping reads, with the shape bert_config.json implies."""
    h, i = config["hidden_size"], config["intermediate_size"]
    shapes = {EMBEDDING: (config["vocab_size"], h), POSITIONS: (config["max_position_embeddings"], h),
              "bert/embeddings/token_type_embeddings": (2, h),
              "bert/embeddings/LayerNorm/gamma": (h,), "bert/embeddings/LayerNorm/beta": (h,),
              "bert/pooler/dense/kernel": (h, h), "bert/pooler/dense/bias": (h,)}
    for n in range(config["num_hidden_layers"]):
        for suffix, shape in _layer_shapes(h, i).items():
            shapes[f"bert/encoder/layer_{n}/{suffix}"] = shape
    return shapes


def _layer_shapes(h: int, i: int) -> dict[str, tuple[int, ...]]:
    shapes = {}
    for part in ("attention/self/query", "attention/self/key", "attention/self/value",
                 "attention/output/dense"):
        shapes[f"{part}/kernel"], shapes[f"{part}/bias"] = (h, h), (h,)
    shapes["intermediate/dense/kernel"], shapes["intermediate/dense/bias"] = (h, i), (i,)
    shapes["output/dense/kernel"], shapes["output/dense/bias"] = (i, h), (h,)
    for norm in ("attention/output/LayerNorm", "output/LayerNorm"):
        shapes[f"{norm}/gamma"], shapes[f"{norm}/beta"] = (h,), (h,)
    return shapes


def _head_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    h = config["hidden_size"]
    return dict(zip(_MLM_NAMES + _NSP_NAMES,
                    [(h, h), (h,), (h,), (h,), (config["vocab_size"],), (2, h), (2,)]))


def _check_variables(found: dict, expected: dict, where: str, config_file: str) -> None:
    if EMBEDDING not in found:
        scopes = sorted({name.split("/")[0] for name in found})
        raise CheckpointError(f"{where}: no variable {EMBEDDING}; the checkpoint's variables are "
                              f"under {scopes[:5]}: not a BERT model")
    for name, shape in expected.items():
        if name not in found:
            raise CheckpointError(f"{where}: missing variable {name}")
        if tuple(found[name]) != shape:
            raise CheckpointError(f"{where}: {name} has shape {tuple(found[name])} but {config_file} "
                                  f"implies {shape}")


def _present_heads(found: dict, config: dict, where: str) -> tuple[str, ...]:
    heads = []
    shapes = _head_shapes(config)
    for head, names in (("mlm", _MLM_NAMES), ("nsp", _NSP_NAMES)):
        present = [name for name in names if name in found]
        if not present:
            continue
        for name in names:
            if name not in found:
                raise CheckpointError(f"{where}: missing variable {name} (the {head} head is incomplete)")
            if tuple(found[name]) != shapes[name]:
                raise CheckpointError(f"{where}: {name} has shape {tuple(found[name])}, expected {shapes[name]}")
        heads.append(head)
    return tuple(heads)


def inspect(local_dir: str, path: str) -> CheckpointInfo:
    """Config, variable names and shapes; nothing is read from the data file.

    Args:
        local_dir: the folder read (a local copy of a remote one).
        path: the folder as the user named it (its name may tell the casing).
    """
    import tensorflow as tf

    config = read_config(local_dir)
    prefix = checkpoint_prefix(local_dir)
    found = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
    config_file = posixpath.join(local_dir, CONFIG_FILE)
    _check_variables(found, encoder_shapes(config), prefix, config_file)
    encoder = EncoderConfig.from_dict(dict(
        vocab_size=config["vocab_size"], num_layers=config["num_hidden_layers"],
        hidden_dim=config["hidden_size"], num_heads=config["num_attention_heads"],
        intermediate_dim=config["intermediate_size"],
        max_sequence_length=config["max_position_embeddings"],
        dropout=float(config.get("hidden_dropout_prob", 0.1))), where=config_file)
    return CheckpointInfo(
        format=formats.BERT_TF1, path=path, local_dir=local_dir, encoder=encoder,
        weights_file=prefix, embedding_variable=EMBEDDING, position_variable=POSITIONS,
        vocab_file=posixpath.join(local_dir, VOCAB_FILE), heads=_present_heads(found, config, prefix),
        **_casing_from_name(path), details={"prefix": prefix})


def _casing_from_name(path: str) -> dict:
    """google-research/bert names its uncased releases `uncased_*` and `multilingual_L-*`
    (tokenization.validate_case_matches_checkpoint); other folder names decide nothing."""
    name = posixpath.basename(path.rstrip("/"))
    if name.startswith("uncased_") or name.startswith("multilingual_L-"):
        return {"lower_case": True, "casing_from": f"folder name {name}"}
    if name.startswith(("cased_", "multi_cased_", "wwm_cased_")):
        return {"lower_case": False, "casing_from": f"folder name {name}"}
    return {}


def _encoder_targets(backbone):
    """(keras variable, TF1 name) for every encoder weight."""
    yield backbone.token_embedding.embeddings, EMBEDDING
    yield backbone.position_embedding.position_embeddings, POSITIONS
    yield backbone.segment_embedding.embeddings, "bert/embeddings/token_type_embeddings"
    yield backbone.embeddings_layer_norm.gamma, "bert/embeddings/LayerNorm/gamma"
    yield backbone.embeddings_layer_norm.beta, "bert/embeddings/LayerNorm/beta"
    for n, layer in enumerate(backbone.transformer_layers):
        prefix = f"bert/encoder/layer_{n}"
        attention = layer._self_attention_layer
        for dense, name in ((attention.query_dense, "attention/self/query"),
                            (attention.key_dense, "attention/self/key"),
                            (attention.value_dense, "attention/self/value"),
                            (attention.output_dense, "attention/output/dense"),
                            (layer._feedforward_intermediate_dense, "intermediate/dense"),
                            (layer._feedforward_output_dense, "output/dense")):
            yield dense.kernel, f"{prefix}/{name}/kernel"
            yield dense.bias, f"{prefix}/{name}/bias"
        for norm, name in ((layer._self_attention_layer_norm, "attention/output/LayerNorm"),
                           (layer._feedforward_layer_norm, "output/LayerNorm")):
            yield norm.gamma, f"{prefix}/{name}/gamma"
            yield norm.beta, f"{prefix}/{name}/beta"
    yield backbone.pooled_dense.kernel, "bert/pooler/dense/kernel"
    yield backbone.pooled_dense.bias, "bert/pooler/dense/bias"


def load_encoder(info: CheckpointInfo):
    """A float32 BertBackbone with the checkpoint's weights (shapes were checked by inspect)."""
    import tensorflow as tf

    from models.encoder import build_encoder

    reader = tf.train.load_checkpoint(info.details["prefix"])
    backbone = build_encoder(info.encoder, dtype="float32")
    for variable, name in _encoder_targets(backbone):
        assign(variable, reader.get_tensor(name), info.weights_file, name)
    return backbone


def load_heads(info: CheckpointInfo) -> PretrainingHeads:
    import numpy as np
    import tensorflow as tf

    reader = tf.train.load_checkpoint(info.details["prefix"])
    groups = {}
    if "mlm" in info.heads:
        groups["mlm"] = {key: reader.get_tensor(name).astype(np.float32)
                         for key, name in zip(MLM_KEYS, _MLM_NAMES)}
    if "nsp" in info.heads:
        # output_weights is [2, H] (used as matmul(pooled, W, transpose_b=True)); Dense wants [H, 2].
        groups["nsp"] = {NSP_KEYS[0]: reader.get_tensor(_NSP_NAMES[0]).T.astype(np.float32),
                         NSP_KEYS[1]: reader.get_tensor(_NSP_NAMES[1]).astype(np.float32)}
    return PretrainingHeads(**groups)
