"""Hugging Face BERT folders (`config.json`, `model.safetensors`, `vocab.txt`), read by keras-hub.

keras-hub 0.25.1 converts a local Hugging Face folder (`BertBackbone.from_preset(dir)`, chosen by
`model_type` in config.json) but, as checked in its source and on tiny checkpoints here:
- it reads `LayerNorm.gamma/.beta` (the names of the checkpoints converted from Google's release,
  e.g. bert-base-multilingual-cased) and fails on `LayerNorm.weight/.bias`, the names current
  `transformers` writes, and on a bare `BertModel` file (names without the `bert.` prefix);
- it ignores `max_position_embeddings` (always builds 512 positions) and the dropout rate;
- it reads only model.safetensors (no pytorch_model.bin), and imports `sentencepiece` for any
  Hugging Face model type;
- it loads no pretraining heads.
So here: names and shapes are checked from the safetensors headers first (errors name the file
and the tensor), a file with other names is rewritten to keras-hub's names in a temporary folder,
the position count and dropout are passed to `from_preset`, and the heads (`cls.predictions.*`,
`cls.seq_relationship.*`) are read with safetensors directly.

Hugging Face's `hidden_act: "gelu"` is the exact erf GELU; keras-hub's BERT (like Google's TF1
BERT) uses the tanh approximation. The difference on the sequence output is measured against
`transformers.BertModel` by benchmarks/checkpoint_parity.py (notes/checkpoints.md).
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import tempfile

from components.base_model import formats
from components.base_model.checkpoint import CheckpointError, read_config_json, CheckpointInfo, wrong_format_hint
from components.base_model.heads import MLM_KEYS, NSP_KEYS, PretrainingHeads
from models.encoder_config import EncoderConfig

CONFIG_FILE = "config.json"
SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
_GELUS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_python")
_OTHER_WEIGHTS = ("pytorch_model.bin", "tf_model.h5", "flax_model.msgpack")


def read_config(local_dir: str) -> dict:
    """config.json, checked: another model_type, activation or position scheme names the key."""
    config = read_config_json(local_dir, CONFIG_FILE, formats.HUGGINGFACE, "checkpoint folder",
                              f"{CONFIG_FILE}, {SINGLE_FILE} and vocab.txt")
    path = posixpath.join(local_dir, CONFIG_FILE)
    if config.get("model_type") != "bert":
        raise CheckpointError(f"{path}: model_type is {config.get('model_type')!r}, expected 'bert'"
                              f"{wrong_format_hint(local_dir, formats.HUGGINGFACE)}")
    checks = (("hidden_act", config.get("hidden_act", "gelu") in _GELUS, "a GELU"),
              ("position_embedding_type", config.get("position_embedding_type", "absolute")
               == "absolute", "'absolute'"),
              ("type_vocab_size", config.get("type_vocab_size", 2) == 2, "2"),
              ("layer_norm_eps", abs(config.get("layer_norm_eps", 1e-12) - 1e-12) < 1e-15, "1e-12"))
    for key, ok, wanted in checks:
        if not ok:
            raise CheckpointError(f"{path}: {key} is {config.get(key)!r}; keras-hub's BertBackbone "
                                  f"needs {wanted}")
    return config


def _weight_files(local_dir: str) -> dict[str, str]:
    """Tensor name -> file, from model.safetensors or the sharded index."""
    index = posixpath.join(local_dir, INDEX_FILE)
    if os.path.isfile(index):
        weight_map = json.loads(open(index, encoding="utf-8").read()).get("weight_map", {})
        return {name: posixpath.join(local_dir, file) for name, file in weight_map.items()}
    single = posixpath.join(local_dir, SINGLE_FILE)
    if os.path.isfile(single):
        from safetensors import safe_open

        with safe_open(single, framework="np") as handle:
            return dict.fromkeys(handle.keys(), single)
    others = [name for name in _OTHER_WEIGHTS if os.path.isfile(posixpath.join(local_dir, name))]
    raise CheckpointError(
        f"{single}: not found{' (the folder has ' + ', '.join(others) + ')' if others else ''}; "
        f"only safetensors weights are read here: save the model with "
        f"save_pretrained(dir, safe_serialization=True)")


def _shapes(files: dict[str, str]) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    shapes = {}
    for file in sorted(set(files.values())):
        if not os.path.isfile(file):
            raise CheckpointError(f"{file}: not found (named by {INDEX_FILE})")
        with safe_open(file, framework="np") as handle:
            for name in handle.keys():
                shapes[name] = tuple(handle.get_slice(name).get_shape())
    return shapes


def keras_hub_names(config: dict) -> list[str]:
    """The encoder tensor names keras-hub's converter reads (all under `bert.`, LayerNorm.gamma/beta)."""
    names = [f"bert.embeddings.{n}.weight" for n in
             ("word_embeddings", "position_embeddings", "token_type_embeddings")]
    names += ["bert.embeddings.LayerNorm.gamma", "bert.embeddings.LayerNorm.beta",
              "bert.pooler.dense.weight", "bert.pooler.dense.bias"]
    for n in range(config["num_hidden_layers"]):
        for part in ("attention.self.query", "attention.self.key", "attention.self.value",
                     "attention.output.dense", "intermediate.dense", "output.dense"):
            names += [f"bert.encoder.layer.{n}.{part}.weight", f"bert.encoder.layer.{n}.{part}.bias"]
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            names += [f"bert.encoder.layer.{n}.{norm}.gamma", f"bert.encoder.layer.{n}.{norm}.beta"]
    return names


