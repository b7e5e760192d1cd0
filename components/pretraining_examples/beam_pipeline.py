"""The Beam graph behind PretrainingExampleGen: ingested Examples -> pretraining instances.

Per split (train, eval), independently:

1. read `<examples>/Split-<split>/data_tfrecord-*.gz` (ingested Examples) and group the sentences of
   each (language, doc_id) document, sorted by `sentence_index` (Beam keeps no order);
2. tokenize documents in batches with the shared tokenizer (`models.tokenizer`);
3. count documents and instances of one pass per language (each document cut once with its
   own seed; a small side input) and plan, per language, the number of shards and of passes
   (dupe_factor x smoothing multiplier, scaled to `target_instances` when set);
4. group documents by (language, shard), shard = md5(doc_id) mod shards: random next segments
   are drawn from the same shard, i.e. from another document of the same language, and a shard
   holds about `docs_per_shard` documents so that no worker has to hold a whole language (a
   group keeps one pass of its instances in memory at a time);
5. build the instances of each group pass by pass with `builder.iter_passes`, seeded by
   (seed, split, language, shard): the output is the same for the same seed, whatever the runner
   or the number of workers;
6. with `translation_fraction` > 0 (training split only): group sentences that share
   (doc_id, sentence_index) across languages (a parallel corpus: NTREX line, SIB-200
   index_id) and build translation pairs (XLM's TLM, `builder.translation_pairs`) so that
   they make that share of the split; with `parallel_sentences`, also write those aligned
   sentences themselves (`<output>/parallel/`, components/contracts.py), for the trainer's
   alignment loss;
7. write GZIP TFRecords of tf.Example (components/contracts.py), one set of files per language
   (`data_tfrecord-<language>-00000-of-00002.gz`, at most RECORDS_PER_FILE records each),
   every record at a random place: a file is a random sample of its language in random order
   (a record-level shuffle; `beam.Reshuffle` moved whole same-language chunks and left them in
   order on the DirectRunner). The trainer interleaves the languages at a fixed mix
   (components/pretraining/data.py), so every batch holds nearly every language. Then
   `<output>/counts.json`.

counts.json:
    {"splits": {"train": {"total": N, "by_language": {"de": n, ...},
                          "by_next_sentence_label": {"0": n0, "1": n1, "tlm": n2}},
                "eval": {...}},
     "by_language": {"de": n, ...},            # all splits together
     "plan": {"train": {"de": {"documents": d, "estimated_per_pass": e, "shards": s,
                               "passes": p}, ...}, "eval": {...}},
                                               # e: instances of one counted pass
                                               # p: passes after smoothing (and target)
     "params": {...}}
"""

from __future__ import annotations

import functools
import json
import math
import os
import random
from typing import Callable, NamedTuple, Optional, Sequence

import apache_beam as beam
import tensorflow as tf

from components import contracts as c
from components.contracts import split_pattern
from components.sampling import stable_bucket
from components.pretraining_examples import builder, layout

SPLITS = (c.TRAIN_SPLIT, c.EVAL_SPLIT)
CHUNK_SIZE = 256
COUNTS_FILE = layout.COUNTS_FILE
# A language's records are spread over ceil(records / RECORDS_PER_FILE) files.
RECORDS_PER_FILE = 20_000
FILE_PREFIX = layout.FILE_PREFIX
TokenizerLoader = Callable[[str], builder.TokenizerFn]
label_name = builder.label_name


class Chunk(NamedTuple):
    """Serialized instances travelling together (Beam's per-element cost is paid per chunk).

    chunk_id: a stable name (seed of the records' order in the written files).
    records: (language, serialized tf.Example) pairs.
    counts: {(language, label name): instances}.
    """

    chunk_id: str
    records: list
    counts: dict


def _feature_bytes(example: tf.train.Example, key: str, where: str) -> bytes:
    feature = example.features.feature.get(key)
    if feature is None or not feature.bytes_list.value:
        raise ValueError(f"{where}: record has no bytes feature {key!r}")
    return feature.bytes_list.value[0]


