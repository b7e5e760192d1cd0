"""PushConfig: the push stage's settings, the YAML `push:` section (pipeline/config.py resolves
serving_dir against the run's output folder and checks where it may point)."""

from __future__ import annotations

import dataclasses

from components.settings import folder_name, setting


@dataclasses.dataclass
class PushConfig:
    # Where pushed models go. Relative: inside the run's output folder (`..` may not leave it).
    # Absolute: inside this repository or the config file's folder, unless
    # allow_any_serving_dir is true. gs:// and other URLs are taken as they are.
    serving_dir: str = "serving"
    model_name: str = setting("mbert_classifier", check=folder_name)
    allow_any_serving_dir: bool = False
