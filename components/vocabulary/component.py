"""VocabularyGen: the WordPiece vocabulary TFX component (the work runs in the pipeline's Beam)."""

import json

import apache_beam as beam
from tfx import v1 as tfx
from tfx.types import artifact_utils, standard_artifacts

from components.vocabulary import beam_pipeline
from components.vocabulary.artifact import Vocabulary

Parameter = tfx.dsl.components.Parameter
InputArtifact = tfx.dsl.components.InputArtifact
OutputArtifact = tfx.dsl.components.OutputArtifact
BeamComponentParameter = tfx.dsl.components.BeamComponentParameter

_DEFAULTS = beam_pipeline.VocabParams()


def run_vocabulary(examples_uri: str | list[str], split_names: list[str], output_dir: str,
                   params: beam_pipeline.VocabParams, pipeline: beam.Pipeline = None) -> dict:
    """Learns from the `train` split and measures on `eval` (train when there is none).

    Args:
      examples_uri: one Examples artifact root, or several read as one corpus.
      split_names: the splits every one of them has.
      output_dir: where vocab.txt, tokenizer.json and vocab_stats.json go.
      params: the learner's settings.
      pipeline: the Beam pipeline to run on (DirectRunner by default).

    Returns:
      The parsed vocab_stats.json.
    """
    if "train" not in split_names:
        raise ValueError(f"{examples_uri}: the Examples have no 'train' split (splits: {split_names})")
    pipeline = pipeline if pipeline is not None else beam.Pipeline()
    with pipeline as p:
        train = beam_pipeline.read_examples(p, examples_uri, "train")
        eval_lines = beam_pipeline.read_examples(p, examples_uri, "eval") if "eval" in split_names else None
        beam_pipeline.learn_vocabulary(train, eval_lines, params, output_dir,
                                       stats_split="eval" if eval_lines is not None else "train")
    with open(f"{output_dir}/vocab_stats.json", encoding="utf-8") as handle:
        return json.load(handle)


@tfx.dsl.components.component(use_beam=True)
def VocabularyGen(
    examples: InputArtifact[standard_artifacts.Examples],
    vocabulary: OutputArtifact[Vocabulary],
    extra_examples: InputArtifact[standard_artifacts.Examples] = None,
    vocab_size: Parameter[int] = _DEFAULTS.vocab_size,
    smoothing: Parameter[float] = _DEFAULTS.smoothing,
    lower_case: Parameter[bool] = False,
    num_unused: Parameter[int] = _DEFAULTS.num_unused,
    max_chars: Parameter[int] = _DEFAULTS.max_characters,
    min_char_count: Parameter[int] = _DEFAULTS.min_char_count,
    max_chars_per_word: Parameter[int] = _DEFAULTS.max_chars_per_word,
    max_token_chars: Parameter[int] = _DEFAULTS.max_token_chars,
    num_rounds: Parameter[int] = _DEFAULTS.num_rounds,
    seed_characters: Parameter[int] = _DEFAULTS.seed_characters,
    beam_pipeline: BeamComponentParameter[beam.Pipeline] = None,
) -> None:
    """Learns a shared WordPiece vocabulary from ingested Examples (M-BERT recipe).

    Writes `vocab.txt`, `tokenizer.json` and `vocab_stats.json` at the artifact uri and records
    vocab_size and the worst per-language UNK rate as custom properties.

    Args:
      examples: ingested Examples (features `text`, `language`); learns on `train`, measures
        fertility and UNK rate on `eval`.
      vocabulary: the output artifact.
      extra_examples: more ingested text of the pretraining corpus (e.g. SIB-200's train/dev
        sentences beside NTREX-128), read as part of the same corpus.
      vocab_size: tokens in vocab.txt, reserved ones included.
      smoothing: language smoothing exponent (0.7 in M-BERT).
      lower_case: uncased vocabulary (lower case, NFD, accents stripped).
      num_unused: number of `[unusedN]` tokens.
      max_chars: cap on distinct characters in the alphabet.
      min_char_count: occurrences a character needs to be in the alphabet.
      max_chars_per_word: words up to this length are always tokenised.
      max_token_chars: longest learned token.
      num_rounds: learning rounds.
      seed_characters: unseen common Hangul/hanzi/kanji added to the alphabet for the scripts
        the corpus uses (-1 = vocab_size // 25, 0 = none); see `seeds.py`.
      beam_pipeline: made by TFX from the pipeline's beam_pipeline_args.
    """
    params = _params(
        vocab_size=vocab_size, smoothing=smoothing, lower_case=bool(lower_case), num_unused=num_unused,
        max_characters=max_chars, min_char_count=min_char_count, max_chars_per_word=max_chars_per_word,
        max_token_chars=max_token_chars, num_rounds=num_rounds, seed_characters=seed_characters)
    uris, split_names = corpus_uris(examples, extra_examples)
    stats = run_vocabulary(uris, split_names, vocabulary.uri, params, beam_pipeline)
    vocabulary.set_int_custom_property("vocab_size", stats["vocab_size"])
    worst = max((s["unk_rate"] for s in stats["languages"].values()), default=0.0)
    vocabulary.set_float_custom_property("max_unk_rate", worst)
    vocabulary.set_string_custom_property("languages", json.dumps(sorted(stats["languages"])))


def _params(**kwargs) -> beam_pipeline.VocabParams:
    """VocabParams from the component's parameters (validated)."""
    params = beam_pipeline.VocabParams(**kwargs)
    params.validate()
    return params


def corpus_uris(examples, extra_examples=None) -> tuple[list[str], list[str]]:
    """The uris of a corpus given as one or two Examples artifacts, and their common splits."""
    artifacts = [examples] + ([extra_examples] if extra_examples is not None else [])
    splits = [set(artifact_utils.decode_split_names(a.split_names)) for a in artifacts]
    return [a.uri for a in artifacts], sorted(set.intersection(*splits))
