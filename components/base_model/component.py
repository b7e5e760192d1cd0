"""BaseModelImport: a BERT checkpoint folder -> the pipeline's Vocabulary and pretrained-encoder artifacts.

It stands where VocabularyGen and (in fine-tune-only mode) the pretraining Trainer stand: its
`vocabulary` output is the same `mbert.Vocabulary` type (vocab.txt, tokenizer.json,
vocab_stats.json) and its `encoder` output a standard `Model` with the pretraining Trainer's
export layout under Format-Serving/ (components/contracts.py, with pretraining_heads.npz), so PretrainingExampleGen,
the Trainers, the Evaluator and ML Metadata lineage see what they would see after pretraining.
"""

from typing import Optional

from tfx import v1 as tfx
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components import settings
from components.base_model.checkpoint import ImportedCheckpoint, load_checkpoint
from components.base_model.config import BaseModelConfig
from components.base_model.outputs import write_encoder, write_vocabulary
from components.vocabulary.artifact import Vocabulary

Parameter = tfx.dsl.components.Parameter
OutputArtifact = tfx.dsl.components.OutputArtifact



def run_import(checkpoint_format: str, path: str, vocabulary_dir: str, encoder_dir: str, *,
               lower_case: Optional[bool] = None, max_seq_length: int = 0,
               setting: str = "max_seq_length") -> ImportedCheckpoint:
    """Loads the checkpoint (all checks first) and writes the two artifacts' files."""
    imported = load_checkpoint(checkpoint_format, path, lower_case=lower_case,
                               max_seq_length=max_seq_length, setting=setting)
    write_vocabulary(imported.info, vocabulary_dir)
    write_encoder(imported, encoder_dir, vocabulary_dir)
    return imported


@tfx.dsl.components.component
def BaseModelImport(  # pylint: disable=invalid-name
    vocabulary: OutputArtifact[Vocabulary],
    encoder: OutputArtifact[standard_artifacts.Model],
    config: Parameter[str],
    max_seq_length: Parameter[int] = 0,
    max_seq_length_key: Parameter[str] = "max_seq_length",
    fingerprint: Parameter[str] = "",
) -> None:
    """Imports a BERT checkpoint as the pipeline's vocabulary and pretrained encoder.

    Args:
      vocabulary: output; the checkpoint's vocabulary and casing (components/contracts.py).
      encoder: output; the encoder (+ pretraining heads) in the pretraining Trainer's layout.
      config: BaseModelConfig as JSON (components/base_model/config.py: format, path, casing).
      max_seq_length: the longest sequence the pipeline feeds; shorter position embeddings fail here.
      max_seq_length_key: the config key of max_seq_length (named in that error).
      fingerprint: names, sizes and times of the checkpoint's files (formats.fingerprint), so a
        checkpoint replaced in place is imported again instead of served from cache.
    """
    del fingerprint  # Only part of the cache key.
    encoder_dir = path_utils.serving_model_dir(encoder.uri, path_utils.is_old_model_artifact(encoder))
    base = settings.from_json(BaseModelConfig, config, "base_model")
    imported = run_import(base.format, base.path, vocabulary.uri, encoder_dir,
                          lower_case=base.lower_case, max_seq_length=max_seq_length,
                          setting=max_seq_length_key)
    info = imported.info
    for artifact in (vocabulary, encoder):
        artifact.set_string_custom_property("source_format", info.format)
        artifact.set_string_custom_property("source_path", info.path)
        artifact.set_int_custom_property("lower_case", int(bool(info.lower_case)))
    vocabulary.set_int_custom_property("vocab_size", len(info.vocabulary))
    encoder.set_string_custom_property("encoder_config", info.encoder.to_json())
    encoder.set_string_custom_property("heads", ",".join(info.heads))
