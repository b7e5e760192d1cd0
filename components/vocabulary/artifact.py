"""The Vocabulary artifact type (components/contracts.py): vocab.txt, tokenizer.json, vocab_stats.json."""

from tfx.types.artifact import Artifact


class Vocabulary(Artifact):
    """A WordPiece vocabulary and its tokenizer settings, files at the artifact uri root."""

    # "<namespace>.<Name>": the form Vertex AI / KFP v2 require of custom artifact types.
    TYPE_NAME = "mbert.Vocabulary"
