"""`mbert bench vocab`: learning time vs HF tokenizers' trainer, fertility and UNK per language.

Both learn `--vocab-size` tokens from the same files: the 16 NTREX files, and the same files
concatenated `--times` times (each language file repeated, so languages stay apart). Ours is the
Beam pipeline (DirectRunner, in process, imports done before timing) with language smoothing
0.7; the peer is `../shared/bench/hf_vocab_and_tokenize.py` (its learn_seconds). Fertility and
UNK rate are measured on NTREX's eval documents (ingestion's split rule on DOCUMENT_IDS.tsv)
with the same basic tokenisation and WordPiece splitting for both vocabularies; `fertility_ratio`
counts an UNK word as one piece (as WordPiece emits it), `fertility_ratio_known` compares only
words both vocabularies can tokenise (the peer keeps at most 1,000 characters, so it maps many
CJK, Hangul and kana words to [UNK], which looks like a low fertility).
"""

import collections
import json
import os
import pathlib
import statistics
import subprocess
import tempfile
import time

import click

from benchmarks.tokenizer import SHARED_BENCH, peer_python


def _ours(files_and_languages, vocab_size, output, beam_args):
    import apache_beam as beam  # pylint: disable=g-import-not-at-top
    from apache_beam.options.pipeline_options import PipelineOptions  # pylint: disable=g-import-not-at-top

    from components.vocabulary import beam_pipeline  # pylint: disable=g-import-not-at-top
    from components.vocabulary.config import VocabularyConfig  # pylint: disable=g-import-not-at-top

    params = VocabularyConfig(vocab_size=vocab_size)
    start = time.perf_counter()
    with beam.Pipeline(options=PipelineOptions(list(beam_args))) as p:
        lines = beam_pipeline.read_text_files(p, files_and_languages)
        beam_pipeline.learn_vocabulary(lines, None, params, output, stats_split="train")
    return time.perf_counter() - start


def _peer(python, files, vocab_size):
    out = subprocess.run([python, str(SHARED_BENCH / "hf_vocab_and_tokenize.py"), "--vocab-size",
                          str(vocab_size), "--repeats", "1", *files], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _eval_words(ntrex_dir, files_and_languages):
    from components.ingestion.records import split_for_doc  # pylint: disable=g-import-not-at-top
    from components.vocabulary.basic_tokenizer import basic_tokenize  # pylint: disable=g-import-not-at-top

    doc_ids = (pathlib.Path(ntrex_dir) / "DOCUMENT_IDS.tsv").read_text(encoding="utf-8").split("\n")
    words = {}
    for path, language in files_and_languages:
        counter = collections.Counter()
        with open(path, encoding="utf-8") as handle:
            for i, line in enumerate(handle):
                if split_for_doc(doc_ids[i].strip()) == "eval":
                    counter.update(basic_tokenize(line))
        words[language] = counter
    return words


def _fertility(words, vocab):
    from components.vocabulary.learner import max_piece_chars  # pylint: disable=g-import-not-at-top
    from components.vocabulary.wordpiece import max_bytes_per_word, split_word  # pylint: disable=g-import-not-at-top

    vocab, longest, mb = set(vocab), max_piece_chars(vocab), max_bytes_per_word(200)
    n = unk = pieces = 0
    split = {}
    for word, count in words.items():
        p = split_word(word, vocab, mb, longest)
        split[word] = p
        n += count
        unk += count * (p is None)
        pieces += count * (1 if p is None else len(p))
    return n, unk, pieces, split


@click.command("vocab")
@click.option("--ntrex", "ntrex_dir", default=str(SHARED_BENCH.parent / "data" / "ntrex"), show_default=True)
@click.option("--vocab-size", default=30000, show_default=True)
@click.option("--times", default=8, show_default=True, help="Concatenation factor of the big set.")
@click.option("--rounds", default=3, show_default=True, help="Alternating runs of each side per set.")
@click.option("--beam-arg", "beam_args", multiple=True, help="Passed to our Beam pipeline.")
@click.option("--peer-python", "peer_python_path", default=None)
def vocab(ntrex_dir, vocab_size, times, rounds, beam_args, peer_python_path):
    """Seconds to learn the vocabulary (1x and Nx NTREX), fertility and UNK per language."""
    from components.ingestion.languages import normalize_language  # pylint: disable=g-import-not-at-top

    python = peer_python(peer_python_path)
    files = sorted(str(p) for p in pathlib.Path(ntrex_dir).glob("newstest2019-*.txt"))
    langs = [(f, normalize_language(os.path.basename(f).rsplit(".", 2)[-2])) for f in files]
    work = tempfile.mkdtemp(prefix="mbert-bench-vocab-")
    big = []
    for path, language in langs:
        target = os.path.join(work, os.path.basename(path))
        with open(path, "rb") as src:
            data = src.read()
        with open(target, "wb") as dst:
            dst.write(data * times)
        big.append((target, language))
    result = {"benchmark": "vocab", "vocab_size": vocab_size, "rounds": rounds, "times": times}
    peer_vocab_file = None
    for name, inputs in (("1x", langs), (f"{times}x", big)):
        ours, theirs = [], []
        for _ in range(rounds):
            ours.append(_ours(inputs, vocab_size, os.path.join(work, f"ours-{name}"), beam_args))
            peer = _peer(python, [f for f, _ in inputs], vocab_size)
            theirs.append(peer["learn_seconds"])
            if name == "1x":
                peer_vocab_file = peer["vocab_file"]
        result[f"seconds_{name}"] = round(statistics.median(ours), 2)
        result[f"peer_seconds_{name}"] = round(statistics.median(theirs), 2)
        result[f"ratio_{name}"] = round(statistics.median(ours) / statistics.median(theirs), 2)
    ours_vocab = (pathlib.Path(work) / "ours-1x" / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    peer_vocab = pathlib.Path(peer_vocab_file).read_text(encoding="utf-8").split("\n")[:-1]
    languages = {}
    for language, words in sorted(_eval_words(ntrex_dir, langs).items()):
        n, unk, pieces, ours_split = _fertility(words, ours_vocab)
        pn, punk, ppieces, peer_split = _fertility(words, peer_vocab)
        both = [(w, c) for w, c in words.items() if ours_split[w] is not None and peer_split[w] is not None]
        kn = sum(c for _, c in both)
        ours_known = sum(c * len(ours_split[w]) for w, c in both) / kn
        peer_known = sum(c * len(peer_split[w]) for w, c in both) / kn
        languages[language] = {
            "words": n, "fertility": round(pieces / n, 3), "unk_rate": round(unk / n, 5),
            "peer_fertility": round(ppieces / n, 3), "peer_unk_rate": round(punk / n, 5),
            "fertility_ratio": round((pieces / n) / (ppieces / n), 3),
            "fertility_ratio_known": round(ours_known / peer_known, 3)}
    result["languages"] = languages
    result["max_unk_rate"] = max(v["unk_rate"] for v in languages.values())
    result["max_fertility_ratio_known"] = max(v["fertility_ratio_known"] for v in languages.values())
    click.echo(json.dumps(result, ensure_ascii=False))
