"""`mbert bench <name>`: each benchmark prints one JSON line, the peer's figures beside ours."""

from pipeline.cli import lazy_group

_BENCHMARKS = {
    "tokenizer": ("benchmarks.tokenizer:tokenizer", "Tokenize + pack lines/s vs HF tokenizers."),
    "vocab": ("benchmarks.vocab:vocab", "Vocabulary learning time and fertility vs HF tokenizers."),
    "pretraining-examples": ("benchmarks.pretraining_examples:pretraining_examples",
                             "Pretraining-instance building instances/s on all NTREX languages."),
    "pretrain": ("benchmarks.pretrain:pretrain", "MLM+NSP training tokens/s vs HF transformers."),
    "jax-pretrain": ("benchmarks.jax_pretrain:jax_pretrain",
                     "MLM+NSP step under KERAS_BACKEND=jax: tokens/s, MFU, memory, loss vs CPU."),
    "pretrain-parity": ("benchmarks.pretrain_parity:pretrain_parity",
                        "Loss curves and time to quality vs HF BertForPreTraining, same batches."),
    "predict-latency": ("benchmarks.predict_latency:predict_latency",
                        "p50/p99 latency of a served model's predict_text, batch 1 and 32."),
    "finetune-tiny": ("benchmarks.finetune_tiny:finetune_tiny",
                      "Fine-tune -> Evaluator by language -> push on real data (LocalDagRunner)."),
    "compress": ("benchmarks.compress:compress",
                 "Teacher vs distilled vs int8 student: accuracy by language, size, latency."),
    "crosslingual": ("benchmarks.crosslingual:crosslingual", "Zero-shot cross-lingual table on SIB-200."),
    "base-finetune-step": ("benchmarks.base_finetune_step:base_finetune_step",
                           "Size, memory and seconds per fine-tuning step of M-BERT base."),
    "checkpoint-parity": ("benchmarks.checkpoint_parity:checkpoint_parity",
                          "Hugging Face checkpoint: our import vs transformers BertForPreTraining."),
}


@lazy_group(_BENCHMARKS, help="Throughput and quality benchmarks (one JSON line each).")
def bench():
    pass
