"""`mbert bench <name>`: each benchmark prints one JSON line, the peer's figures beside ours."""

from pipeline.cli import lazy_group

_BENCHMARKS = {
    "tokenizer": ("benchmarks.tokenizer:tokenizer", "Tokenize + pack lines/s vs HF tokenizers."),
    "vocab": ("benchmarks.vocab:vocab", "Vocabulary learning time and fertility vs HF tokenizers."),
    "pretrain": ("benchmarks.pretrain:pretrain", "MLM+NSP training tokens/s vs HF transformers."),
    "crosslingual": ("benchmarks.crosslingual:crosslingual", "Zero-shot cross-lingual table on SIB-200."),
}


@lazy_group(_BENCHMARKS, help="Throughput and quality benchmarks (one JSON line each).")
def bench():
    pass