def parse_sentence(file_and_record: tuple[str, bytes]) -> tuple[tuple[str, str], tuple[int, str]]:
    """One ingested Examples record -> ((language, doc_id), (sentence_index, text)).

    Errors name the file and, when the record has one, its `source` (original file and line).
    """
    filename, record = file_and_record
    try:
        example = tf.train.Example.FromString(record)
    except Exception as e:  # The proto library raises DecodeError, a private class.
        raise ValueError(f"{filename}: record is not a tf.train.Example ({e})") from e
    source = example.features.feature.get(c.SOURCE)
    where = filename
    if source is not None and source.bytes_list.value:
        where = f"{filename} (source {source.bytes_list.value[0].decode('utf-8', 'replace')})"
    index_feature = example.features.feature.get(c.SENTENCE_INDEX)
    if index_feature is None or not index_feature.int64_list.value:
        raise ValueError(f"{where}: record has no int64 feature {c.SENTENCE_INDEX!r}")
    try:
        text = _feature_bytes(example, c.TEXT, where).decode("utf-8")
        language = _feature_bytes(example, c.LANGUAGE, where).decode("utf-8")
        doc_id = _feature_bytes(example, c.DOC_ID, where).decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{where}: feature is not valid UTF-8 ({e})") from e
    return (language, doc_id), (int(index_feature.int64_list.value[0]), text)


def assemble_document(keyed: tuple[tuple[str, str], Sequence[tuple[int, str]]]
                      ) -> tuple[str, str, list[str]]:
    """((language, doc_id), sentences in any order) -> (language, doc_id, texts in order)."""
    (language, doc_id), sentences = keyed
    ordered = sorted(sentences)
    return language, doc_id, [text for _, text in ordered]


class _TokenizingDoFn(beam.DoFn):
    """A DoFn holding the tokenizer, loaded once per worker in setup()."""

    def __init__(self, vocab_dir: str, tokenizer_loader: TokenizerLoader):
        self._vocab_dir = vocab_dir
        self._tokenizer_loader = tokenizer_loader
        self._tokenize = None

    def setup(self):
        # Once per worker: building the TF Text lookup table is the expensive part.
        self._tokenize = self._tokenizer_loader(self._vocab_dir)


class TokenizeDocuments(_TokenizingDoFn):
    """Batches of (language, doc_id, texts) -> (language, doc_id, token ids per sentence)."""

    def process(self, batch):
        documents = [builder.Document(doc_id, texts) for _, doc_id, texts in batch]
        tokenized = builder.tokenize_documents(documents, self._tokenize)
        for (language, doc_id, _), sentences in zip(batch, tokenized):
            if sentences:
                yield language, doc_id, sentences


def plan_languages(stats: dict, *, params: builder.InstanceParams, smoothing: float,
                   target_instances: int, docs_per_shard: int) -> dict:
    """{language: (documents, estimated instances per pass)} -> shards and passes per language."""
    sizes = {language: estimate for language, (_, estimate) in stats.items()}
    passes = builder.language_passes(sizes, dupe_factor=params.dupe_factor, smoothing=smoothing,
                                     target_instances=target_instances)
    return {language: {"documents": documents, "estimated_per_pass": estimate,
                       "shards": max(1, math.ceil(documents / docs_per_shard)),
                       "passes": passes[language]}
            for language, (documents, estimate) in sorted(stats.items())}


def shard_of(doc_id: str, shards: int) -> int:
    """A stable shard number (Python's hash() changes between processes)."""
    return stable_bucket(doc_id, shards)


def _estimate(document, params, seed, split):
    """(language, doc_id, sentences) -> (language, (1 document, instances of one pass))."""
    language, doc_id, sentences = document
    rng = random.Random(f"{seed}/{split}/estimate/{language}/{doc_id}")
    return language, (1, builder.estimate_instances(sentences, params, rng))


def _key_by_shard(document, plan):
    language, doc_id, sentences = document
    return (language, shard_of(doc_id, plan[language]["shards"])), (doc_id, sentences)


def _chunks(instances: Sequence[builder.Instance], chunk_id: str, chunk_size: int = CHUNK_SIZE):
    """Instances of one language -> Chunk tuples of at most `chunk_size` serialized records."""
    for start in range(0, len(instances), chunk_size):
        chunk = instances[start:start + chunk_size]
        counts: dict = {}
        for instance in chunk:
            key = (instance.language, label_name(instance.next_sentence_label))
            counts[key] = counts.get(key, 0) + 1
        yield Chunk(f"{chunk_id}/{start}",
                    [(i.language, instance_to_example(i)) for i in chunk], counts)


