"""PretrainingExampleGen: ingested Examples + Vocabulary -> masked-LM/NSP pretraining instances.

The TFX face of `beam_pipeline.build_pretraining_examples`; see that module for the graph and
`builder.py` for how instances are cut (BERT's create_pretraining_data, with M-BERT's exponent
0.7 language smoothing). Output: an Examples artifact with splits train/eval of pretraining
instances (components/contracts.py) and `<uri>/counts.json` with instance counts per language and
next-sentence label. The ids refer to the Vocabulary artifact, which the Trainer takes as an input.
"""

import json

import apache_beam as beam
from tfx.dsl.component.experimental.annotations import (BeamComponentParameter, InputArtifact,
                                                        OutputArtifact, Parameter)
from tfx.dsl.component.experimental.decorators import component
from tfx.types.standard_artifacts import Examples

from components.pretraining_examples import beam_pipeline as graph
from components.pretraining_examples import builder
from components.vocabulary.files import read_special_ids
from components.vocabulary.artifact import Vocabulary
from components.vocabulary.component import corpus_uris


def run_pretraining_example_gen(pipeline: beam.Pipeline, *, examples_uri: str | list[str],
                                split_names: list[str], vocab_dir: str, output_uri: str,
                                max_seq_length: int = 128, short_seq_prob: float = 0.1,
                                dupe_factor: int = 10, smoothing: float = 0.7,
                                random_next_prob: float = 0.5, seed: int = 12345,
                                target_instances: int = 0, docs_per_shard: int = 1_000,
                                translation_fraction: float = 0.0,
                                tokenizer_loader=None) -> dict:
    """Runs the graph on `pipeline` (entered and left here) and checks the result.

    Returns:
      The contents of counts.json.

    Raises:
      ValueError: when the training split came out empty (the message says why it can be).
    """
    special = read_special_ids(vocab_dir)
    params = builder.InstanceParams(
        max_seq_length=max_seq_length, short_seq_prob=short_seq_prob,
        random_next_prob=random_next_prob, dupe_factor=dupe_factor, cls_id=special.cls_id,
        sep_id=special.sep_id, pad_id=special.pad_id)
    with pipeline as p:
        graph.build_pretraining_examples(
            p, examples_uri=examples_uri, split_names=split_names, vocab_dir=vocab_dir,
            output_uri=output_uri, params=params, smoothing=smoothing, seed=seed,
            target_instances=target_instances, docs_per_shard=docs_per_shard,
            translation_fraction=translation_fraction, tokenizer_loader=tokenizer_loader)
    counts = graph.read_counts(output_uri)
    if counts["splits"]["train"]["total"] == 0:
        plan = counts["plan"]["train"]
        raise ValueError(
            f"{examples_uri}: no pretraining instance built for the train split "
            f"({sum(v['documents'] for v in plan.values())} non-empty documents in "
            f"{len(plan)} languages); a language needs a document of two or more sentences or "
            f"two documents")
    return counts


@component(use_beam=True)
def PretrainingExampleGen(  # pylint: disable=invalid-name
        examples: InputArtifact[Examples],
        vocabulary: InputArtifact[Vocabulary],
        pretraining_examples: OutputArtifact[Examples],
        extra_examples: InputArtifact[Examples] = None,
        max_seq_length: Parameter[int] = 128,
        short_seq_prob: Parameter[float] = 0.1,
        dupe_factor: Parameter[int] = 10,
        smoothing: Parameter[float] = 0.7,
        random_next_prob: Parameter[float] = 0.5,
        seed: Parameter[int] = 12345,
        target_instances: Parameter[int] = 0,
        docs_per_shard: Parameter[int] = 1_000,
        translation_fraction: Parameter[float] = 0.0,
        beam_pipeline: BeamComponentParameter[beam.Pipeline] = None,
) -> None:
    """Builds pretraining instances (components/contracts.py) from ingested Examples (components/contracts.py).

    Args:
      examples: ingested sentences with `text`, `language`, `doc_id`, `sentence_index`.
      vocabulary: the shared WordPiece vocabulary (components/contracts.py).
      pretraining_examples: output; splits train/eval and counts.json.
      extra_examples: more ingested text of the pretraining corpus (e.g. SIB-200 train/dev
        sentences), read with `examples` as one corpus; its `test` split is never read.
      max_seq_length: packed length, `[CLS] a [SEP] b [SEP]` + padding.
      short_seq_prob: share of instances with a shorter random target length.
      dupe_factor: passes over the (smoothed) data, each with fresh randomness.
      smoothing: language sampling exponent; language l's share becomes p_l^s / sum p^s.
      random_next_prob: probability that b comes from another document of the same language.
      seed: all randomness derives from it (per language and shard, not a global RNG).
      target_instances: wanted number of training instances (expected); 0 = natural size.
      docs_per_shard: about how many documents form one random-next pool (one Beam group).
      translation_fraction: share of translation pairs (XLM's TLM) in the training split, from
        sentences aligned across languages by (doc_id, sentence_index); 0 = plain M-BERT.
      beam_pipeline: supplied by TFX from the pipeline's beam_pipeline_args.
    """
    uris, split_names = corpus_uris(examples, extra_examples)
    run_pretraining_example_gen(
        beam_pipeline, examples_uri=uris, split_names=split_names,
        vocab_dir=vocabulary.uri, output_uri=pretraining_examples.uri,
        max_seq_length=max_seq_length, short_seq_prob=short_seq_prob, dupe_factor=dupe_factor,
        smoothing=smoothing, random_next_prob=random_next_prob, seed=seed,
        target_instances=target_instances, docs_per_shard=docs_per_shard,
        translation_fraction=translation_fraction)
    pretraining_examples.split_names = json.dumps(list(graph.SPLITS))
