"""Publishing a SavedModel into a TF Serving model folder, one immutable version at a time.

Layout: `<serving_dir>/<model_name>/<version>/saved_model.pb` (+ variables/, assets/), versions
numbered 1, 2, ... (TF Serving serves the highest), and `<serving_dir>/models.config` listing every
model under serving_dir. A version is copied into a staging folder beside it (same parent, so the
same file system), then renamed into place in one step: TF Serving, `mbert predict` or a crash
never see half a version, because staging names (`.staging-*`) are not version numbers. An
existing version is never written to: the rename refuses to replace an existing path.

Pushers of one model take turns, holding an flock on `<model_name>/.push.lock`; so any staging
folder found while holding it was left by a pusher that died (the kernel released its lock), and
is removed. `models.config` is rewritten holding an flock on `models.config.lock` beside it, so
two pushers of different models cannot each write a listing that lacks the other's model.

Standard library only, so `mbert predict` and crash tests import it cheaply.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import pathlib
import re
import shutil
import tempfile

_VERSION = re.compile(r"^[1-9][0-9]*$")
STAGING_PREFIX = ".staging-"
MODELS_CONFIG = "models.config"
MODELS_CONFIG_LOCK = "models.config.lock"
PUSH_LOCK = ".push.lock"
_MODELS_CONFIG_TMP_PREFIX = ".models.config-"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def check_model_name(model_name: str) -> str:
    """Returns model_name if it is a safe folder and TF Serving model name, else raises."""
    if not _NAME.match(model_name or ""):
        raise ValueError(f"model_name {model_name!r}: use letters, digits, '_', '.', '-' "
                         "(it becomes a folder and a TF Serving model name)")
    return model_name


def list_versions(model_dir: str | os.PathLike) -> list[int]:
    """Version numbers present in model_dir (numeric folders only), ascending."""
    model_dir = pathlib.Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if _VERSION.match(p.name) and p.is_dir())


def newest_version_dir(model_dir: str | os.PathLike) -> pathlib.Path:
    """The highest-numbered version folder of a model; FileNotFoundError naming model_dir if none."""
    versions = list_versions(model_dir)
    if not versions:
        raise FileNotFoundError(
            f"{model_dir}: no model version folder (expected <model_dir>/<number>/saved_model.pb)")
    return pathlib.Path(model_dir) / str(versions[-1])


_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


def _rename_noreplace(source: pathlib.Path, target: pathlib.Path) -> None:
    """Renames source to target; FileExistsError if target exists (never replaces it).

    Linux renameat2(RENAME_NOREPLACE) makes the check and the rename one atomic step; where it
    is missing, a check then rename (os.rename would silently replace an empty folder).
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        renameat2 = None
    if renameat2 is not None:
        result = renameat2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target),
                           _RENAME_NOREPLACE)
        if result == 0:
            return
        code = ctypes.get_errno()
        if code == errno.EEXIST:
            raise FileExistsError(code, os.strerror(code), str(target))
        if code not in (errno.ENOSYS, errno.EINVAL):
            raise OSError(code, os.strerror(code), str(source), None, str(target))
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target))
    os.rename(source, target)


@contextlib.contextmanager
def _locked(lock_file: pathlib.Path):
    """Holds an exclusive flock on lock_file (created if missing) for the `with` block.

    The kernel releases it when the process dies, so a crash never leaves the lock held.
    """
    with open(lock_file, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _remove_leftovers(folder: pathlib.Path, prefix: str) -> None:
    """Removes what a crashed writer left in folder (names starting with prefix).

    Only called under the lock every such writer holds, so nothing live is removed.
    """
    for path in folder.iterdir():
        if path.name.startswith(prefix):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()


def _fsync_tree(root: pathlib.Path) -> None:
    # The data must be on disk before the rename makes it visible.
    for folder, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                os.fsync(f.fileno())


def publish_version(saved_model_dir: str | os.PathLike, serving_dir: str | os.PathLike,
                    model_name: str, copy_function=shutil.copy2) -> tuple[int, pathlib.Path]:
    """Copies a SavedModel to `<serving_dir>/<model_name>/<next version>/`.

    Args:
      saved_model_dir: folder holding saved_model.pb (+ variables/, assets/).
      serving_dir: the TF Serving model base folder.
      model_name: the served model's name (its folder under serving_dir).
      copy_function: per-file copy (tests inject failures here).

    Returns:
      (version, path of the new version folder).

    Raises:
      FileNotFoundError: saved_model_dir has no saved_model.pb.
    """
    source = pathlib.Path(saved_model_dir)
    if not (source / "saved_model.pb").exists():
        raise FileNotFoundError(f"{source / 'saved_model.pb'}: not a SavedModel folder")
    model_dir = pathlib.Path(serving_dir) / check_model_name(model_name)
    model_dir.mkdir(parents=True, exist_ok=True)
    with _locked(model_dir / PUSH_LOCK):
        _remove_leftovers(model_dir, STAGING_PREFIX)
        staging = pathlib.Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=model_dir))
        try:
            copy = staging / "model"
            shutil.copytree(source, copy, copy_function=copy_function)
            _fsync_tree(copy)
            version = (list_versions(model_dir) or [0])[-1] + 1
            while True:
                target = model_dir / str(version)
                try:
                    _rename_noreplace(copy, target)
                    break
                except FileExistsError:
                    version += 1  # made by someone who does not take the lock: never replaced
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return version, target


def models_config_text(serving_dir: str | os.PathLike, base_path: str | None = None) -> str:
    """TF Serving `--model_config_file` text for every model folder with a version.

    Args:
      serving_dir: the folder holding one sub-folder per model.
      base_path: where TF Serving will see serving_dir (e.g. `/models` inside a container);
        default: serving_dir's absolute path.
    """
    serving_dir = pathlib.Path(serving_dir)
    base = (base_path or str(serving_dir.resolve())).rstrip("/")
    names = sorted(p.name for p in serving_dir.iterdir()
                   if p.is_dir() and _NAME.match(p.name) and list_versions(p))
    entries = "".join(
        "  config {\n"
        f"    name: \"{name}\"\n"
        f"    base_path: \"{base}/{name}\"\n"
        "    model_platform: \"tensorflow\"\n"
        "  }\n"
        for name in names)
    return "model_config_list {\n" + entries + "}\n"


def write_models_config(serving_dir: str | os.PathLike, base_path: str | None = None) -> pathlib.Path:
    """Writes `<serving_dir>/models.config` atomically (temp file + replace), under its lock.

    The listing and the replace happen under one flock: without it, a pusher that listed the
    models before another's push could replace the file after it, dropping that model.
    """
    serving_dir = pathlib.Path(serving_dir)
    path = serving_dir / MODELS_CONFIG
    with _locked(serving_dir / MODELS_CONFIG_LOCK):
        _remove_leftovers(serving_dir, _MODELS_CONFIG_TMP_PREFIX)
        fd, tmp = tempfile.mkstemp(prefix=_MODELS_CONFIG_TMP_PREFIX, dir=serving_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(models_config_text(serving_dir, base_path))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    return path
