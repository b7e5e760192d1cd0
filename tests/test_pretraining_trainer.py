"""Pretraining Trainer: learning on real text, resume after SIGKILL, multi-worker, bad input.

Instances are built from a handful of NTREX documents (English, German, Russian) with the
pretraining-example builder and a character-level vocabulary written here (the point is real
text, not the tokenizer); the tiny encoder preset keeps every run to seconds.
"""

from __future__ import annotations

import gzip
import dataclasses
import json
import os
import pathlib
import random
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from components.pretraining import data, training
from components import settings
from components.pretraining.config import PretrainingConfig
from components.pretraining.training import STEP_LOG, NonFiniteLossError, train
from components.pretraining_examples import builder
from components.trainer import custom_config
from components.vocabulary import files

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
SEQ_LEN = 32
LANGUAGES = {"en": "newstest2019-src.eng.txt", "de": "newstest2019-ref.deu.txt", "ru": "newstest2019-ref.rus.txt"}
DOCUMENTS_PER_LANGUAGE = 6


def _ntrex_documents(ntrex_dir: pathlib.Path, language_file: str) -> list[builder.Document]:
    doc_ids = (ntrex_dir / "DOCUMENT_IDS.tsv").read_text(encoding="utf-8").splitlines()
    lines = (ntrex_dir / language_file).read_text(encoding="utf-8").splitlines()
    documents: dict[str, list[str]] = {}
    for doc_id, line in zip(doc_ids, lines):
        if doc_id not in documents and len(documents) == DOCUMENTS_PER_LANGUAGE:
            break
        documents.setdefault(doc_id, []).append(line)
    return [builder.Document(doc_id, sentences) for doc_id, sentences in documents.items()]


def _write_records(path: pathlib.Path, instances) -> None:
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for instance in instances:
            feature = {
                "token_ids": tf.train.Feature(int64_list=tf.train.Int64List(value=instance.token_ids)),
                "segment_ids": tf.train.Feature(int64_list=tf.train.Int64List(value=instance.segment_ids)),
                "next_sentence_label": tf.train.Feature(
                    int64_list=tf.train.Int64List(value=[instance.next_sentence_label])
                ),
                "language": tf.train.Feature(bytes_list=tf.train.BytesList(value=[instance.language.encode()])),
            }
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())


@pytest.fixture(scope="module")
def ntrex_instances(ntrex_dir, tmp_path_factory):
    """pretraining-instance records from real NTREX text + the character vocabulary they use."""
    root = tmp_path_factory.mktemp("ntrex_instances")
    documents = {lang: _ntrex_documents(ntrex_dir, name) for lang, name in LANGUAGES.items()}
    characters = sorted({c for docs in documents.values() for d in docs for s in d.sentences for c in s if not c.isspace()})
    vocab = SPECIALS + characters
    ids = {token: i for i, token in enumerate(vocab)}
    vocab_dir = root / "vocab"
    files.write_vocabulary(vocab_dir, vocab, files.tokenizer_settings(vocab, lower_case=False))

    def tokenize(sentences):
        return [[ids[c] for c in sentence if not c.isspace()] for sentence in sentences]

    params = builder.InstanceParams(max_seq_length=SEQ_LEN, dupe_factor=2)
    counts = {}
    for split in ("train", "eval"):
        (root / f"Split-{split}").mkdir()
        for lang, docs in documents.items():
            chosen = docs[:-1] if split == "train" else docs[-1:] + docs[:1]
            tokenized = builder.tokenize_documents(chosen, tokenize)
            instances = builder.build_instances_from_tokens(
                tokenized, params, random.Random(f"{split}/{lang}"), language=lang
            )
            _write_records(root / f"Split-{split}" / f"data_tfrecord-{lang}.gz", instances)
            counts[(split, lang)] = len(instances)
    assert all(count > 0 for count in counts.values()), counts
    return {
        "root": root,
        "vocab_dir": vocab_dir,
        "vocab_size": len(vocab),
        "train": str(root / "Split-train" / "*"),
        "eval": str(root / "Split-eval" / "*"),
        "counts": counts,
    }


