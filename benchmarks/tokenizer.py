"""`mbert bench tokenizer`: tokenise + pack to 128 with the shared tokenizer vs HF `tokenizers`.

Both sides use the same vocab.txt and the same lines; HF's BertWordPieceTokenizer (Rust,
encode_batch on all cores) with truncation and padding to 128, ours is TF Text
(FastBertNormalizer + FastWordpieceTokenizer) and SegmentPacker in a tf.function. Runs
alternate, medians are reported, the ratio is ours / peer lines per second.
"""

import json
import os
import pathlib
import statistics
import subprocess
import time

import click


REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_BENCH = REPO.parent / "shared" / "bench"


def peer_python(explicit: str | None = None) -> str:
    """The peer env's python: --peer-python, $MBERT_PEER_PYTHON, or /tmp/mbert-peers."""
    for candidate in (explicit, os.environ.get("MBERT_PEER_PYTHON"), "/tmp/mbert-peers/bin/python"):
        if candidate and os.path.exists(candidate):
            return candidate
    raise SystemExit(f"peer environment not found: run {SHARED_BENCH}/peer_env.sh /tmp/mbert-peers")

_PEER = r"""
import json, sys, time
from tokenizers import BertWordPieceTokenizer
vocab, files, seq_len = sys.argv[1], sys.argv[3:], int(sys.argv[2])
lines = [l.rstrip("\n") for f in files for l in open(f, encoding="utf-8")]
tok = BertWordPieceTokenizer(vocab, clean_text=True, handle_chinese_chars=True, strip_accents=False,
                             lowercase=False)
tok.enable_truncation(seq_len)
tok.enable_padding(length=seq_len)
tok.encode_batch(lines[:1000])
t = time.perf_counter()
enc = tok.encode_batch(lines)
s = time.perf_counter() - t
tokens = sum(sum(e.attention_mask) for e in enc)
print(json.dumps({"seconds": s, "lines": len(lines), "tokens": tokens}))
"""


def _ours(tokenizer, packer, lines, batch_size):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def encode(batch):
        out = packer.pack(tokenizer.tokenize(batch))
        return tf.reduce_sum(tf.cast(out["padding_mask"], tf.int64))

    batches = [tf.constant(lines[i:i + batch_size]) for i in range(0, len(lines), batch_size)]
    encode(batches[0])
    start = time.perf_counter()
    tokens = sum(int(encode(b)) for b in batches)
    return time.perf_counter() - start, tokens


def _main(vocab_dir, inputs, seq_len, batch_size, rounds, peer):
    from models.packer import SegmentPacker  # pylint: disable=g-import-not-at-top
    from models.tokenizer import load_tokenizer  # pylint: disable=g-import-not-at-top

    lines = [l.rstrip("\n") for f in inputs for l in open(f, encoding="utf-8")]
    tok = load_tokenizer(vocab_dir)
    packer = SegmentPacker(seq_len, tok.cls_id, tok.sep_id, tok.pad_id)
    ours, theirs = [], []
    tokens = peer_tokens = 0
    for _ in range(rounds):
        seconds, tokens = _ours(tok, packer, lines, batch_size)
        ours.append(seconds)
        out = subprocess.run([peer, "-c", _PEER, f"{vocab_dir}/vocab.txt", str(seq_len), *inputs],
                             check=True, capture_output=True, text=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        theirs.append(result["seconds"])
        peer_tokens = result["tokens"]
    ours_s, peer_s = statistics.median(ours), statistics.median(theirs)
    return {"benchmark": "tokenizer", "lines": len(lines), "seq_len": seq_len, "rounds": rounds,
            "lines_per_s": round(len(lines) / ours_s), "tokens_per_s": round(tokens / ours_s),
            "peer": "hf-tokenizers", "peer_lines_per_s": round(len(lines) / peer_s),
            "peer_tokens_per_s": round(peer_tokens / peer_s),
            "ratio_lines_per_s": round(peer_s / ours_s, 2)}


@click.command("tokenizer")
@click.option("--vocab", "vocab_dir", required=True, help="Vocabulary folder (vocab.txt + tokenizer.json).")
@click.option("--input", "inputs", multiple=True, required=True, help="Text files, one line each (repeatable).")
@click.option("--seq-len", default=128, show_default=True)
@click.option("--batch-size", default=4096, show_default=True)
@click.option("--rounds", default=3, show_default=True, help="Alternating runs of each side.")
@click.option("--peer-python", "peer_python_path", default=None, help="Python of the peer env.")
def tokenizer(vocab_dir, inputs, seq_len, batch_size, rounds, peer_python_path):
    """Lines/s and tokens/s of tokenise + pack to 128, ours vs HF tokenizers, same vocab and lines."""
    click.echo(json.dumps(_main(vocab_dir, list(inputs), seq_len, batch_size, rounds,
                                peer_python(peer_python_path))))
