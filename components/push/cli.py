"""`mbert predict`: classify text with the newest pushed version of a served model.

Only TensorFlow and tensorflow-text are loaded (like TF Serving would): the model carries its own
tokenizer and labels.
"""

from __future__ import annotations

import json
import pathlib
from typing import Iterable, Iterator

import click

from components.push import publish


def _batches(items: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _stdin_lines(stream) -> Iterator[bytes]:
    # Bytes, not str: an invalid UTF-8 line still reaches the model (which replaces bad bytes).
    for line in stream:
        yield line.rstrip(b"\n").rstrip(b"\r")


def load_newest(model_dir: str | pathlib.Path):
    """(loaded SavedModel's predict_text function, labels, version folder)."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the ops the serving graph uses)

    version_dir = publish.newest_version_dir(model_dir)
    loaded = tf.saved_model.load(str(version_dir))
    if "predict_text" not in loaded.signatures:
        raise click.ClickException(f"{version_dir}: the SavedModel has no predict_text signature")
    labels_path = version_dir / "assets" / "labels.txt"
    labels = labels_path.read_text("utf-8").splitlines() if labels_path.exists() else None
    return loaded.signatures["predict_text"], labels, version_dir


def rejection_reason(error) -> str:
    """The model's own words from a tf.errors.OpError: its message without the node trace."""
    # The message is "Graph execution error:", "Detected at node ...", a stack trace (indented
    # or "<stack traces unavailable>"), the reason, then "\t [[{{node ...}}]]".
    lines = [line for line in error.message.splitlines()
             if line and not line[0].isspace() and not line.startswith(
                 ("Graph execution error", "Detected at node", "<stack traces"))]
    return lines[-1] if lines else error.message


def predict_lines(predict_text, labels, texts: Iterable[bytes], batch_size: int = 64) -> Iterator[dict]:
    """One {"text", "label", "probabilities"} dict per input, in input order.

    Raises:
      click.ClickException: the model rejected a batch (e.g. more rows than its
        max_serving_batch), with the model's reason.
    """
    import tensorflow as tf

    for batch in _batches(texts, batch_size):
        try:
            outputs = predict_text(text=tf.constant(batch, dtype=tf.string))
        except tf.errors.InvalidArgumentError as error:
            raise click.ClickException(
                f"the model rejected a batch of {len(batch)}: {rejection_reason(error)}") from None
        probabilities = outputs["probabilities"].numpy()
        predicted = outputs["label"].numpy()
        for text, label, row in zip(batch, predicted, probabilities):
            names = labels or [str(i) for i in range(len(row))]
            yield {
                "text": text.decode("utf-8", "replace"),
                "label": label.decode("utf-8", "replace"),
                "probabilities": {name: round(float(p), 6) for name, p in zip(names, row)},
            }


@click.command(help="Classify TEXT (or stdin, one text per line) with the newest version under "
                    "--model <serving_dir>/<model_name>; prints one JSON line per input.")
@click.option("--model", "model_dir", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=pathlib.Path),
              help="<serving_dir>/<model_name> (its highest numbered version is used).")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(min=1))
@click.argument("texts", nargs=-1)
def predict(model_dir: pathlib.Path, batch_size: int, texts: tuple[str, ...]) -> None:
    try:
        predict_text, labels, _ = load_newest(model_dir)
    except FileNotFoundError as error:
        raise click.ClickException(str(error)) from None
    if texts:
        # argv was decoded with surrogateescape: this gives back the exact bytes typed.
        inputs: Iterable[bytes] = (t.encode("utf-8", "surrogateescape") for t in texts)
    else:
        inputs = _stdin_lines(click.get_binary_stream("stdin"))
    # UTF-8 bytes whatever the terminal's locale: emoji and CJK must not crash the output.
    out = click.get_binary_stream("stdout")
    for record in predict_lines(predict_text, labels, inputs, batch_size):
        out.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
    out.flush()
