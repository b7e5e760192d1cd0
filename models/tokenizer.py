"""The one tokenizer shared by pretraining, fine-tuning, evaluation and serving.

Built from a Vocabulary artifact's `vocab.txt` + `tokenizer.json` (read by
components/vocabulary/files.py) on TF Text's `FastBertNormalizer` (control characters -> space;
uncased: lower case + NFD + accents stripped) and end-to-end `FastWordpieceTokenizer` (split on white space, punctuation and around
CJK ideographs, then greedy longest-match WordPiece). The learner
(`components/vocabulary`) splits words exactly the same way; a test checks it on real text.

It is a Keras layer so that it tracks as a `tf.Module` inside exported SavedModels, where
`vocab.txt` and `tokenizer.json` travel as assets; `tokenize` is a plain TF function usable in
`tf.data` pipelines. TensorFlow only: tokenization stays on TF whatever the Keras backend.
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from components import contracts
from components.vocabulary import files
from components.vocabulary.files import max_bytes_per_word


class MBertTokenizer(keras.layers.Layer):
    """Strings -> WordPiece ids, as the vocabulary learner split the words.

    Args:
      vocabulary: the tokens, line number = id.
      lower_case: uncased (lower case, NFD, accents stripped); must equal `strip_accents`.
      strip_accents: see `lower_case` (TF Text's normalizer does both or neither).
      split_cjk: must be True (TF Text's end-to-end tokenizer always splits CJK ideographs).
      suffix_indicator: marks continuation pieces.
      max_chars_per_word: words up to this many characters are always tokenised; longer ones
        may become `[UNK]` (the limit is applied on 4x as many UTF-8 bytes).
      unk_token, pad_token, cls_token, sep_token, mask_token: special tokens, all in
        `vocabulary`.
      settings_path: tokenizer.json to carry along as a SavedModel asset (optional).
      vocab_path: vocab.txt to carry along as a SavedModel asset (optional).
    """

    def __init__(self, vocabulary: Sequence[str], lower_case: bool = False, strip_accents: bool = False,
                 split_cjk: bool = True, suffix_indicator: str = "##", max_chars_per_word: int = 200,
                 unk_token: str = "[UNK]", pad_token: str = "[PAD]", cls_token: str = "[CLS]",
                 sep_token: str = "[SEP]", mask_token: str = "[MASK]",
                 settings_path: Optional[str] = None, vocab_path: Optional[str] = None, **kwargs):
        kwargs.setdefault("trainable", False)
        kwargs.setdefault("dtype", "int32")
        super().__init__(**kwargs)
        self.vocabulary = [str(t) for t in vocabulary]
        if bool(lower_case) != bool(strip_accents):
            raise ValueError(f"tokenizer.json: lower_case={lower_case} and strip_accents={strip_accents} "
                             "must be equal (TF Text's FastBertNormalizer does both or neither)")
        if not split_cjk:
            raise ValueError("tokenizer.json: split_cjk=false is not supported (TF Text's "
                             "FastWordpieceTokenizer always splits CJK ideographs)")
        index = {}
        for i, token in enumerate(self.vocabulary):
            if token in index:
                raise ValueError(f"vocabulary: token {token!r} appears twice (ids {index[token]} and {i})")
            index[token] = i
        for key, token in (("unk_token", unk_token), ("pad_token", pad_token), ("cls_token", cls_token),
                           ("sep_token", sep_token), ("mask_token", mask_token)):
            if token not in index:
                raise ValueError(f"tokenizer.json: {key}={token!r} is not in the vocabulary")
        self.lower_case = bool(lower_case)
        self.strip_accents = bool(strip_accents)
        self.split_cjk = bool(split_cjk)
        self.suffix_indicator = suffix_indicator
        self.max_chars_per_word = int(max_chars_per_word)
        self.unk_token, self.pad_token, self.cls_token = unk_token, pad_token, cls_token
        self.sep_token, self.mask_token = sep_token, mask_token
        self.settings_path, self.vocab_path = settings_path, vocab_path
        self.unk_id, self.pad_id = index[unk_token], index[pad_token]
        self.cls_id, self.sep_id, self.mask_id = index[cls_token], index[sep_token], index[mask_token]
        self._normalizer = tf_text.FastBertNormalizer(lower_case_nfd_strip_accents=self.lower_case)
        self._wordpiece = tf_text.FastWordpieceTokenizer(
            vocab=self.vocabulary, suffix_indicator=suffix_indicator,
            max_bytes_per_word=max_bytes_per_word(self.max_chars_per_word), token_out_type=tf.int32,
            unknown_token=unk_token, no_pretokenization=False, support_detokenization=False)
        # Tracked assets: tf.saved_model.save copies them into the export's assets/ folder.
        self._assets = [tf.saved_model.Asset(p) for p in (vocab_path, settings_path) if p]

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    def tokenize(self, strings: tf.Tensor) -> tf.RaggedTensor:
        """tf.string [batch] -> int32 RaggedTensor [batch, (words * pieces)]."""
        strings = tf.convert_to_tensor(strings, dtype=tf.string)
        return self._wordpiece.tokenize(self._normalizer.normalize(strings))

    def call(self, strings):
        return self.tokenize(strings)

    def id_to_token(self, token_id: int) -> str:
        return self.vocabulary[token_id]

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({
            "vocabulary": list(self.vocabulary), "lower_case": self.lower_case,
            "strip_accents": self.strip_accents, "split_cjk": self.split_cjk,
            "suffix_indicator": self.suffix_indicator, "max_chars_per_word": self.max_chars_per_word,
            "unk_token": self.unk_token, "pad_token": self.pad_token, "cls_token": self.cls_token,
            "sep_token": self.sep_token, "mask_token": self.mask_token,
            "settings_path": self.settings_path, "vocab_path": self.vocab_path,
        })
        return config


def load_tokenizer(vocab_dir: str) -> MBertTokenizer:
    """The tokenizer of a Vocabulary artifact (or of a pretrained model dir holding the same files)."""
    vocab, settings = files.read_vocabulary(vocab_dir)
    return MBertTokenizer(
        vocab, lower_case=settings["lower_case"], strip_accents=settings["strip_accents"],
        split_cjk=settings["split_cjk"], suffix_indicator=settings["suffix_indicator"],
        max_chars_per_word=settings["max_chars_per_word"], unk_token=settings["unk_token"],
        pad_token=settings["pad_token"], cls_token=settings["cls_token"], sep_token=settings["sep_token"],
        mask_token=settings["mask_token"], settings_path=os.path.join(vocab_dir, contracts.TOKENIZER_FILE),
        vocab_path=os.path.join(vocab_dir, contracts.VOCAB_FILE))
