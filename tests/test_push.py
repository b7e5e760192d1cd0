"""Pusher and `mbert predict`: immutable versions, atomic publication, newest version served."""

import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import threading
import time

import pytest
from click.testing import CliRunner

import test_finetuning_support as support
from components.push import publish

LABELS_V1 = ["sports", "travel", "health"]
LABELS_V2 = ["politics", "geography"]


def _digest(root: pathlib.Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}|{stat.st_mtime_ns}|{stat.st_mode}".encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Two exported SavedModels with different label sets."""
    root = tmp_path_factory.mktemp("push_models")
    return (support.export_tiny_model(root / "a", LABELS_V1, seed=1),
            support.export_tiny_model(root / "b", LABELS_V2, seed=2))


def _fake_saved_model(path: pathlib.Path, files: int = 6, graph: bytes = b"graph") -> pathlib.Path:
    (path / "variables").mkdir(parents=True)
    (path / "saved_model.pb").write_bytes(graph)
    for i in range(files):
        (path / "variables" / f"shard-{i}").write_bytes(os.urandom(1000))
    return path


def test_versions_count_up_and_models_config_lists_every_model(tmp_path):
    source = _fake_saved_model(tmp_path / "export")
    serving = tmp_path / "serving"
    assert publish.publish_version(source, serving, "topics") == (1, serving / "topics" / "1")
    assert publish.publish_version(source, serving, "topics")[0] == 2
    publish.publish_version(source, serving, "intent")
    assert publish.list_versions(serving / "topics") == [1, 2]
    for name in ("saved_model.pb", "variables/shard-0", "variables/shard-5"):
        assert (serving / "topics" / "2" / name).read_bytes() == (source / name).read_bytes()
    publish.write_models_config(serving, base_path="/models")
    assert (serving / "models.config").read_text() == (
        'model_config_list {\n'
        '  config {\n    name: "intent"\n    base_path: "/models/intent"\n'
        '    model_platform: "tensorflow"\n  }\n'
        '  config {\n    name: "topics"\n    base_path: "/models/topics"\n'
        '    model_platform: "tensorflow"\n  }\n'
        '}\n')
    assert not [p for p in serving.rglob(".staging-*")]


def test_an_existing_version_is_never_touched(tmp_path, monkeypatch):
    source = _fake_saved_model(tmp_path / "export")
    serving = tmp_path / "serving"
    publish.publish_version(source, serving, "m")
    squatter = serving / "m" / "2"
    squatter.mkdir()  # an empty version folder someone else made: not ours to replace
    before = {name: _digest(serving / "m" / name) for name in ("1", "2")}
    # A stale listing (another pusher racing us) makes the next publish aim at taken numbers.
    monkeypatch.setattr(publish, "list_versions", lambda _: [])
    version, target = publish.publish_version(source, serving, "m")
    assert version == 3 and target == serving / "m" / "3"
    assert {name: _digest(serving / "m" / name) for name in ("1", "2")} == before
    assert list(squatter.iterdir()) == []


def test_rename_never_replaces_an_empty_folder(tmp_path):
    source, target = tmp_path / "a", tmp_path / "b"
    source.mkdir()
    (source / "f").write_text("x")
    target.mkdir()
    with pytest.raises(FileExistsError):
        publish._rename_noreplace(source, target)
    assert (source / "f").exists() and list(target.iterdir()) == []


def test_a_failed_copy_leaves_no_version_and_no_staging(tmp_path):
    source = _fake_saved_model(tmp_path / "export")
    serving = tmp_path / "serving"
    publish.publish_version(source, serving, "m")
    copied = []

    def failing_copy(src, dst):
        if len(copied) == 3:
            raise OSError(28, "No space left on device")
        copied.append(src)
        return shutil.copy2(src, dst)

    with pytest.raises(OSError, match="No space left"):
        publish.publish_version(source, serving, "m", copy_function=failing_copy)
    assert sorted(p.name for p in (serving / "m").iterdir()) == [publish.PUSH_LOCK, "1"]


_KILLED_MID_COPY = r"""
import os, shutil, signal, sys
from components.push import publish
copied = []
def copy_then_die(src, dst):
    if len(copied) == 3:
        os.kill(os.getpid(), signal.SIGKILL)  # a crash: no cleanup runs
    copied.append(src)
    return shutil.copy2(src, dst)
publish.publish_version(sys.argv[1], sys.argv[2], "m", copy_function=copy_then_die)
"""