def _expected_shape(name: str, config: dict) -> tuple[int, ...]:
    h, i = config["hidden_size"], config["intermediate_size"]
    if name.endswith("word_embeddings.weight"):
        return (config["vocab_size"], h)
    if name.endswith("position_embeddings.weight"):
        return (config["max_position_embeddings"], h)
    if name.endswith("token_type_embeddings.weight"):
        return (2, h)
    if ".intermediate.dense." in name:
        return (i, h) if name.endswith(".weight") else (i,)
    if ".output.dense.weight" in name and ".attention." not in name:
        return (h, i)  # PyTorch Linear weights are [out, in].
    return (h, h) if name.endswith(".weight") and "LayerNorm" not in name else (h,)


def _file_name(canonical: str, prefix: str, legacy: bool) -> str:
    """The name a canonical (keras-hub) tensor has in this file."""
    name = prefix + canonical[len("bert."):]
    if not legacy:
        name = name.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
    return name


def _naming(shapes: dict, where: str) -> tuple[str, bool]:
    """(name prefix, legacy LayerNorm names) of the file: `bert.` or `` and gamma or weight."""
    suffix = "embeddings.word_embeddings.weight"
    prefixes = [name[:-len(suffix)] for name in shapes if name.endswith(suffix)]
    if not prefixes:
        raise CheckpointError(f"{where}: no tensor *.{suffix}; not a BERT model")
    prefix = "bert." if "bert." in prefixes else prefixes[0]
    if prefix not in ("bert.", ""):
        raise CheckpointError(f"{where}: the encoder's tensors are under {prefix!r}, expected 'bert.' "
                              f"(a {prefix.rstrip('.')} model, not BERT)")
    return prefix, f"{prefix}embeddings.LayerNorm.gamma" in shapes


def _casing(local_dir: str) -> dict:
    """do_lower_case of tokenizer_config.json, else the normalizer's lowercase in tokenizer.json."""
    for file, keys in (("tokenizer_config.json", ("do_lower_case",)),
                       ("tokenizer.json", ("normalizer", "lowercase"))):
        path = posixpath.join(local_dir, file)
        if not os.path.isfile(path):
            continue
        value = json.loads(open(path, encoding="utf-8").read())
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, bool):
            return {"lower_case": value, "casing_from": f"{path} ({'.'.join(keys)})"}
    return {}


def inspect(local_dir: str, path: str) -> CheckpointInfo:
    """Config and the safetensors headers (names, shapes); no tensor data is read."""
    config = read_config(local_dir)
    files = _weight_files(local_dir)
    shapes = _shapes(files)
    single = set(files.values())
    where = single.pop() if len(single) == 1 else posixpath.join(local_dir, INDEX_FILE)
    prefix, legacy = _naming(shapes, where)
    for canonical in keras_hub_names(config):
        name = _file_name(canonical, prefix, legacy)
        if name not in shapes:
            raise CheckpointError(f"{files.get(name, where)}: missing tensor {name}")
        if shapes[name] != _expected_shape(canonical, config):
            raise CheckpointError(f"{files[name]}: {name} has shape {shapes[name]} but {CONFIG_FILE} "
                                  f"implies {_expected_shape(canonical, config)}")
    embedding = _file_name("bert.embeddings.word_embeddings.weight", prefix, legacy)
    encoder = EncoderConfig.from_dict(dict(
        vocab_size=config["vocab_size"], num_layers=config["num_hidden_layers"],
        hidden_dim=config["hidden_size"], num_heads=config["num_attention_heads"],
        intermediate_dim=config["intermediate_size"],
        max_sequence_length=config["max_position_embeddings"],
        dropout=float(config.get("hidden_dropout_prob", 0.1))), where=posixpath.join(local_dir, CONFIG_FILE))
    return CheckpointInfo(
        format=formats.HUGGINGFACE, path=path, local_dir=local_dir, encoder=encoder,
        weights_file=files[embedding], embedding_variable=embedding,
        position_variable=_file_name("bert.embeddings.position_embeddings.weight", prefix, legacy),
        vocab_file=posixpath.join(local_dir, "vocab.txt"), heads=_present_heads(shapes, files, config),
        **_casing(local_dir), details={"prefix": prefix, "legacy": legacy, "files": files})