def _build_group(keyed, plan, params, seed, split):
    """One (language, shard) group -> Chunks of its MLM(+NSP) instances."""
    (language, shard), documents = keyed
    # Sorting makes the result independent of the order GroupByKey delivered the documents in.
    ordered = [sentences for _, sentences in sorted(documents)]
    rng = random.Random(f"{seed}/{split}/{language}/{shard}")
    # Pass by pass: a group holds at most one pass of its instances in memory.
    for number, instances in enumerate(builder.iter_passes(
            ordered, params, rng, language=language, passes=plan[language]["passes"])):
        yield from _chunks(instances, f"{language}/{shard}/{number}")


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int64 on the wire: two's complement, ten bytes
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


@functools.lru_cache(maxsize=1)
def _varint_table() -> list[bytes]:
    """Varints of 0 .. 2^14 - 1 (one or two bytes): most of any vocabulary's ids.

    Behind a cached function on purpose: Beam infers the output types of Map/FlatMap callables
    by reading the globals they reach, and walks every element of a global list (15 s here).
    """
    return [_varint(i) for i in range(1 << 14)]


# Tags of length-delimited fields 1, 2, 3 (field << 3 | wire type 2).
_FIELD_1, _FIELD_2, _FIELD_3 = b"\x0a", b"\x12", b"\x1a"


def _length_delimited(tag: bytes, payload: bytes) -> bytes:
    table = _varint_table()
    size = len(payload)
    return tag + (table[size] if size < len(table) else _varint(size)) + payload


def _int64_feature(values: Sequence[int]) -> bytes:
    table = _varint_table()
    if values and 0 <= min(values) and max(values) < len(table):
        packed = b"".join(map(table.__getitem__, values))
    else:
        packed = b"".join(map(_varint, values))
    # Feature.int64_list (3) -> Int64List.value (1, packed).
    return _length_delimited(_FIELD_3, _length_delimited(_FIELD_1, packed))


def _bytes_feature(value: bytes) -> bytes:
    # Feature.bytes_list (1) -> BytesList.value (1).
    return _length_delimited(_FIELD_1, _length_delimited(_FIELD_1, value))


def _entry(key: bytes, feature: bytes) -> bytes:
    # Features.feature (1) map entry: key (1), value (2).
    return _length_delimited(_FIELD_1, _length_delimited(_FIELD_1, key)
                             + _length_delimited(_FIELD_2, feature))


@functools.lru_cache(maxsize=None)
def _label_and_language(label: int, language: str, second_language: str) -> bytes:
    features = (_entry(c.NEXT_SENTENCE_LABEL.encode(), _int64_feature([label]))
                + _entry(c.LANGUAGE.encode(), _bytes_feature(language.encode("utf-8"))))
    if second_language:
        features += _entry(c.SECOND_LANGUAGE.encode(), _bytes_feature(second_language.encode("utf-8")))
    return features


def instance_to_example(instance: builder.Instance) -> bytes:
    """A pretraining instance (components/contracts.py) as a serialized tf.Example: token_ids / segment_ids int64 [seq_len],
    next_sentence_label int64 (-1 for a translation pair), language bytes, and
    second_language bytes in a translation pair.

    Encoded by hand (the wire format of tf.train.Example, ids are never negative): building
    the proto message costs ~6x more per instance than the bytes here, and
    tests/test_pretraining_examples_beam.py parses them back with the proto library.
    """
    features = (_entry(c.TOKEN_IDS.encode(), _int64_feature(instance.token_ids))
                + _entry(c.SEGMENT_IDS.encode(), _int64_feature(instance.segment_ids))
                + _label_and_language(instance.next_sentence_label, instance.language,
                                      instance.second_language))
    return _length_delimited(_FIELD_1, features)  # Example.features (1)


def _sum_pairs(pairs):
    documents = estimate = 0
    for d, e in pairs:
        documents += d
        estimate += e
    return documents, estimate


def _split_counts(label_counts) -> dict:
    by_language: dict[str, int] = {}
    by_label = {"0": 0, "1": 0, "tlm": 0}
    for (language, label), n in label_counts:
        by_language[language] = by_language.get(language, 0) + n
        by_label[label] += n
    return {"total": sum(by_language.values()), "by_language": dict(sorted(by_language.items())),
            "by_next_sentence_label": by_label}