def test_a_crash_mid_copy_leaves_no_half_version_visible(tmp_path):
    source = _fake_saved_model(tmp_path / "export")
    serving = tmp_path / "serving"
    publish.publish_version(source, serving, "m")
    before = _digest(serving / "m" / "1")
    result = subprocess.run([sys.executable, "-c", _KILLED_MID_COPY, str(source), str(serving)],
                            cwd=pathlib.Path(__file__).resolve().parents[1], timeout=60)
    assert result.returncode == -9
    leftovers = [p.name for p in (serving / "m").iterdir() if p.name not in ("1", publish.PUSH_LOCK)]
    assert len(leftovers) == 1 and leftovers[0].startswith(publish.STAGING_PREFIX)
    # What TF Serving and `mbert predict` see: still exactly version 1, unchanged.
    assert publish.list_versions(serving / "m") == [1]
    assert publish.newest_version_dir(serving / "m") == serving / "m" / "1"
    assert _digest(serving / "m" / "1") == before
    # The dead pusher released its lock: the next push removes its staging folder.
    assert publish.publish_version(source, serving, "m")[0] == 2
    assert sorted(p.name for p in (serving / "m").iterdir()) == [publish.PUSH_LOCK, "1", "2"]
    (serving / ".models.config-left-by-a-crash").write_text("half")
    publish.write_models_config(serving)
    assert "staging" not in (serving / "models.config").read_text()
    assert not list(serving.glob(".models.config-*"))


def _waits_for_the_lock(lock_file: pathlib.Path, work, while_waiting=lambda: None) -> None:
    """Runs work in a thread while lock_file is held here: it must wait for the lock's release."""
    thread = threading.Thread(target=work)
    with publish._locked(lock_file):
        thread.start()
        time.sleep(1.0)
        assert thread.is_alive(), "did not wait for the lock"
        while_waiting()
    thread.join(timeout=60)
    assert not thread.is_alive()


def test_a_push_waits_for_a_live_pusher_and_leaves_its_staging_alone(tmp_path):
    source = _fake_saved_model(tmp_path / "export")
    serving = tmp_path / "serving"
    publish.publish_version(source, serving, "m")
    live = serving / "m" / (publish.STAGING_PREFIX + "live")
    live.mkdir()  # a pusher mid-copy, holding the model's lock

    def untouched():
        assert live.is_dir() and publish.list_versions(serving / "m") == [1]

    _waits_for_the_lock(serving / "m" / publish.PUSH_LOCK,
                        lambda: publish.publish_version(source, serving, "m"), untouched)
    # The holder let go without removing its folder (it died): the waiting push removed it.
    assert publish.list_versions(serving / "m") == [1, 2] and not live.exists()


def test_models_config_is_rewritten_under_its_lock(tmp_path):
    source = _fake_saved_model(tmp_path / "export")
    serving = tmp_path / "serving"
    publish.publish_version(source, serving, "m")

    def not_written():
        assert not (serving / "models.config").exists()

    _waits_for_the_lock(serving / publish.MODELS_CONFIG_LOCK,
                        lambda: publish.write_models_config(serving), not_written)
    assert 'name: "m"' in (serving / "models.config").read_text()


_CONCURRENT_PUSHER = r"""
import pathlib, sys, time
from components.push import publish
source, serving, name, go, pushes = sys.argv[1:]
while not pathlib.Path(go).exists():  # start together, once imports are done
    time.sleep(0.005)
for _ in range(int(pushes)):
    publish.publish_version(source, serving, name)
    publish.write_models_config(serving, base_path="/models")
"""