def _head_names(shapes: dict) -> dict[str, str]:
    """Our head key -> tensor name in the file (LayerNorm and bias names vary by version)."""
    legacy = "cls.predictions.transform.LayerNorm.gamma" in shapes
    bias = "cls.predictions.bias" if "cls.predictions.bias" in shapes else "cls.predictions.decoder.bias"
    return dict(zip(MLM_KEYS + NSP_KEYS, (
        "cls.predictions.transform.dense.weight", "cls.predictions.transform.dense.bias",
        f"cls.predictions.transform.LayerNorm.{'gamma' if legacy else 'weight'}",
        f"cls.predictions.transform.LayerNorm.{'beta' if legacy else 'bias'}", bias,
        "cls.seq_relationship.weight", "cls.seq_relationship.bias")))


def _present_heads(shapes: dict, files: dict, config: dict) -> tuple[str, ...]:
    h, v = config["hidden_size"], config["vocab_size"]
    names = _head_names(shapes)
    wanted = dict(zip(MLM_KEYS + NSP_KEYS, [(h, h), (h,), (h,), (h,), (v,), (2, h), (2,)]))
    heads = []
    for head, keys in (("mlm", MLM_KEYS), ("nsp", NSP_KEYS)):
        if not any(names[key] in shapes for key in keys):
            continue
        for key in keys:
            if names[key] not in shapes:
                raise CheckpointError(f"{sorted(set(files.values()))[0]}: missing tensor "
                                      f"{names[key]} (the {head} head is incomplete)")
            if shapes[names[key]] != wanted[key]:
                raise CheckpointError(f"{files[names[key]]}: {names[key]} has shape "
                                      f"{shapes[names[key]]}, expected {wanted[key]}")
        heads.append(head)
    return tuple(heads)


def _read(files: dict[str, str], names: list[str]) -> dict:
    from safetensors import safe_open

    tensors = {}
    for file in sorted({files[name] for name in names}):
        with safe_open(file, framework="np") as handle:
            for name in names:
                if files[name] == file:
                    tensors[name] = handle.get_tensor(name)
    return tensors


def load_encoder(info: CheckpointInfo):
    """keras-hub's converter on the folder, or on a copy renamed to the names it reads."""
    import keras_hub

    details = info.details
    config = read_config(info.local_dir)
    staging = None
    preset = info.local_dir
    if details["prefix"] != "bert." or not details["legacy"]:
        from safetensors.numpy import save_file

        staging = tempfile.mkdtemp(prefix="mbert-hf-")
        canonical = keras_hub_names(config)
        in_file = [_file_name(name, details["prefix"], details["legacy"]) for name in canonical]
        tensors = _read(details["files"], in_file)
        save_file({name: tensors[old] for name, old in zip(canonical, in_file)},
                  posixpath.join(staging, SINGLE_FILE))
        shutil.copy(posixpath.join(info.local_dir, CONFIG_FILE), staging)
        preset = staging
    try:
        return keras_hub.models.BertBackbone.from_preset(
            preset, max_sequence_length=info.encoder.max_sequence_length,
            dropout=info.encoder.dropout, dtype="float32")
    finally:
        if staging:
            shutil.rmtree(staging, ignore_errors=True)


def load_heads(info: CheckpointInfo) -> PretrainingHeads:
    import numpy as np

    files = info.details["files"]
    names = _head_names({name: None for name in files})
    groups = {}
    for head, keys in (("mlm", MLM_KEYS), ("nsp", NSP_KEYS)):
        if head in info.heads:
            tensors = _read(files, [names[key] for key in keys])
            groups[head] = {key: tensors[names[key]].astype(np.float32) for key in keys}
    # PyTorch Linear weights are [out, in]; Keras Dense kernels [in, out].
    if "mlm" in groups:
        groups["mlm"][MLM_KEYS[0]] = np.ascontiguousarray(groups["mlm"][MLM_KEYS[0]].T)
    if "nsp" in groups:
        groups["nsp"][NSP_KEYS[0]] = np.ascontiguousarray(groups["nsp"][NSP_KEYS[0]].T)
    return PretrainingHeads(**groups)
