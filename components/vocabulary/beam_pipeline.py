"""The vocabulary pipeline in Apache Beam: word counts, smoothing, learning rounds, files.

Every step that touches data is a Beam transform over shards, so the same graph runs on the
DirectRunner here and on Dataflow, Flink or Spark with `beam_pipeline_args`:

  (language, text) --CountWords--> ((language, bucket), {word: count})      per-bundle counters
      --SmoothedWordTable--> (bucket, {word: (raw, weighted)})               side input: totals
      --alphabet--> singleton list of character tokens
      round r: (bucket, words) --count_candidates--> ((suffix?, part), {maximal string: count})
               --CombinePerKey--> prefix_levels (numpy, per part) --> select (numpy, global)
      --> vocab.txt, tokenizer.json, vocab_stats.json (written from the pipeline itself, so a
          remote runner needs no result back in the driver).

Words are sharded by a stable hash (crc32; Python's `hash` is salted per process), so a word's
counts from every worker meet in one shard. Bundles pre-aggregate in memory (`Counter` per
bundle, emitted at `finish_bundle`): the shuffle then carries distinct words, not occurrences.
"""

from __future__ import annotations

import collections
import logging
import zlib
from typing import Iterable, Optional, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindows

from components import contracts, settings
from components.vocabulary import basic_tokenizer, files, learner, seeds
from components.vocabulary.config import VocabularyConfig
from components.vocabulary.wordpiece import SUFFIX, max_bytes_per_word, token_prefixes

_NORMALIZE_BATCH = 512


def tokenizer_settings(params: VocabularyConfig, vocab: list) -> dict:
    """tokenizer.json: every setting the tokenizer needs to split as the learner."""
    return files.tokenizer_settings(vocab, lower_case=params.lower_case,
                                    max_chars_per_word=params.max_chars_per_word,
                                    reserved=learner.reserved_tokens(params.num_unused))


def _bucket(word: str, num_shards: int) -> int:
    return zlib.crc32(word.encode("utf-8")) % num_shards


class _CountWordsFn(beam.DoFn):
    """(language, text) -> ((language, bucket), {word: count}), one per bundle and key.

    Texts are split on white space and the chunks counted (C speed); each distinct chunk is
    basic-tokenised once at the end of the bundle (`basic_tokenizer.count_words`).
    """

    def __init__(self, lower_case: bool, num_shards: int):
        self._lower_case = lower_case
        self._num_shards = num_shards

    def start_bundle(self):
        self._chunks: dict = collections.defaultdict(collections.Counter)
        self._pending: list = []

    def _add(self, language: str, text: str) -> None:
        self._chunks[language].update(text.split())

    def _flush(self) -> None:
        if self._pending:
            texts = basic_tokenizer.normalize_batch([t for _, t in self._pending], lower_case=True)
            for (language, _), text in zip(self._pending, texts):
                self._add(language, text)
            self._pending = []

    def process(self, element):
        language, text = element
        if self._lower_case:
            self._pending.append((language, text))
            if len(self._pending) >= _NORMALIZE_BATCH or len(text) >= _BLOCK_CHARS:
                self._flush()
        else:
            self._add(language, text)

    def finish_bundle(self):
        self._flush()
        for language, chunks in self._chunks.items():
            shards: dict = collections.defaultdict(dict)
            for word, count in basic_tokenizer.count_words(chunks).items():
                shards[_bucket(word, self._num_shards)][word] = count
            for bucket, words in shards.items():
                yield GlobalWindows.windowed_value(((language, bucket), words))
        self._chunks = collections.defaultdict(collections.Counter)


class _MergeCountsFn(beam.CombineFn):
    """Sums {key: number} dictionaries."""

    def create_accumulator(self):
        return {}

    def add_input(self, accumulator, element):
        if not accumulator:
            return dict(element)
        get = accumulator.get
        for key, value in element.items():
            accumulator[key] = get(key, 0) + value
        return accumulator

    def merge_accumulators(self, accumulators):
        accumulators = iter(accumulators)
        out = dict(next(accumulators, {}))
        for acc in accumulators:
            out = self.add_input(out, acc)
        return out

    def extract_output(self, accumulator):
        return accumulator


class _DictSumFn(beam.CombineFn):
    """Sums dictionaries of counts; subclasses say how one value is added (add_input)."""

    def create_accumulator(self):
        return {}

    def merge_accumulators(self, accumulators):
        out = {}
        for acc in accumulators:
            out = self.add_input(out, acc)
        return out

    def extract_output(self, accumulator):
        return accumulator