def _files(root: pathlib.Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_concurrent_pushes_of_different_models_keep_every_model_and_whole_versions(tmp_path):
    names, processes, pushes = ["alpha", "beta", "gamma"], 6, 3
    serving, go = tmp_path / "serving", tmp_path / "go"
    sources = [_fake_saved_model(tmp_path / f"export-{i}", graph=f"graph {i}".encode())
               for i in range(processes)]
    workers = [subprocess.Popen(
        [sys.executable, "-c", _CONCURRENT_PUSHER, str(sources[i]), str(serving),
         names[i % len(names)], str(go), str(pushes)],
        cwd=pathlib.Path(__file__).resolve().parents[1], stderr=subprocess.PIPE)
        for i in range(processes)]
    time.sleep(2.0)
    go.touch()
    for worker in workers:
        _, stderr = worker.communicate(timeout=120)
        assert worker.returncode == 0, stderr.decode()[-3000:]

    assert (serving / "models.config").read_text() == "model_config_list {\n" + "".join(
        f'  config {{\n    name: "{name}"\n    base_path: "/models/{name}"\n'
        '    model_platform: "tensorflow"\n  }\n' for name in names) + "}\n"
    for n, name in enumerate(names):
        pushed_by = [i for i in range(processes) if i % len(names) == n]
        versions = publish.list_versions(serving / name)
        assert versions == list(range(1, len(pushed_by) * pushes + 1))
        # Every version is one whole source: all its files, byte for byte.
        copies = [_files(serving / name / str(v)) for v in versions]
        for i in pushed_by:
            assert copies.count(_files(sources[i])) == pushes
        assert sorted(p.name for p in (serving / name).iterdir()) == sorted(
            [str(v) for v in versions] + [publish.PUSH_LOCK])
    assert not list(serving.glob(".models.config-*"))


def test_model_names_that_are_not_safe_folder_names_are_rejected(tmp_path):
    source = _fake_saved_model(tmp_path / "export")
    for bad in ("", "../escape", "a b", "x/y"):
        with pytest.raises(ValueError, match="model_name"):
            publish.publish_version(source, tmp_path / "serving", bad)
    with pytest.raises(FileNotFoundError, match="saved_model.pb"):
        publish.publish_version(tmp_path, tmp_path / "serving", "m")


def test_only_blessed_models_count_as_blessed():
    from tfx.types import standard_artifacts

    from components.push.component import is_blessed

    blessing = standard_artifacts.ModelBlessing()
    assert not is_blessed(blessing)
    blessing.set_int_custom_property("blessed", 0)
    assert not is_blessed(blessing)
    blessing.set_int_custom_property("blessed", 1)
    assert is_blessed(blessing)


def _records(output: bytes | str) -> list[dict]:
    text = output.decode("utf-8") if isinstance(output, bytes) else output
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_predict_uses_the_newest_version_and_prints_one_line_per_input(models, tmp_path):
    from components.push.cli import predict

    serving = tmp_path / "serving"
    publish.publish_version(models[0], serving, "m")
    publish.publish_version(models[1], serving, "m")
    stdin = "first line\r\n\n   \n".encode() + b"\xff\xfe bad bytes\n" + "😀 世界 مرحبا\n".encode()
    result = CliRunner().invoke(predict, ["--model", str(serving / "m")], input=stdin)
    assert result.exit_code == 0, result.output
    records = _records(result.stdout_bytes)
    assert [r["text"] for r in records] == ["first line", "", "   ", "\ufffd\ufffd bad bytes",
                                            "😀 世界 مرحبا"]
    for record in records:
        assert list(record["probabilities"]) == LABELS_V2
        assert record["label"] in LABELS_V2
        assert sum(record["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
        assert record["label"] == max(record["probabilities"], key=record["probabilities"].get)

    result = CliRunner().invoke(predict, ["--model", str(serving / "m"), "one", "x" * 100_000])
    assert result.exit_code == 0, result.output
    assert [len(r["text"]) for r in _records(result.stdout_bytes)] == [3, 100_000]


def test_predict_without_a_version_names_the_folder(tmp_path):
    from components.push.cli import predict

    (tmp_path / "m" / ".staging-x").mkdir(parents=True)
    result = CliRunner().invoke(predict, ["--model", str(tmp_path / "m"), "hello"])
    assert result.exit_code != 0
    assert str(tmp_path / "m") in result.output and "no model version" in result.output


def test_mbert_predict_command_takes_raw_bytes_and_control_characters(models, tmp_path):
    serving = tmp_path / "serving"
    publish.publish_version(models[0], serving, "m")
    mbert = pathlib.Path(sys.executable).parent / "mbert"
    hostile = [b"\xff\xfe\xc3(", "ctl \x01\x07\x1b[0m".encode(), "👍🏽".encode(), b""]
    result = subprocess.run([str(mbert), "predict", "--model", str(serving / "m"), *hostile],
                            capture_output=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    records = _records(result.stdout)
    assert [r["text"] for r in records] == ["\ufffd\ufffd\ufffd(", "ctl \x01\x07\x1b[0m", "👍🏽", ""]
    assert all(r["label"] in LABELS_V1 for r in records)
