"""What a runner checks about `base_model` before it starts the pipeline."""

from __future__ import annotations

from components.base_model import formats
from components.base_model.checkpoint import CheckpointError, inspect_checkpoint


def check_base_model(config) -> str:
    """Inspects the configured checkpoint (local folders) and returns its files' fingerprint.

    A bad checkpoint (another architecture, missing weight, vocabulary or position mismatch)
    then fails in seconds, before any component runs; a remote one is checked by BaseModelImport,
    still before any training.

    Args:
        config: a PipelineConfig.

    Returns:
        formats.fingerprint of the checkpoint's files; "" when there is no base model.

    Raises:
        pipeline.config.ConfigError: naming base_model.path, the file and the variable.
    """
    from pipeline.config import ConfigError

    base = config.base_model
    if base is None or config.stages != "all":
        return ""
    if not formats.is_remote(base.path):
        length, key = config.base_model_length()
        try:
            inspect_checkpoint(base.format, base.path, lower_case=base.lower_case,
                               max_seq_length=length, setting=key)
        except CheckpointError as error:
            raise ConfigError(f"base_model.path: {error}") from error
    return formats.fingerprint(base.format, base.path)