def _write_counts(_, output_uri, params_json, parallel_count=None, **side):
    splits = {split: _split_counts(side[f"counts_{split}"]) for split in SPLITS}
    by_language: dict[str, int] = {}
    for split, counts in splits.items():
        for language, n in counts["by_language"].items():
            by_language[language] = by_language.get(language, 0) + n
        if counts["total"] == 0:
            # Readers expect every split to have a file; an empty one says "no instances".
            _write_records(os.path.join(c.split_dir(output_uri, split),
                                        f"{FILE_PREFIX}-00000-of-00001.gz"), [])
    summary = {"splits": splits, "by_language": dict(sorted(by_language.items())),
               "plan": {split: side[f"plan_{split}"] for split in SPLITS},
               "params": json.loads(params_json)}
    if parallel_count is not None:
        summary["parallel_sentences"] = parallel_count
    tf.io.gfile.makedirs(output_uri)
    with tf.io.gfile.GFile(os.path.join(output_uri, COUNTS_FILE), "w") as f:
        json.dump(summary, f, indent=2, sort_keys=True)


def _check_inputs(examples_uris: Sequence[str], split_names: Sequence[str]) -> None:
    for split in SPLITS:
        if split not in split_names:
            raise ValueError(f"{', '.join(examples_uris)}: Examples artifact has no {split!r} "
                             f"split (split_names={list(split_names)})")
        for uri in examples_uris:
            if not tf.io.gfile.glob(split_pattern(uri, split)):
                raise FileNotFoundError(f"{split_pattern(uri, split)}: no files for split "
                                        f"{split!r}")


# --- Writing: one set of files per language, records in random order -------------------------


def files_per_language(label_counts, records_per_file: int = RECORDS_PER_FILE) -> dict:
    """{language: number of files} from the split's [((language, label), n)] counts."""
    totals: dict[str, int] = {}
    for (language, _), n in label_counts:
        totals[language] = totals.get(language, 0) + n
    return {language: max(1, math.ceil(n / records_per_file)) for language, n in totals.items()}


def _route_records(chunk: Chunk, files: dict, seed: int, split: str):
    """Each record -> ((language, file index), (random key, record)).

    The key is drawn from an RNG named after the chunk, so file contents and order are a
    function of the seed and the data, whatever the runner delivers first.
    """
    rng = random.Random(f"{seed}/{split}/order/{chunk.chunk_id}")
    for language, record in chunk.records:
        key = rng.getrandbits(64)
        yield (language, key % files[language]), (key, record)


def _write_records(path: str, records: Sequence[bytes]) -> None:
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path, options=tf.io.TFRecordOptions(compression_type="GZIP")) as w:
        for record in records:
            w.write(record)


def _write_language_file(keyed, directory: str, files: dict) -> tuple[str, int]:
    """One (language, index) group -> one GZIP TFRecord file, records sorted by their key.

    Sorting by random keys shuffles at the record level: every file is a random sample of its
    language in random order, so the trainer can read languages side by side from the start.
    """
    (language, index), keyed_records = keyed
    records = [record for _, record in sorted(keyed_records)]
    _write_records(os.path.join(directory, layout.language_file_name(language, index,
                                                                        files[language])),
                   records)
    return language, len(records)


# --- Translation pairs (TLM) -----------------------------------------------------------------


def _key_by_sentence(parsed):
    """((language, doc_id), (index, text)) -> ((doc_id, index), (language, text)): the key
    that parallel corpora share across languages (NTREX line, SIB-200 index_id)."""
    (language, doc_id), (index, text) = parsed
    return (doc_id, index), (language, text)


class TokenizeTranslations(_TokenizingDoFn):
    """Batches of ((doc_id, index), [(language, text)]) -> ((doc_id, index), {language: ids})."""

    def process(self, batch):
        # sorted: one text per language, chosen the same way on every runner; the ids come back
        # in the order the texts went in.
        batch = [(key, sorted(translations)) for key, translations in batch]
        texts = [text for _, translations in batch for _, text in translations]
        ids = iter(self._tokenize(texts) if texts else [])
        for key, translations in batch:
            yield key, {language: list(next(ids)) for language, _ in translations}


def translation_passes(mlm_plan: dict, candidates: int, fraction: float) -> float:
    """Passes over the aligned sentences that make translation pairs `fraction` of the split.

    Args:
      mlm_plan: the split's plan (expected MLM instances = estimated_per_pass * passes).
      candidates: pairs one pass makes (one per language of every aligned sentence).
      fraction: wanted share of translation pairs among all instances, in [0, 1).
    """
    if fraction <= 0 or candidates == 0:
        return 0.0
    mlm = sum(entry["estimated_per_pass"] * entry["passes"] for entry in mlm_plan.values())
    return mlm * fraction / (1.0 - fraction) / candidates