class _MergePairsFn(_DictSumFn):
    """Sums {word: (raw, weighted)} dictionaries."""

    def add_input(self, accumulator, element):
        for key, (raw, weighted) in element.items():
            old = accumulator.get(key)
            accumulator[key] = (raw, weighted) if old is None else (old[0] + raw, old[1] + weighted)
        return accumulator


class CountWords(beam.PTransform):
    """(language, text) -> ((language, bucket), {word: count}): basic-tokenised word counts."""

    def __init__(self, lower_case: bool, num_shards: int):
        super().__init__()
        self._lower_case = lower_case
        self._num_shards = num_shards

    def expand(self, lines):
        return (lines
                | "Tokenize" >> beam.ParDo(_CountWordsFn(self._lower_case, self._num_shards))
                | "Sum" >> beam.CombinePerKey(_MergeCountsFn()))


def _weighted_shard(element, totals: dict, exponent: float):
    (language, bucket), words = element
    weight = learner.smoothing_weights(totals, exponent).get(language, 1.0)
    yield bucket, {word: (count, count * weight) for word, count in words.items()}


def _check_alphabet(char_counts: dict, params: VocabularyConfig) -> list[str]:
    if not char_counts:
        raise learner.VocabularyError(
            "empty corpus: the train split has no words (no text, or only white space and "
            "control characters)")
    seen = learner.alphabet_size(char_counts, params.min_char_count, params.max_characters,
                                 params.suffix_if_inner_only)
    if not seen:
        raise learner.VocabularyError(
            f"no character occurs min_char_count={params.min_char_count} times in the train split: "
            f"every word would be [UNK]; lower min_char_count or add text")
    reserved = len(learner.reserved_tokens(params.num_unused))
    if params.vocab_size < reserved + seen:
        raise learner.VocabularyError(
            f"vocab_size={params.vocab_size} is smaller than the alphabet ({seen} character "
            f"tokens) plus the reserved tokens ({reserved}); raise vocab_size or lower "
            f"max_characters={params.max_characters}")
    # Seeds take at most half of the room left, so learned subwords always keep the other half.
    room = (params.vocab_size - reserved - seen) // 2
    seeded = seeds.select_seeds(char_counts, params.seed_budget(), room)
    if seeded:
        logging.info("alphabet: %d seen character tokens, %d seeded characters (%s)", seen,
                     len(seeded), ", ".join(sorted({seeds.script_of(ch) for ch in seeded})))
    return learner.alphabet_tokens(char_counts, params.min_char_count, params.max_characters,
                                   seeds=seeded, suffix_if_inner_only=params.suffix_if_inner_only)


class _Prepared:
    """A token list as a set, its longest token and its prefix maps, built once per side input.

    Only the tokens travel between stages (pickled); the rest is rebuilt on first use.
    """

    def __init__(self, tokens: Iterable[str]):
        self.tokens = frozenset(tokens)
        self._derived = None

    def __getstate__(self):
        return {"tokens": self.tokens}

    def __setstate__(self, state):
        self.tokens = state["tokens"]
        self._derived = None

    def _derive(self):
        if self._derived is None:
            self._derived = (learner.max_piece_chars(self.tokens), token_prefixes(self.tokens))
        return self._derived

    @property
    def longest(self) -> int:
        return self._derive()[0]

    @property
    def prefixes(self) -> tuple[dict, dict]:
        return self._derive()[1]


def _round_candidates(element, vocab: Optional[_Prepared], alphabet: _Prepared, params: VocabularyConfig):
    """One word shard -> ((is_suffix, part), {maximal string: count}) for one learning round."""
    _, words = element
    initial, suffix = learner.count_candidates(
        ((w, c[1]) for w, c in words.items()), vocab.tokens if vocab is not None else None,
        alphabet.tokens, params.max_token_chars, max_bytes_per_word(params.max_chars_per_word),
        vocab.longest if vocab is not None else 1, vocab.prefixes if vocab is not None else None)
    # Parts by first character: all prefixes of a string share it, so each part's prefix
    # counting (prefix_levels) is independent and runs in parallel.
    for is_suffix, table in ((False, initial), (True, suffix)):
        parts: dict = collections.defaultdict(dict)
        for key, count in table.items():
            parts[zlib.crc32(key[0].encode("utf-8")) % params.num_shards][key] = count
        for part, maximal in parts.items():
            yield (is_suffix, part), maximal