def _hparams(**overrides) -> dict:
    values = dict(
        preset="tiny",
        encoder={"max_sequence_length": SEQ_LEN, "dropout": 0.0},
        seq_len=SEQ_LEN,
        max_predictions=5,
        batch_size=16,
        train_steps=60,
        warmup_steps=5,
        learning_rate=3e-3,
        checkpoint_every=20,
        log_every=10,
        eval_steps=4,
        eval_batch_size=16,
        mixed_precision="false",
        jit_compile="false",
        shuffle_buffer=256,
        seed=1,
    )
    values.update(overrides)
    return values


def _step_log(model_dir: pathlib.Path) -> list[dict]:
    return [json.loads(line) for line in (model_dir / STEP_LOG).read_text().splitlines()]


def _checkpoint_step(checkpoint_dir: pathlib.Path) -> int:
    latest = tf.train.latest_checkpoint(str(checkpoint_dir))
    reader = tf.train.load_checkpoint(latest)
    keys = [k for k in reader.get_variable_to_shape_map() if k.startswith("optimizer/_iterations")]
    assert keys, f"no optimizer/_iterations in {latest}"
    return int(reader.get_tensor(keys[0]))


def test_tiny_model_learns_real_text_and_exports(ntrex_instances, tmp_path):
    model_dir = tmp_path / "model"
    export_dir = tmp_path / "export"
    result = train(
        _hparams(),
        ntrex_instances["train"],
        ntrex_instances["eval"],
        model_dir,
        vocab_dir=ntrex_instances["vocab_dir"],
        export_dir=export_dir,
    )
    assert (result.start_step, result.final_step, result.steps_run) == (0, 60, 60)
    # A uniform guess over the character vocabulary costs ln(V) nats; the model must beat it clearly.
    assert result.first_mlm_loss > 0.9 * np.log(ntrex_instances["vocab_size"])
    assert result.last_mlm_loss < result.first_mlm_loss - 1.0, (result.first_mlm_loss, result.last_mlm_loss)
    logged = _step_log(model_dir)
    assert [entry["step"] for entry in logged] == [10, 20, 30, 40, 50, 60]
    assert set(result.eval_metrics["mlm_accuracy_by_language"]) == {"en", "de", "ru"}
    assert result.eval_metrics["mlm_loss"] < np.log(ntrex_instances["vocab_size"]) - 0.5
    assert 0.0 < result.eval_metrics["mlm_accuracy"] < 1.0
    assert result.eval_metrics["examples"] > 0
    # Checkpoints at 20, 40, 60; the newest is the final step.
    assert _checkpoint_step(model_dir / "checkpoints") == 60
    assert sorted(p.name for p in export_dir.iterdir()) == ["encoder.keras", "encoder_config.json", "tokenizer.json", "vocab.txt"]
    assert (export_dir / "vocab.txt").read_bytes() == (ntrex_instances["vocab_dir"] / "vocab.txt").read_bytes()
    # TensorBoard: training scalars and per-language evaluation.
    assert list((model_dir / "logs" / "train").glob("events.out.tfevents.*"))
    eval_tags = set()
    for event_file in (model_dir / "logs" / "eval").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            eval_tags.update(value.tag for value in event.summary.value)
    assert {"mlm_accuracy", "nsp_accuracy", "mlm_accuracy_by_language/de"} <= eval_tags

    from models.encoder import load_pretrained_encoder

    encoder = load_pretrained_encoder(export_dir)
    assert encoder.vocabulary_size == ntrex_instances["vocab_size"]
    assert encoder.dtype_policy.name == "float32"


def _cli(model_dir, ntrex_instances, hparams: dict, result=None, with_eval=False) -> list[str]:
    command = [
        sys.executable, "-m", "components.pretraining.cli",
        "--train-files", ntrex_instances["train"],
        "--model-dir", str(model_dir),
        "--vocab-dir", str(ntrex_instances["vocab_dir"]),
        "--hparams", json.dumps(hparams),
    ]
    if with_eval:
        command += ["--eval-files", ntrex_instances["eval"]]
    if result:
        command += ["--result", str(result)]
    return command