def _build_translations(keyed, passes, params, seed, split):
    (doc_id, index), translations = keyed
    rng = random.Random(f"{seed}/{split}/tlm/{doc_id}/{index}")
    instances = builder.translation_pairs(translations, params, rng, passes=passes)
    yield from _chunks(instances, f"tlm/{doc_id}/{index}")


def _aligned_sentences(parsed, vocab_dir, loader, label):
    """Parsed sentences -> ((doc_id, index), {language: token ids}) of the sentences that two
    or more languages share."""
    return (parsed
            | label("KeyBySentence") >> beam.Map(_key_by_sentence)
            | label("GroupTranslations") >> beam.GroupByKey()
            | label("Parallel") >> beam.Filter(
                lambda kv: len({language for language, _ in kv[1]}) >= 2)
            | label("BatchTranslations") >> beam.BatchElements(min_batch_size=8,
                                                                max_batch_size=256)
            | label("TokenizeTranslations") >> beam.ParDo(TokenizeTranslations(vocab_dir, loader)))


def _translation_chunks(aligned, plan, params, seed, split, fraction, label):
    """Aligned sentences -> Chunks of translation pairs (a `fraction` of the split)."""
    candidates = (aligned
                  | label("PairsPerPass") >> beam.Map(
                      lambda kv: sum(1 for ids in kv[1].values() if ids))
                  | label("SumPairs") >> beam.CombineGlobally(sum))
    passes = (plan
              | label("TranslationPasses") >> beam.Map(
                  translation_passes, candidates=beam.pvalue.AsSingleton(candidates),
                  fraction=fraction))
    return aligned | label("BuildTranslations") >> beam.FlatMap(
        _build_translations, passes=beam.pvalue.AsSingleton(passes), params=params, seed=seed,
        split=split)