def _select(levels_list: list, alphabet: list, params: VocabularyConfig, total_words: float,
            previous: Optional[_Prepared] = None) -> list[str]:
    table = learner.CandidateTable.from_levels(learner.merge_levels(levels_list))
    wanted = params.vocab_size - len(learner.reserved_tokens(params.num_unused)) - len(alphabet)
    savings = learner.piece_savings(table, previous.prefixes if previous is not None else None,
                                    params.savings_exponent)
    return learner.select_tokens(table, wanted, set(alphabet), params.min_count(total_words), savings)


def _measure_shard(element, vocab: _Prepared, params: VocabularyConfig):
    (language, _), words = element
    stats = learner.measure(words.items(), vocab.tokens, max_bytes_per_word(params.max_chars_per_word),
                            vocab.longest, vocab.prefixes)
    yield language, stats


def _sum_stats(stats: Iterable[learner.LanguageStats]) -> learner.LanguageStats:
    out = learner.LanguageStats()
    for s in stats:
        out.words += s.words
        out.unk += s.unk
        out.pieces += s.pieces
    return out


def _write_outputs(vocab: list, stats: dict, params: VocabularyConfig, output_dir: str,
                   stats_split: str) -> str:
    """Writes the three files of the Vocabulary artifact; returns the output dir."""
    languages = {lang: s.to_json() for lang, s in sorted(stats.items())}
    body = {"vocab_size": len(vocab), "requested_vocab_size": params.vocab_size,
            "stats_split": stats_split, "languages": languages}
    files.write_vocabulary(output_dir, vocab, tokenizer_settings(params, vocab), body)
    learner.log_summary(len(vocab), params.vocab_size)
    return output_dir


def learn_vocabulary(train, eval_lines, params: VocabularyConfig, output_dir: str,
                     stats_split: str = "eval"):
    """Adds the vocabulary steps to a pipeline.

    Args:
      train: PCollection of (language, text) to learn from.
      eval_lines: PCollection of (language, text) for vocab_stats.json (fertility, UNK rate);
        None to measure on `train`.
      params: the vocabulary parameters.
      output_dir: where vocab.txt, tokenizer.json and vocab_stats.json go (any tf.io.gfile path).
      stats_split: the split name recorded in vocab_stats.json.

    Returns:
      A PCollection holding the final token list (one element).
    """
    settings.check(params, "vocabulary")
    word_counts = train | "CountTrainWords" >> CountWords(params.lower_case, params.num_shards)
    totals = (word_counts
              | "LanguageWords" >> beam.Map(lambda kv: (kv[0][0], sum(kv[1].values())))
              | "SumLanguageWords" >> beam.CombinePerKey(sum))
    table = (word_counts
             | "Smooth" >> beam.FlatMap(_weighted_shard, totals=beam.pvalue.AsDict(totals),
                                        exponent=params.smoothing)
             | "WordTable" >> beam.CombinePerKey(_MergePairsFn()))
    alphabet = (table
                | "CountChars" >> beam.Map(lambda kv: learner.count_characters(kv[1].items()))
                | "SumChars" >> beam.CombineGlobally(_MergePairsListFn())
                | "Alphabet" >> beam.Map(_check_alphabet, params=params))
    total_side = beam.pvalue.AsSingleton(
        totals | "TotalWords" >> beam.Map(lambda kv: kv[1]) | "SumTotal" >> beam.CombineGlobally(sum))
    alphabet_side = beam.pvalue.AsSingleton(alphabet)
    alphabet_set = beam.pvalue.AsSingleton(alphabet | "AlphabetSet" >> beam.Map(_Prepared))
    vocab = None
    learned = None
    for r in range(params.num_rounds):
        vocab_side = beam.pvalue.AsSingleton(vocab) if vocab is not None else None
        candidates = (table
                      | f"Candidates{r}" >> beam.FlatMap(
                          _round_candidates, vocab=vocab_side, alphabet=alphabet_set, params=params)
                      | f"SumCandidates{r}" >> beam.CombinePerKey(_MergeCountsFn())
                      | f"Prefixes{r}" >> beam.Map(
                          lambda kv, total: learner.prefix_levels(
                              kv[1], params.max_token_chars, params.min_count(total), kv[0][0]),
                          total=total_side))
        learned = (candidates
                   | f"Gather{r}" >> beam.combiners.ToList()
                   | f"Select{r}" >> beam.Map(_select, alphabet=alphabet_side, params=params,
                                            total_words=total_side, previous=vocab_side))
        vocab = (learned
                 | f"Vocab{r}" >> beam.Map(lambda toks, alpha: _Prepared(list(alpha) + list(toks)),
                                           alpha=alphabet_side))
    final = (learned
             | "Assemble" >> beam.Map(
                 lambda toks, alpha: learner.assemble_vocab(
                     learner.reserved_tokens(params.num_unused), alpha, toks),
                 alpha=alphabet_side))
    eval_counts = (word_counts if eval_lines is None else
                   eval_lines | "CountEvalWords" >> CountWords(params.lower_case, params.num_shards))
    stats = (eval_counts
             | "Measure" >> beam.FlatMap(_measure_shard,
                                         vocab=beam.pvalue.AsSingleton(final | "FinalSet" >> beam.Map(_Prepared)),
                                         params=params)
             | "SumStats" >> beam.CombinePerKey(_sum_stats))
    _ = (final
         | "Write" >> beam.Map(_write_outputs, stats=beam.pvalue.AsDict(stats), params=params,
                               output_dir=output_dir,
                               stats_split=stats_split if eval_lines is not None else "train"))
    return final