def _env(**extra) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env.update(extra)
    return env


def test_sigkill_mid_run_resumes_from_last_checkpoint(ntrex_instances, tmp_path):
    model_dir = tmp_path / "model"
    hparams = _hparams(train_steps=40, checkpoint_every=8, log_every=1, eval_steps=None)
    process = subprocess.Popen(
        _cli(model_dir, ntrex_instances, hparams), cwd=REPO_ROOT, env=_env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    # Block on the log line written right after the first checkpoint lands (no timed sleep).
    seen = []
    for line in process.stderr:
        seen.append(line)
        if "components.pretraining.checkpoints: checkpoint " in line:
            break
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "".join(seen[-20:])
    killed_at = _checkpoint_step(model_dir / "checkpoints")
    assert 8 <= killed_at < 40 and killed_at % 8 == 0
    steps_before = [entry["step"] for entry in _step_log(model_dir)]
    assert steps_before[0] == 1 and steps_before[-1] < 40

    done = subprocess.run(
        _cli(model_dir, ntrex_instances, hparams, result=tmp_path / "result.json"),
        cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["resumed_from"].endswith(f"ckpt-{killed_at}")
    assert (result["start_step"], result["final_step"]) == (killed_at, 40)
    assert result["steps_run"] == 40 - killed_at
    assert _checkpoint_step(model_dir / "checkpoints") == 40
    # The second run logged exactly the steps after the checkpoint (not from 1 again), and the
    # rows the killed run wrote after its checkpoint were dropped: every step is there once.
    assert [entry["step"] for entry in _step_log(model_dir)] == list(range(1, 41))
    # keep_checkpoints=3: the newest three remain.
    kept = sorted(int(p.name.split("-")[1].split(".")[0]) for p in (model_dir / "checkpoints").glob("ckpt-*.index"))
    assert kept == [24, 32, 40]


# --- resume continues the data ----------------------------------------------------------------


def _masking_kwargs(ntrex_instances) -> dict:
    from components.pretraining import masking

    kwargs = masking.masking_kwargs_from_vocab(str(ntrex_instances["vocab_dir"]))
    kwargs.update(max_predictions=5)
    return kwargs


def _batches(dataset, count: int) -> list[tuple]:
    return [(b["token_ids"].numpy(), b["mask_positions"].numpy(), b["mask_ids"].numpy())
            for b in dataset.take(count)]


@pytest.fixture(scope="module")
def per_language_files(ntrex_instances, tmp_path_factory) -> str:
    """The train records under PretrainingExampleGen's per-language names, so the trainer mixes
    languages by sampling (as in the pipeline); returns their glob."""
    from components.pretraining_examples import layout

    folder = tmp_path_factory.mktemp("per_language") / "Split-train"
    folder.mkdir()
    for language in LANGUAGES:
        source = ntrex_instances["root"] / "Split-train" / f"data_tfrecord-{language}.gz"
        (folder / layout.language_file_name(language, 0, 1)).symlink_to(source)
    return str(folder / "*")


@pytest.mark.parametrize("layout", ["mixed languages", "one stream", "second of two pipelines"])
def test_skipping_batches_yields_what_a_fresh_pass_yields_after_them(ntrex_instances, per_language_files, layout):
    if layout == "one stream":
        files = data.resolve_files(ntrex_instances["train"], "train data")
    else:
        files = data.resolve_files(per_language_files, "train data")
    shard = (1, 2) if layout == "second of two pipelines" else (0, 1)
    assert len(data.language_pools(files)) == (1 if layout == "one stream" else 3)

    def dataset(skip):
        return data.make_dataset(files, 8, SEQ_LEN, _masking_kwargs(ntrex_instances), training=True,
                                 seed=3, shuffle_buffer=64, shard=shard, skip_batches=skip)

    # 30 batches of 8 run through the shuffle buffers and past the end of the data (repeat).
    whole = _batches(dataset(0), 30)
    resumed = _batches(dataset(12), 18)
    for expected, got in zip(whole[12:], resumed, strict=True):
        for a, b in zip(expected, got):
            np.testing.assert_array_equal(a, b)
    # Not trivially equal: the batches (and masks) differ from step to step.
    assert not np.array_equal(whole[12][0], whole[13][0])


class _Killed(Exception):
    """Stands for the process dying between two steps."""


def _record_batches(monkeypatch, seen: list, die_after: int | None = None) -> None:
    """Every batch the train step gets is appended to `seen` (token ids and mask positions);
    with `die_after`, training stops as if killed once that many steps have run."""
    from components.pretraining import steps

    def make_train_step(*args, **kwargs):
        step = steps.make_train_step(*args, **kwargs)

        def recorded(batch):
            if die_after is not None and len(seen) == die_after:
                raise _Killed
            seen.append((batch["token_ids"].numpy(), batch["mask_positions"].numpy()))
            return step(batch)

        return recorded

    monkeypatch.setattr(training, "make_train_step", make_train_step)


def test_killed_and_resumed_run_sees_the_batches_of_an_uninterrupted_run(ntrex_instances, per_language_files,
                                                                         tmp_path, monkeypatch):
    hparams = _hparams(train_steps=20, checkpoint_every=6, log_every=1, eval_steps=None)
    train_files = per_language_files
    whole = []
    _record_batches(monkeypatch, whole)
    uninterrupted = train(hparams, train_files, None, tmp_path / "whole",
                          vocab_dir=ntrex_instances["vocab_dir"])

    before_kill, after_resume = [], []
    _record_batches(monkeypatch, before_kill, die_after=15)
    with pytest.raises(_Killed):
        train(hparams, train_files, None, tmp_path / "resumed", vocab_dir=ntrex_instances["vocab_dir"])
    # Steps 13-15 ran after the last checkpoint (12): their rows are in the log, then trained again.
    assert [row["step"] for row in _step_log(tmp_path / "resumed")] == list(range(1, 16))
    _record_batches(monkeypatch, after_resume)
    resumed = train(hparams, train_files, None, tmp_path / "resumed",
                    vocab_dir=ntrex_instances["vocab_dir"])

    assert (resumed.start_step, resumed.final_step) == (12, 20)
    assert len(whole) == 20 and len(after_resume) == 8
    for step, (expected, got) in enumerate(zip(whole, before_kill[:12] + after_resume, strict=True), 1):
        np.testing.assert_array_equal(expected[0], got[0], err_msg=f"token ids of step {step}")
        np.testing.assert_array_equal(expected[1], got[1], err_msg=f"mask positions of step {step}")
    # The step log has every step once, and the same losses as the uninterrupted run's.
    log_whole, log_resumed = _step_log(tmp_path / "whole"), _step_log(tmp_path / "resumed")
    assert [row["step"] for row in log_resumed] == list(range(1, 21))
    assert [row["loss"] for row in log_resumed] == pytest.approx([row["loss"] for row in log_whole], rel=1e-4)
    assert resumed.weights_checksum == pytest.approx(uninterrupted.weights_checksum, rel=1e-5)


def _free_ports(count: int) -> list[int]:
    sockets = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multi_worker_mirrored_two_workers_end_with_same_weights(ntrex_instances, tmp_path):
    model_dir = tmp_path / "model"
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    hparams = _hparams(train_steps=6, checkpoint_every=3, log_every=1, eval_steps=None)
    processes = []
    for index in range(2):
        tf_config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        processes.append(subprocess.Popen(
            _cli(model_dir, ntrex_instances, hparams, result=tmp_path / f"result-{index}.json"),
            cwd=REPO_ROOT, env=_env(TF_CONFIG=tf_config),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    outputs = [process.communicate(timeout=300) for process in processes]
    for process, (_, err) in zip(processes, outputs):
        assert process.returncode == 0, err[-3000:]
    results = [json.loads((tmp_path / f"result-{i}.json").read_text()) for i in range(2)]
    for result in results:
        assert result["strategy"] == "MultiWorkerMirroredStrategy"
        assert result["replicas"] == 2
        assert (result["start_step"], result["final_step"]) == (0, 6)
    assert results[0]["weights_checksum"] == results[1]["weights_checksum"]
    assert results[0]["weights_checksum"] > 0
    # The chief alone wrote checkpoints and the step log; the worker's scratch copy is gone.
    assert _checkpoint_step(model_dir / "checkpoints") == 6
    assert [entry["step"] for entry in _step_log(model_dir)] == [1, 2, 3, 4, 5, 6]
    assert not list((model_dir / "checkpoints").glob(".worker-*"))


# --- bad input -------------------------------------------------------------------------------


def test_vocabulary_size_comes_from_the_vocabulary(ntrex_instances, tmp_path):
    with pytest.raises(ValueError, match=r"pretraining.encoder.vocab_size: comes from the vocabulary"):
        train(_hparams(encoder={"vocab_size": 999}), ntrex_instances["train"], None, tmp_path / "m",
              vocab_dir=ntrex_instances["vocab_dir"])


def test_resuming_with_a_different_vocabulary_fails_and_keeps_checkpoint(ntrex_instances, tmp_path):
    model_dir = tmp_path / "model"
    train(_hparams(train_steps=2, warmup_steps=1, checkpoint_every=1, eval_steps=None), ntrex_instances["train"], None,
          model_dir, vocab_dir=ntrex_instances["vocab_dir"])
    bigger = tmp_path / "bigger_vocab"
    bigger.mkdir()
    vocab = (ntrex_instances["vocab_dir"] / "vocab.txt").read_text(encoding="utf-8") + "[unused-extra]\n"
    (bigger / "vocab.txt").write_text(vocab, encoding="utf-8")
    with pytest.raises(ValueError, match=rf"checkpoint .*ckpt-2 does not fit .*vocab_size {ntrex_instances['vocab_size'] + 1}"):
        train(_hparams(train_steps=4, warmup_steps=1, eval_steps=None), ntrex_instances["train"], None, model_dir, vocab_dir=bigger)
    assert _checkpoint_step(model_dir / "checkpoints") == 2


def test_tokenizer_json_disagreeing_with_vocab_txt_is_named(ntrex_instances, tmp_path):
    vocab_dir = tmp_path / "vocab"
    vocab_dir.mkdir()
    vocab = files.read_vocab(ntrex_instances["vocab_dir"])
    files.write_vocabulary(vocab_dir, vocab, {**files.tokenizer_settings(vocab, False), "vocab_size": 7})
    with pytest.raises(ValueError, match=r"tokenizer.json declares vocab_size 7"):
        train(_hparams(), ntrex_instances["train"], None, tmp_path / "m", vocab_dir=vocab_dir)


def test_empty_tfrecords_are_refused(ntrex_instances, tmp_path):
    empty = tmp_path / "data_tfrecord-00000.gz"
    with tf.io.TFRecordWriter(str(empty), options="GZIP"):
        pass
    with pytest.raises(data.BadInputError, match=r"train data: all 1 TFRecord file\(s\) are empty"):
        train(_hparams(), str(empty), None, tmp_path / "m", vocab_dir=ntrex_instances["vocab_dir"])
    with pytest.raises(data.BadInputError, match=r"train data: no TFRecord files match"):
        train(_hparams(), str(tmp_path / "nothing-*.gz"), None, tmp_path / "m", vocab_dir=ntrex_instances["vocab_dir"])


def test_corrupt_tfrecords_name_the_file(ntrex_instances, tmp_path):
    corrupt = tmp_path / "data_tfrecord-00001.gz"
    corrupt.write_bytes(b"this is not a gzip tfrecord file\n" * 20)
    with pytest.raises(data.BadInputError, match=rf"corrupt TFRecord file {corrupt}"):
        train(_hparams(), str(corrupt), None, tmp_path / "m", vocab_dir=ntrex_instances["vocab_dir"])
    # Valid GZIP whose payload is not TFRecord framing.
    framing = tmp_path / "data_tfrecord-00002.gz"
    framing.write_bytes(gzip.compress(b"\x01\x02\x03" * 100))
    with pytest.raises(data.BadInputError, match=rf"corrupt TFRecord file {framing}"):
        train(_hparams(), str(framing), None, tmp_path / "m", vocab_dir=ntrex_instances["vocab_dir"])


def test_records_of_the_wrong_length_name_file_and_key(ntrex_instances, tmp_path):
    with pytest.raises(data.BadInputError, match=r"Split-train/data_tfrecord-de.gz record 0 is not a pretraining instance of seq_len 48: .*Key: (token_ids|segment_ids).*Values size: 32"):
        train(_hparams(seq_len=48, encoder={"max_sequence_length": 64}), ntrex_instances["train"], None,
              tmp_path / "m", vocab_dir=ntrex_instances["vocab_dir"])


def test_nan_loss_stops_with_the_cause_and_keeps_last_good_checkpoint(ntrex_instances, tmp_path):
    model_dir = tmp_path / "model"
    train(_hparams(train_steps=2, warmup_steps=1, checkpoint_every=1, eval_steps=None), ntrex_instances["train"], None,
          model_dir, vocab_dir=ntrex_instances["vocab_dir"])
    # An absurd learning rate blows the weights up to inf within a few steps.
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at step \d+.*last good checkpoint is .*ckpt-2"):
        # Built past the settings' checks (a learning rate above 1 is refused there).
        train(dataclasses.replace(settings.parse(PretrainingConfig, _hparams(
                  train_steps=50, checkpoint_every=100, warmup_steps=0, eval_steps=None), "pretraining"),
                  learning_rate=1e30),
              ntrex_instances["train"], None, model_dir, vocab_dir=ntrex_instances["vocab_dir"])
    assert _checkpoint_step(model_dir / "checkpoints") == 2


def test_bad_settings_are_named_as_in_the_yaml():
    with pytest.raises(ValueError, match=r"unknown key pretraining.lerning_rate "):
        settings.parse(PretrainingConfig, {"lerning_rate": 1e-4}, "pretraining")
    with pytest.raises(ValueError, match=r"pretraining.warmup_steps: 20 is more than train_steps 10"):
        settings.parse(PretrainingConfig, {"train_steps": 10, "warmup_steps": 20}, "pretraining")
    # seq_len and seed travel in the Trainer's JSON, but are set from pretraining_examples.
    with pytest.raises(ValueError, match=r"pretraining.seq_len: set by the pipeline from "
                                         r"pretraining_examples.max_seq_length, not a config key"):
        settings.parse(PretrainingConfig, {"seq_len": 64}, "pretraining", from_yaml=True)
    assert settings.parse(PretrainingConfig, {"seq_len": 64}, "pretraining").seq_len == 64


def test_run_fn_reads_fn_args_and_exports_for_fine_tuning(ntrex_instances, tmp_path):
    from types import SimpleNamespace

    from components.pretraining.trainer_module import run_fn

    config = settings.parse(PretrainingConfig, _hparams(train_steps=999, warmup_steps=1,
                                                        checkpoint_every=2, log_every=1), "pretraining")
    custom = custom_config(config, vocab_dir=str(ntrex_instances["vocab_dir"]))
    fn_args = SimpleNamespace(
        train_files=[ntrex_instances["train"]],
        eval_files=[ntrex_instances["eval"]],
        serving_model_dir=str(tmp_path / "serving_model_dir"),
        model_run_dir=str(tmp_path / "model_run"),
        train_steps=3,  # TrainArgs / EvalArgs num_steps win over custom_config
        eval_steps=2,
        custom_config=custom,
    )
    result = run_fn(fn_args)
    assert (result.final_step, result.steps_run) == (3, 3)
    assert result.eval_metrics["examples"] == 2 * 16
    assert (tmp_path / "serving_model_dir" / "encoder.keras").is_file()
    assert list((tmp_path / "model_run" / "logs" / "eval").glob("events.out.tfevents.*"))
    fn_args.custom_config = {**custom, "learning_rat": 1.0}
    with pytest.raises(ValueError, match=r"pretraining custom_config: unknown key 'learning_rat'"):
        run_fn(fn_args)
    fn_args.custom_config = {**custom, "config": custom["config"].replace('"batch_size": 16', '"batch_size": 0')}
    with pytest.raises(ValueError, match=r"pretraining.batch_size: must be >= 1, got 0"):
        run_fn(fn_args)