def build_pretraining_examples(pipeline: beam.Pipeline, *, examples_uri: str | Sequence[str],
                               split_names: Sequence[str], vocab_dir: str, output_uri: str,
                               params: builder.InstanceParams, smoothing: float = 0.7,
                               seed: int = 12345, target_instances: int = 0,
                               docs_per_shard: int = 1_000, translation_fraction: float = 0.0,
                               parallel_sentences: bool = False,
                               tokenizer_loader: Optional[TokenizerLoader] = None) -> None:
    """Adds the whole graph to `pipeline` (the caller runs it).

    Args:
      pipeline: a Beam pipeline (DirectRunner, Dataflow, Flink, ...).
      examples_uri: ingested Examples artifact root, or several read as one corpus.
      split_names: the splits they all have; needs "train" and "eval" (others, such as
        "test", are never read).
      vocab_dir: Vocabulary artifact root.
      output_uri: where Split-train/, Split-eval/ and counts.json go.
      params: cutting and packing; the special ids must be the vocabulary's.
      smoothing: language sampling exponent (0.7).
      seed: every random choice is a function of it and the data.
      target_instances: wanted training-split total (eval keeps its natural size scaled by the
        same factor); 0 keeps dupe_factor x the natural size.
      docs_per_shard: documents per group, about (the pool for random next segments).
      translation_fraction: share of translation pairs (XLM's TLM) in the training split, made
        from sentences that share (doc_id, sentence_index) across languages; 0 = none (M-BERT).
        The eval split stays monolingual, so held-out MLM figures stay comparable.
      parallel_sentences: also write the training split's aligned sentences (two or more
        languages) to `<output>/parallel/` (components/contracts.py), for the alignment loss.
      tokenizer_loader: vocab_dir -> tokenizer function; the shared tokenizer by default.
    """
    from components.pretraining_examples.tokenizers import load_tokenizer_fn

    examples_uris = [examples_uri] if isinstance(examples_uri, str) else list(examples_uri)
    _check_inputs(examples_uris, split_names)
    _check_settings(docs_per_shard, target_instances, translation_fraction)
    loader = tokenizer_loader or load_tokenizer_fn
    side = {}
    train_plan = None
    for split in SPLITS:
        with_split = lambda label: f"{label}[{split}]"  # noqa: E731 - unique Beam labels.
        parsed, documents = _read_documents(pipeline, examples_uris, split, vocab_dir, loader,
                                            with_split)
        # The eval split is sized like the train split: its target is the same share of its
        # natural size, so it mirrors the training distribution of languages.
        split_target = target_instances if split == "train" else 0
        plan = (
            documents
            | with_split("Estimate") >> beam.Map(_estimate, params=params, seed=seed,
                                                 split=split)
            | with_split("SumEstimates") >> beam.CombinePerKey(_sum_pairs)
            | with_split("StatsDict") >> beam.combiners.ToDict()
            | with_split("Plan") >> beam.Map(
                plan_languages, params=params, smoothing=smoothing,
                target_instances=split_target, docs_per_shard=docs_per_shard))
        if split == "train" and target_instances > 0:
            train_plan = plan
        elif split == "eval" and train_plan is not None:
            plan = plan | with_split("ScaleLikeTrain") >> beam.Map(
                _scale_like, train_plan=beam.pvalue.AsSingleton(train_plan),
                dupe_factor=params.dupe_factor, smoothing=smoothing)
        chunks = (
            documents
            | with_split("KeyByShard") >> beam.Map(_key_by_shard,
                                                   plan=beam.pvalue.AsSingleton(plan))
            | with_split("GroupShards") >> beam.GroupByKey()
            | with_split("Build") >> beam.FlatMap(_build_group, plan=beam.pvalue.AsSingleton(plan),
                                                  params=params, seed=seed, split=split))
        if split == "train" and (translation_fraction > 0 or parallel_sentences):
            aligned = _aligned_sentences(parsed, vocab_dir, loader, with_split)
            if translation_fraction > 0:
                translations = _translation_chunks(aligned, plan, params, seed, split,
                                                   translation_fraction, with_split)
                chunks = (chunks, translations) | with_split("AllChunks") >> beam.Flatten()
            if parallel_sentences:
                side["parallel_count"] = _write_parallel(aligned, output_uri, seed, with_split)
        side[f"counts_{split}"] = _write_split(pipeline, chunks, output_uri, split, seed, with_split)
        side[f"plan_{split}"] = beam.pvalue.AsSingleton(plan)
    params_json = json.dumps({
        **{key: getattr(params, key) for key in ("max_seq_length", "short_seq_prob", "dupe_factor",
                                                  "random_next_prob")},
        "smoothing": smoothing, "seed": seed, "target_instances": target_instances,
        "docs_per_shard": docs_per_shard, "translation_fraction": translation_fraction,
        "parallel_sentences": parallel_sentences,
        "cls_id": params.cls_id, "sep_id": params.sep_id, "pad_id": params.pad_id})
    _ = (pipeline
         | "CountsTrigger" >> beam.Create([None])
         | "WriteCounts" >> beam.Map(_write_counts, output_uri=output_uri,
                                     params_json=params_json, **side))


def _check_settings(docs_per_shard: int, target_instances: int, translation_fraction: float) -> None:
    if docs_per_shard < 2:
        raise ValueError(f"docs_per_shard: must be >= 2, got {docs_per_shard}")
    if target_instances < 0:
        raise ValueError(f"target_instances: must be >= 0, got {target_instances}")
    if not 0.0 <= translation_fraction < 1.0:
        raise ValueError(f"translation_fraction: must be in [0, 1), got {translation_fraction}")


def _read_documents(pipeline, examples_uris: list, split: str, vocab_dir: str, loader, with_split):
    """The split's sentences ((language, doc_id), (index, text)) and its tokenized documents."""
    parsed = (
        pipeline
        | with_split("Pattern") >> beam.Create([split_pattern(uri, split) for uri in examples_uris])
        | with_split("Read") >> beam.io.ReadAllFromTFRecord(
            compression_type=beam.io.filesystem.CompressionTypes.GZIP, with_filename=True)
        | with_split("Parse") >> beam.Map(parse_sentence))
    documents = (
        parsed
        | with_split("GroupSentences") >> beam.GroupByKey()
        | with_split("Assemble") >> beam.Map(assemble_document)
        | with_split("BatchDocuments") >> beam.BatchElements(min_batch_size=8, max_batch_size=256)
        | with_split("Tokenize") >> beam.ParDo(TokenizeDocuments(vocab_dir, loader)))
    return parsed, documents


