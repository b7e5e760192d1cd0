"""Input spans, resolved by TFX's ExampleGen driver when the ingestion runs.

A corpus is a list of input paths (files or folders). A path may contain TFX's span patterns:
`{SPAN}` (`data/span-{SPAN}/`), `{YYYY}`/`{MM}`/`{DD}` (`data/{YYYY}-{MM}-{DD}/`) and
`{VERSION}`. They are written the ExampleGen way, as an `input_base` and one
`example_gen_pb2.Input.Split` per path whose `pattern` is the path relative to `input_base`.
The splits only name inputs here: CorpusIngestion decides the output splits itself.

Resolution is TFX's own code: `FileBasedDriver.resolve_exec_properties` (the local driver, also
called by `mbert ingest`) and `tfx.orchestration.kubeflow.v2.file_based_example_gen.driver` on
Vertex run `FileBasedInputProcessor`, which picks the newest span present when the run starts
(or the span a `range_config` names: backfills), the newest `{VERSION}` of it, and a fingerprint
of the matched files that is part of the cache key. All paths must resolve to the same span.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Optional

import tensorflow as tf
from tfx.components.example_gen import driver, utils
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from components.ingestion import readers

PLACEHOLDERS = ("{SPAN}", "{YYYY}", "{MM}", "{DD}", "{VERSION}")


def has_span(path: str) -> bool:
    return any(placeholder in path for placeholder in PLACEHOLDERS)


def input_config(fmt: str, inputs: Sequence[str]) -> tuple[str, example_gen_pb2.Input]:
    """(input_base, Input) for input paths: input_base is their deepest common folder.

    No inputs means the installed chatterbot-corpus for format chatterbot (its folder is looked
    up where the pipeline is built).
    """
    inputs = list(inputs) or ([readers.default_chatterbot_path()] if fmt == "chatterbot" else [])
    if not inputs:
        raise ValueError(f"format {fmt}: needs at least one input path")
    # Folders above the last fixed part of each path; "/" joins keep gs:// intact.
    folders = [path.rstrip("/").split("{", 1)[0].split("/")[:-1] for path in inputs]
    common = os.path.commonprefix(folders)  # element-wise on lists of folder names
    input_base = "/".join(common) or "/"
    splits = [example_gen_pb2.Input.Split(name=f"input-{i}", pattern=path[len(input_base):].lstrip("/"))
              for i, path in enumerate(inputs)]
    return input_base, example_gen_pb2.Input(splits=splits)


def span_range(span: int) -> range_config_pb2.RangeConfig:
    """The range config that selects one span (a backfill) instead of the newest."""
    return range_config_pb2.RangeConfig(static_range=range_config_pb2.StaticRange(
        start_span_number=span, end_span_number=span))


@dataclasses.dataclass
class ResolvedInputs:
    paths: list[str]
    span: int  # 0 when no path has a span pattern (TFX's convention).
    version: Optional[int]  # None without a {VERSION} pattern.
    fingerprint: str


def input_paths(input_base: str, resolved_config: str) -> list[str]:
    """The files/folders a resolved input_config (JSON, patterns filled in) names."""
    config = example_gen_pb2.Input()
    proto_utils.json_to_proto(resolved_config, config)
    paths = []
    for split in config.splits:
        pattern = f"{input_base.rstrip('/')}/{split.pattern}"
        # A pattern may also hold file globs (TFX allows them); a plain path matches itself.
        paths += sorted(tf.io.gfile.glob(pattern)) or [pattern]
    return paths


def resolve(fmt: str, inputs: Sequence[str], span: Optional[int] = None) -> ResolvedInputs:
    """Resolves span patterns now, with the code the ingestion component's driver runs.

    Raises:
      ValueError: from TFX when no span matches, or the paths resolve to different spans.
    """
    input_base, config = input_config(fmt, inputs)
    exec_properties = {
        standard_component_specs.INPUT_BASE_KEY: input_base,
        standard_component_specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(config),
        standard_component_specs.RANGE_CONFIG_KEY:
            proto_utils.proto_to_json(span_range(span)) if span is not None else None,
    }
    # The driver only reads and returns properties here; it needs no ML Metadata.
    resolved = driver.FileBasedDriver(metadata_handle=None).resolve_exec_properties(
        exec_properties, pipeline_info=None, component_info=None)
    return ResolvedInputs(
        paths=input_paths(input_base, resolved[standard_component_specs.INPUT_CONFIG_KEY]),
        span=resolved[utils.SPAN_PROPERTY_NAME], version=resolved[utils.VERSION_PROPERTY_NAME],
        fingerprint=resolved[utils.FINGERPRINT_PROPERTY_NAME])
