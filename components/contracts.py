"""What the stages hand each other: feature keys and dtypes, file names, split names, tokens.

Every stage reads and writes artifacts through these names; change one here and every reader
and writer follows. The artifacts, in the order the pipeline makes them:

Examples (CorpusIngestion -> statistics, VocabularyGen, PretrainingExampleGen, fine-tuning,
Evaluator, compression): GZIP TFRecords of tf.Example under `<uri>/Split-<split>/`, one record
per sentence or labelled row:
    text            bytes [1]   the sentence (records with control characters are rejected)
    language        bytes [1]   BCP-47 tag (`en`, `zh-Hant`, ...)
    doc_id          bytes [1]   document id (consecutive sentences of a document share it)
    sentence_index  int64 [1]   position of the sentence in its document
    label           bytes [1]   class name; labelled corpora only
    source          bytes [1]   `file:line` the record came from
  plus `summary.json` (counts by language and outcome) and `rejects.jsonl` (one line per record
  refused, with file, line and reason) at the artifact root.

Vocabulary (VocabularyGen or BaseModelImport -> PretrainingExampleGen, both Trainers, serving):
`vocab.txt` (one token per line, line number = id), `tokenizer.json` (the settings of
models.tokenizer.MBertTokenizer), `vocab_stats.json`. Read and written only by
components/vocabulary/files.py.

PretrainingExamples (PretrainingExampleGen -> pretraining Trainer): GZIP TFRecords
`<uri>/Split-<split>/data_tfrecord-<language>-NNNNN-of-NNNNN.gz` of unmasked instances:
    token_ids            int64 [seq_len]  [CLS] A [SEP] B [SEP], [PAD]-filled
    segment_ids          int64 [seq_len]  0 for [CLS] A [SEP], 1 for B [SEP], 0 on padding
    next_sentence_label  int64 [1]        0 = B follows A, 1 = random B, -1 = translation pair
    language             bytes [1]        language of A
    second_language      bytes [1]        language of B in a translation pair only
  plus `counts.json` (instances by split, language and label) at the root.

Model (pretraining Trainer or BaseModelImport -> fine-tuning Trainer): `<uri>/Format-Serving/`
holds `encoder.keras` (keras-hub BertBackbone), `encoder_config.json`, the vocabulary files,
and `pretraining_heads.npz` when MLM / NSP heads come with it.

Model (fine-tuning Trainer or compression -> Evaluator, Pusher): a SavedModel under
`<uri>/Format-Serving/` whose `serving_default` takes raw text (see models/serving.py), with the
vocabulary and `labels.txt` as assets and `assets.extra/classifier_config.json` to rebuild it.
"""

# Split names: ingestion writes these three; pretraining examples use the first two.
TRAIN_SPLIT = "train"
EVAL_SPLIT = "eval"
TEST_SPLIT = "test"
SPLIT_DIR_PREFIX = "Split-"
RECORD_FILE_PREFIX = "data_tfrecord"

# Examples features.
TEXT = "text"
LANGUAGE = "language"
DOC_ID = "doc_id"
SENTENCE_INDEX = "sentence_index"
LABEL = "label"
SOURCE = "source"

# Vocabulary files.
VOCAB_FILE = "vocab.txt"
TOKENIZER_FILE = "tokenizer.json"
VOCAB_STATS_FILE = "vocab_stats.json"

# Special tokens (a checkpoint's tokenizer.json may name others; these are the defaults).
PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
CLS_TOKEN = "[CLS]"
SEP_TOKEN = "[SEP]"
MASK_TOKEN = "[MASK]"

# Pretraining instance features.
TOKEN_IDS = "token_ids"
SEGMENT_IDS = "segment_ids"
NEXT_SENTENCE_LABEL = "next_sentence_label"
SECOND_LANGUAGE = "second_language"
TRANSLATION_PAIR_LABEL = -1
# Aligned sentences (PretrainingExampleGen with parallel_sentences): one record per sentence that
# several languages share, `<uri>/parallel/data_tfrecord-*.gz`; `token_ids` is every language's
# pieces one after the other, `piece_counts` how many each has, `languages` their tags.
PARALLEL_DIR = "parallel"
PIECE_COUNTS = "piece_counts"
LANGUAGES = "languages"

# Model artifacts.
SERVING_MODEL_DIR = "Format-Serving"
ENCODER_FILE = "encoder.keras"
ENCODER_CONFIG_FILE = "encoder_config.json"
PRETRAINING_HEADS_FILE = "pretraining_heads.npz"
LABELS_FILE = "labels.txt"
CLASSIFIER_CONFIG_FILE = "assets.extra/classifier_config.json"


def split_dir(uri: str, split: str) -> str:
    """`<uri>/Split-<split>`: where an Examples-like artifact keeps one split's records."""
    return f"{uri.rstrip('/')}/{SPLIT_DIR_PREFIX}{split}"


def parallel_pattern(uri: str) -> str:
    """Glob of the aligned-sentence records of a pretraining-examples artifact."""
    return f"{uri.rstrip('/')}/{PARALLEL_DIR}/{RECORD_FILE_PREFIX}-*.gz"


def split_pattern(uri: str, split: str) -> str:
    """Glob of one split's GZIP TFRecords (ingested examples and pretraining instances)."""
    return f"{split_dir(uri, split)}/{RECORD_FILE_PREFIX}-*.gz"
