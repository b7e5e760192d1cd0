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
from components import settings
from components.pretraining_examples import builder
from components.pretraining_examples.config import PretrainingExamplesConfig
from components.vocabulary.files import read_special_ids
from components.vocabulary.artifact import Vocabulary
from components.vocabulary.component import corpus_uris


def run_pretraining_example_gen(pipeline: beam.Pipeline, *, examples_uri: str | list[str],
                                split_names: list[str], vocab_dir: str, output_uri: str,
                                config: PretrainingExamplesConfig | None = None,
                                tokenizer_loader=None) -> dict:
    """Runs the graph on `pipeline` (entered and left here) and checks the result.

    Returns:
      The contents of counts.json.

    Raises:
      ConfigError: a setting out of its range (named as in the YAML).
      ValueError: when the training split came out empty (the message says why it can be).
    """
    config = config or PretrainingExamplesConfig()
    settings.check(config, "pretraining_examples")
    special = read_special_ids(vocab_dir)
    params = builder.InstanceParams(
        max_seq_length=config.max_seq_length, short_seq_prob=config.short_seq_prob,
        random_next_prob=config.random_next_prob, dupe_factor=config.dupe_factor,
        cls_id=special.cls_id, sep_id=special.sep_id, pad_id=special.pad_id)
    with pipeline as p:
        graph.build_pretraining_examples(
            p, examples_uri=examples_uri, split_names=split_names, vocab_dir=vocab_dir,
            output_uri=output_uri, params=params, smoothing=config.smoothing, seed=config.seed,
            target_instances=config.target_instances, docs_per_shard=config.docs_per_shard,
            translation_fraction=config.translation_fraction,
            parallel_sentences=config.parallel_sentences, tokenizer_loader=tokenizer_loader)
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
        config: Parameter[str] = "",
        beam_pipeline: BeamComponentParameter[beam.Pipeline] = None,
) -> None:
    """Builds pretraining instances (components/contracts.py) from ingested Examples (components/contracts.py).

    Args:
      examples: ingested sentences with `text`, `language`, `doc_id`, `sentence_index`.
      vocabulary: the shared WordPiece vocabulary (components/contracts.py).
      pretraining_examples: output; splits train/eval and counts.json.
      extra_examples: more ingested text of the pretraining corpus (e.g. SIB-200 train/dev
        sentences), read with `examples` as one corpus; its `test` split is never read.
      config: PretrainingExamplesConfig as JSON (components/pretraining_examples/config.py;
        "" = the defaults).
      beam_pipeline: supplied by TFX from the pipeline's beam_pipeline_args.
    """
    uris, split_names = corpus_uris(examples, extra_examples)
    run_pretraining_example_gen(
        beam_pipeline, examples_uri=uris, split_names=split_names,
        vocab_dir=vocabulary.uri, output_uri=pretraining_examples.uri,
        config=settings.from_json(PretrainingExamplesConfig, config, "pretraining_examples"))
    pretraining_examples.split_names = json.dumps(list(graph.SPLITS))
