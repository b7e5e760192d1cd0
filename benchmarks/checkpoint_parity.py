"""`mbert bench checkpoint-parity`: our Hugging Face import against `transformers` itself.

Writes a tiny random BERT (bert-base shape with `--shape base`) as a Hugging Face folder
(components/base_model/tiny.py, current `transformers` names), runs it through
`transformers.BertForPreTraining` in the peer environment (PyTorch, /tmp/mbert-peers, see
../shared/bench/peer_env.sh) and through our import (`load_checkpoint("huggingface", ...)`, i.e.
keras-hub's converter), on the same padded two-segment batch. Prints one JSON line:

- sequence / pooled output max |difference| against `transformers` with `hidden_act: gelu`
  (exact erf GELU, what the checkpoint's config says) and with `gelu_new` (the tanh
  approximation that keras-hub's BertBackbone and Google's TF1 BERT use);
- masked-LM and next-sentence logits max |difference|, our imported heads applied to the peer's
  own encoder output (so the head mapping is measured alone, not the GELU gap).
Real-token positions only (padding rows are not used by anything downstream).
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import tempfile

import click

PEER_PYTHON = pathlib.Path("/tmp/mbert-peers/bin/python")

# Runs in the peer env: BertForPreTraining on the folder, once per GELU variant.
_PEER = r"""
import json, sys
import numpy as np, torch, transformers
from transformers import BertConfig, BertForPreTraining
folder, inputs, output = sys.argv[1:4]
data = np.load(inputs)
batch = dict(input_ids=torch.tensor(data["token_ids"]).long(),
             token_type_ids=torch.tensor(data["segment_ids"]).long(),
             attention_mask=torch.tensor(data["padding_mask"]).long())
result = {}
for act in ("gelu", "gelu_new"):
    config = BertConfig.from_pretrained(folder)
    config.hidden_act = act
    model = BertForPreTraining.from_pretrained(folder, config=config).eval()
    with torch.no_grad():
        sequence, pooled = model.bert(**batch, return_dict=False)[:2]
        mlm, nsp = model.cls(sequence, pooled)
    for key, value in (("sequence", sequence), ("pooled", pooled), ("mlm", mlm), ("nsp", nsp)):
        result[f"{act}/{key}"] = value.numpy()
np.savez(output, **result)
print(json.dumps({"transformers": transformers.__version__, "torch": torch.__version__}))
"""

_SHAPES = {"tiny": {}, "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                                "intermediate_size": 3072, "max_position_embeddings": 512}}


def _batch(vocab_size: int, seq_len: int = 16):
    import numpy as np

    rng = np.random.default_rng(0)
    token_ids = rng.integers(7, vocab_size, size=(4, seq_len)).astype("int32")
    token_ids[:, 0] = 4  # [CLS]
    padding = np.ones((4, seq_len), "int32")
    padding[1, seq_len // 2:] = 0
    padding[3, seq_len - 3:] = 0
    segments = np.zeros((4, seq_len), "int32")
    segments[:, seq_len // 2:] = 1
    return {"token_ids": token_ids, "segment_ids": segments * padding, "padding_mask": padding}


def _ours(folder: str, batch: dict, peer: dict) -> dict:
    import numpy as np

    from components.base_model.checkpoint import load_checkpoint
    from components.base_model.heads import assign_heads
    from models.pretraining_model import PretrainingModel

    imported = load_checkpoint("huggingface", folder)
    outputs = imported.encoder(batch)
    model = PretrainingModel(imported.encoder, sparse_last_layer=False)
    model.build()
    assign_heads(model, imported.heads, folder)
    seq_len = batch["token_ids"].shape[1]
    positions = np.tile(np.arange(seq_len, dtype="int32"), (batch["token_ids"].shape[0], 1))
    mlm = model.masked_lm_head(peer["gelu/sequence"], positions, model.encoder.token_embedding.embeddings)
    nsp = model.next_sentence_head(peer["gelu/pooled"])
    return {"sequence": np.asarray(outputs["sequence_output"]),
            "pooled": np.asarray(outputs["pooled_output"]),
            "mlm": np.asarray(mlm), "nsp": np.asarray(nsp)}


@click.command("checkpoint-parity")
@click.option("--shape", type=click.Choice(sorted(_SHAPES)), default="tiny", show_default=True)
@click.option("--peer-python", default=str(PEER_PYTHON), show_default=True)
def checkpoint_parity(shape: str, peer_python: str) -> None:
    """Our Hugging Face import vs transformers.BertForPreTraining on the same weights (one JSON line)."""
    import numpy as np

    from components.base_model import tiny

    with tempfile.TemporaryDirectory() as work:
        work = pathlib.Path(work)
        vocab = list(tiny.TINY_VOCAB) + [f"w{i}" for i in range(100 if shape == "tiny" else 30_000)]
        config = tiny.bert_config(len(vocab), **_SHAPES[shape])
        weights = tiny.random_bert_weights(config, seed=0)
        if shape == "base":  # BERT's initialisation scale, so 12 layers stay in a realistic range.
            weights = {k: (v if k.endswith(("gamma", "beta")) else v * 0.1) for k, v in weights.items()}
        folder = tiny.write_huggingface_checkpoint(work / "hf", weights, config, vocab,
                                                   legacy_layer_norm=False)
        batch = _batch(len(vocab))
        np.savez(work / "inputs.npz", **batch)
        (work / "peer.py").write_text(_PEER)
        run = subprocess.run([peer_python, str(work / "peer.py"), str(folder), str(work / "inputs.npz"),
                              str(work / "peer.npz")], capture_output=True, text=True, check=True)
        versions = json.loads(run.stdout.strip().splitlines()[-1])
        peer = dict(np.load(work / "peer.npz"))
        ours = _ours(str(folder), batch, peer)
    real = batch["padding_mask"].astype(bool)
    figures = {"benchmark": "checkpoint-parity", "shape": shape, **versions,
               "layers": config["num_hidden_layers"], "hidden": config["hidden_size"]}
    for act in ("gelu", "gelu_new"):
        figures[f"sequence_max_abs_diff_{act}"] = float(np.abs(ours["sequence"] - peer[f"{act}/sequence"])[real].max())
        figures[f"pooled_max_abs_diff_{act}"] = float(np.abs(ours["pooled"] - peer[f"{act}/pooled"]).max())
    figures["sequence_max_abs"] = float(np.abs(peer["gelu/sequence"])[real].max())
    figures["mlm_logits_max_abs_diff"] = float(np.abs(ours["mlm"] - peer["gelu/mlm"])[real].max())
    figures["nsp_logits_max_abs_diff"] = float(np.abs(ours["nsp"] - peer["gelu/nsp"]).max())
    click.echo(json.dumps(figures))
