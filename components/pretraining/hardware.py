"""What the machine offers: the tf.distribute strategy, bfloat16 support, whether XLA pays off."""

from __future__ import annotations

import json
import logging
import os
import pathlib

import tensorflow as tf

_LOG = logging.getLogger(__name__)

# CPU flags with native bfloat16 arithmetic (AVX512-BF16 dot products, AMX tiles).
_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_bf16(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> bool:
    """True when the CPU advertises native bfloat16 instructions (Linux `/proc/cpuinfo` flags)."""
    try:
        text = pathlib.Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return any(flag in flags for flag in _BF16_CPU_FLAGS)
    return False


def _gpus_with_bf16() -> bool:
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return False
    for gpu in gpus:
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))
        if tuple(capability) < (8, 0):  # bfloat16 tensor cores start with Ampere.
            return False
    return True


def default_mixed_precision(strategy: tf.distribute.Strategy | None = None) -> bool:
    """bfloat16 mixed precision is on by default where the hardware computes in it natively."""
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return True
    if tf.config.list_physical_devices("GPU"):
        return _gpus_with_bf16()
    return cpu_has_bf16()


def default_jit_compile(mixed_precision: bool) -> bool:
    """XLA is on by default on GPU/TPU and off on CPU.

    Measured here (notes/pretraining.md): on this CPU, TensorFlow's own kernels (oneDNN matmuls,
    bfloat16 included) beat XLA:CPU's code for the whole training step, in float32 and bfloat16.
    `mixed_precision` is kept in the signature because the trade-off depends on it elsewhere.
    """
    del mixed_precision
    return bool(tf.config.list_physical_devices("GPU") or tf.config.list_logical_devices("TPU"))


def resolve_flag(value, default: bool, key: str) -> bool:
    """Reads a tri-state config flag: True/False, or "auto"/None for the hardware default."""
    if value is None or (isinstance(value, str) and value.lower() == "auto"):
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
        return value.lower() in ("true", "1", "yes", "on")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"{key}: expected true, false or 'auto', got {value!r}")


def _tf_config_workers(env) -> int:
    raw = env.get("TF_CONFIG")
    if not raw:
        return 0
    try:
        tf_config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error})") from None
    cluster = tf_config.get("cluster", {})
    return sum(len(cluster.get(role, [])) for role in ("chief", "worker"))


def select_strategy(tpu: str | None = None, env=None) -> tf.distribute.Strategy:
    """Picks the distribution strategy from config and environment.

    Order: a named TPU (`tpu` argument, or `TPU_NAME`) -> TPUStrategy; `TF_CONFIG` with two or
    more workers -> MultiWorkerMirroredStrategy; several GPUs -> MirroredStrategy; else the
    default strategy (one device).

    Args:
        tpu: TPU name or address (`"local"` for a TPU VM); None reads `TPU_NAME`.
        env: Environment mapping (defaults to os.environ); tests pass their own.
    """
    env = os.environ if env is None else env
    tpu = tpu or env.get("TPU_NAME")
    if tpu:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        _LOG.info("strategy: TPUStrategy on %s", tpu)
        return tf.distribute.TPUStrategy(resolver)
    if _tf_config_workers(env) >= 2:
        _LOG.info("strategy: MultiWorkerMirroredStrategy from TF_CONFIG")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        _LOG.info("strategy: MirroredStrategy over %d GPUs", len(gpus))
        return tf.distribute.MirroredStrategy()
    _LOG.info("strategy: default (%s)", gpus[0].name if gpus else "CPU")
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the worker that writes checkpoints, logs and the export (task 0 / the chief)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type is None or task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and not has_chief


def strategy_name(strategy: tf.distribute.Strategy) -> str:
    """The public name of a strategy (MultiWorkerMirroredStrategy's class is CollectiveAllReduceStrategy)."""
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "MultiWorkerMirroredStrategy"
    return type(strategy).__name__.lstrip("_")