class _MergePairsListFn(_DictSumFn):
    """Sums {char: [raw, weighted, inner]} dictionaries (character counts) element-wise."""

    def add_input(self, accumulator, element):
        for key, counts in element.items():
            old = accumulator.get(key)
            if old is None:
                accumulator[key] = list(counts)
            else:
                for i, value in enumerate(counts):
                    old[i] += value
        return accumulator


# ----------------------------------------------------------------------------- input adapters


def _example_to_pair(record: bytes):
    from tensorflow.core.example import example_pb2  # pylint: disable=g-import-not-at-top

    example = example_pb2.Example.FromString(record)
    feature = example.features.feature
    text = feature[contracts.TEXT].bytes_list.value
    language = feature[contracts.LANGUAGE].bytes_list.value
    if not text or not language:
        source = feature[contracts.SOURCE].bytes_list.value
        where = source[0].decode("utf-8", "replace") if source else "an example"
        raise learner.VocabularyError(f"{where}: tf.Example without a 'text' or 'language' feature")
    return language[0].decode("utf-8"), text[0].decode("utf-8")


def read_examples(pipeline, examples_uris: str | Sequence[str], split: str, label: str = ""):
    """(language, text) pairs from one split of ingested Examples artifacts."""
    uris = [examples_uris] if isinstance(examples_uris, str) else list(examples_uris)
    patterns = [FileSystems.join(contracts.split_dir(uri, split), "*") for uri in uris]
    return (pipeline
            | f"Patterns{split}{label}" >> beam.Create(patterns)
            | f"Read{split}{label}" >> beam.io.ReadAllFromTFRecord(
                coder=beam.coders.BytesCoder(),
                compression_type=beam.io.filesystem.CompressionTypes.AUTO)
            | f"Parse{split}{label}" >> beam.Map(_example_to_pair))


# Lines are read in blocks of about this many characters: one Beam element per line costs more
# in the runner than tokenising the line (the 8x NTREX set is 256k lines).
_BLOCK_CHARS = 1 << 16


def _read_text_file(path_and_language):
    """(language, block of lines) from one UTF-8 file; a bad line is named by file and number.

    Words never span a line break (white space), so counting words per block is counting them
    per line.
    """
    path, language = path_and_language
    block, size = [], 0
    with FileSystems.open(path) as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise learner.VocabularyError(f"{path}:{number}: not UTF-8 ({err.reason})") from err
            block.append(line)
            size += len(line)
            if size >= _BLOCK_CHARS:
                yield language, "".join(block)
                block, size = [], 0
    if block:
        yield language, "".join(block)


def read_text_files(pipeline, files_and_languages: list[tuple[str, str]], label: str = "Text"):
    """(language, text) pairs from plain UTF-8 files (one sentence a line), in blocks of lines."""
    return (pipeline
            | f"{label}Files" >> beam.Create(files_and_languages)
            | f"{label}Lines" >> beam.FlatMap(_read_text_file))