def _write_split(pipeline, chunks, output_uri: str, split: str, seed: int, with_split):
    """Writes the split's instance chunks, one set of files per language, every record at a
    random place; returns the (language, label) counts as a side input."""
    label_counts = beam.pvalue.AsSingleton(
        chunks
        | with_split("ChunkCounts") >> beam.FlatMap(lambda chunk: chunk.counts.items())
        | with_split("SumCounts") >> beam.CombinePerKey(sum)
        | with_split("CountList") >> beam.combiners.ToList())
    files = (pipeline
             | with_split("FilesTrigger") >> beam.Create([None])
             | with_split("FilesPerLanguage") >> beam.Map(
                 lambda _, counts: files_per_language(counts), counts=label_counts))
    _ = (chunks
         | with_split("Route") >> beam.FlatMap(_route_records, files=beam.pvalue.AsSingleton(files),
                                               seed=seed, split=split)
         | with_split("GroupFiles") >> beam.GroupByKey()
         | with_split("Write") >> beam.Map(
             _write_language_file, directory=c.split_dir(output_uri, split),
             files=beam.pvalue.AsSingleton(files)))
    return label_counts


def parallel_example(translations: dict) -> bytes:
    """One aligned sentence ({language: token ids}) as a serialized tf.Example
    (components/contracts.py: token_ids, piece_counts, languages; languages sorted)."""
    languages = sorted(translations)
    feature = {
        c.TOKEN_IDS: tf.train.Feature(int64_list=tf.train.Int64List(
            value=[i for language in languages for i in translations[language]])),
        c.PIECE_COUNTS: tf.train.Feature(int64_list=tf.train.Int64List(
            value=[len(translations[language]) for language in languages])),
        c.LANGUAGES: tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[language.encode("utf-8") for language in languages])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _write_parallel(aligned, output_uri: str, seed: int, with_split):
    """Writes the aligned sentences (one GZIP TFRecord file, in a seeded random order: the
    trainer shuffles again) and returns their count as a side input (none written: no file)."""
    _ = (aligned
         | with_split("ParallelExamples") >> beam.Map(
             lambda kv: (None, (stable_bucket(f"{seed}/parallel/{kv[0]}", 2**31),
                                parallel_example(kv[1]))))
         | with_split("ParallelGroup") >> beam.GroupByKey()
         | with_split("ParallelWrite") >> beam.Map(
             _write_parallel_file, path=os.path.join(output_uri, c.PARALLEL_DIR,
                                                     f"{FILE_PREFIX}-00000-of-00001.gz")))
    return beam.pvalue.AsSingleton(aligned | with_split("ParallelCount") >> beam.combiners.Count.Globally())


def _write_parallel_file(keyed, path: str) -> None:
    _, records = keyed
    _write_records(path, [record for _, record in sorted(records)])


def _scale_like(plan: dict, train_plan: dict, dupe_factor: int, smoothing: float) -> dict:
    """Scales the eval passes by the factor target_instances applied to the train passes."""
    sizes = {language: entry["estimated_per_pass"] for language, entry in train_plan.items()}
    natural = builder.language_passes(sizes, dupe_factor=dupe_factor, smoothing=smoothing)
    factors = [entry["passes"] / natural[language] for language, entry in train_plan.items()
               if natural.get(language)]
    scale = factors[0] if factors else 1.0
    return {language: dict(entry, passes=entry["passes"] * scale)
            for language, entry in plan.items()}


def read_counts(output_uri: str) -> dict:
    """counts.json of a PretrainingExamples output."""
    with tf.io.gfile.GFile(os.path.join(output_uri, COUNTS_FILE), "r") as f:
        return json.load(f)


def read_instances(output_uri: str, split: str) -> list[dict]:
    """Reads pretraining instances back as dicts of Python values (tests, notes)."""
    files = sorted(tf.io.gfile.glob(split_pattern(output_uri, split)))
    if not files:
        raise FileNotFoundError(f"{split_pattern(output_uri, split)}: no files")
    rows = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator():
        feature = tf.train.Example.FromString(record).features.feature
        second = feature[c.SECOND_LANGUAGE].bytes_list.value if c.SECOND_LANGUAGE in feature else []
        rows.append({
            c.TOKEN_IDS: list(feature[c.TOKEN_IDS].int64_list.value),
            c.SEGMENT_IDS: list(feature[c.SEGMENT_IDS].int64_list.value),
            c.NEXT_SENTENCE_LABEL: feature[c.NEXT_SENTENCE_LABEL].int64_list.value[0],
            c.LANGUAGE: feature[c.LANGUAGE].bytes_list.value[0].decode("utf-8"),
            c.SECOND_LANGUAGE: second[0].decode("utf-8") if second else "",
        })
    return rows
