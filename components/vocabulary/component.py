"""VocabularyGen: the WordPiece vocabulary TFX component (the work runs in the pipeline's Beam)."""

import json

import apache_beam as beam
from tfx import v1 as tfx
from tfx.types import artifact_utils, standard_artifacts

from components import settings
from components.vocabulary import beam_pipeline
from components.vocabulary.artifact import Vocabulary
from components.vocabulary.config import VocabularyConfig

Parameter = tfx.dsl.components.Parameter
InputArtifact = tfx.dsl.components.InputArtifact
OutputArtifact = tfx.dsl.components.OutputArtifact
BeamComponentParameter = tfx.dsl.components.BeamComponentParameter


def run_vocabulary(examples_uri: str | list[str], split_names: list[str], output_dir: str,
                   params: VocabularyConfig, pipeline: beam.Pipeline = None) -> dict:
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
    config: Parameter[str] = "",
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
      config: VocabularyConfig as JSON (components/vocabulary/config.py; "" = the defaults).
      beam_pipeline: made by TFX from the pipeline's beam_pipeline_args.
    """
    params = settings.from_json(VocabularyConfig, config, "vocabulary")
    uris, split_names = corpus_uris(examples, extra_examples)
    stats = run_vocabulary(uris, split_names, vocabulary.uri, params, beam_pipeline)
    vocabulary.set_int_custom_property("vocab_size", stats["vocab_size"])
    worst = max((s["unk_rate"] for s in stats["languages"].values()), default=0.0)
    vocabulary.set_float_custom_property("max_unk_rate", worst)
    vocabulary.set_string_custom_property("languages", json.dumps(sorted(stats["languages"])))


def corpus_uris(examples, extra_examples=None) -> tuple[list[str], list[str]]:
    """The uris of a corpus given as one or two Examples artifacts, and their common splits."""
    artifacts = [examples] + ([extra_examples] if extra_examples is not None else [])
    splits = [set(artifact_utils.decode_split_names(a.split_names)) for a in artifacts]
    return [a.uri for a in artifacts], sorted(set.intersection(*splits))
