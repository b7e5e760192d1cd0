"""Pretraining instances from tokenized documents, the way BERT's create_pretraining_data did.

Plain Python, no Beam and no TensorFlow: the Beam pipeline (`beam_pipeline.py`) groups documents
by language and shard and calls `iter_passes` once per group (and `estimate_instances` once per
document to size the languages); tests call the functions here directly.

One instance is `[CLS] a [SEP] b [SEP]` + `[PAD]` up to `max_seq_length`, where `a` is one or
more consecutive sentences of a document and `b` is either the sentences that really follow
(`next_sentence_label` 0) or a run of sentences from a random *other document of the same
language* (label 1). Differences from google-research/bert, each on purpose:

- The shortened target length (`short_seq_prob`) is drawn again for every instance; BERT drew
  it once per document, so with long documents the share of short instances was not
  `short_seq_prob`.
- The random document is drawn uniformly among the *other* documents of the group (BERT tried
  10 times and could end on the same document).
- BERT paired every one-sentence chunk with a random document. When sentences are long next
  to `max_seq_length` (character-like tokens, CJK, long news sentences) most chunks hold one
  sentence and label 1 took 70% of the instances (measured on NTREX). Here a one-sentence
  chunk draws its label like any other; its real continuation is the document's next
  sentence(s), which the instance consumes. Only a document's lone last sentence must take a
  random next segment.
- A language with a single document has no "other document": every instance then uses the
  real continuation, and a lone last sentence is dropped.

Language smoothing (M-BERT, multilingual.md): with p_l the share of language l in the natural
data, instances are resampled so that language l's share becomes
q_l = p_l^s / sum_k p_k^s (s = `smoothing`, 0.7), p_l counted from one real pass over every
document (`estimate_instances`). The multiplier m_l = q_l / p_l scales the
number of passes over language l: `dupe_factor * m_l` passes, the whole part as full passes with
fresh randomness (small languages are up-sampled by *new* pairings, not copies) and the
fractional part as one more pass that keeps each instance with that probability (large
languages are down-sampled by dropping). sum_l m_l * n_l = sum_l n_l, so smoothing alone
keeps the expected total.
"""

from __future__ import annotations

import dataclasses
import math
import random
from typing import Callable, Iterable, Iterator, Mapping, NamedTuple, Optional, Sequence

from components.sampling import language_multipliers

# sentences: one document, each sentence a list of token ids.
TokenizedDocument = list[list[int]]
# A batch of strings -> one list of token ids per string.
TokenizerFn = Callable[[list[str]], list[list[int]]]


class Document(NamedTuple):
    """One document of raw text, sentences in document order."""

    doc_id: str
    sentences: list[str]


# next_sentence_label of a translation pair (TLM): no next-sentence target, the loss skips it.
TRANSLATION_LABEL = -1


class Instance(NamedTuple):
    """One packed pretraining instance (components/contracts.py).

    token_ids: `[CLS] a [SEP] b [SEP]` + `[PAD]`, length `max_seq_length`.
    segment_ids: 0 over `[CLS] a [SEP]` and the padding, 1 over `b [SEP]`.
    next_sentence_label: 0 when b really follows a, 1 when b comes from another document,
      TRANSLATION_LABEL (-1) when b is a translation of a (XLM's translation LM).
    language: the language of a (and of b, except in a translation pair).
    second_language: the language of b in a translation pair, else "".
    """

    token_ids: list[int]
    segment_ids: list[int]
    next_sentence_label: int
    language: str
    second_language: str = ""


@dataclasses.dataclass(frozen=True)
class InstanceParams:
    """How instances are cut and packed; the special ids come from the vocabulary."""

    max_seq_length: int = 128
    short_seq_prob: float = 0.1
    random_next_prob: float = 0.5
    dupe_factor: int = 10
    cls_id: int = 2
    sep_id: int = 3
    pad_id: int = 0

    def __post_init__(self):
        # [CLS] a [SEP] b [SEP] needs 3 special tokens and at least one token on each side.
        if self.max_seq_length < 5:
            raise ValueError(f"max_seq_length: must be >= 5, got {self.max_seq_length}")
        for name in ("short_seq_prob", "random_next_prob"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}: must be in [0, 1], got {value}")
        if self.dupe_factor < 1:
            raise ValueError(f"dupe_factor: must be >= 1, got {self.dupe_factor}")

    @property
    def max_num_tokens(self) -> int:
        """Room left for a and b once [CLS] and two [SEP] are in."""
        return self.max_seq_length - 3


def tokenize_documents(documents: Sequence[Document], tokenizer_fn: TokenizerFn
                       ) -> list[TokenizedDocument]:
    """Tokenizes every sentence of every document in one batched call.

    Sentences that tokenize to nothing are dropped (they cannot fill a segment); a document left
    without sentences stays as an empty list so indices still match `documents`.
    """
    flat = [sentence for document in documents for sentence in document.sentences]
    ids = tokenizer_fn(flat) if flat else []
    if len(ids) != len(flat):
        raise ValueError(f"tokenizer_fn returned {len(ids)} results for {len(flat)} sentences")
    tokenized, start = [], 0
    for document in documents:
        end = start + len(document.sentences)
        tokenized.append([list(sentence) for sentence in ids[start:end] if len(sentence)])
        start = end
    return tokenized


def truncate_seq_pair(tokens_a: list[int], tokens_b: list[int], max_num_tokens: int,
                      rng: random.Random) -> tuple[list[int], list[int]]:
    """Shortens the longer segment one token at a time until both fit in `max_num_tokens`.

    Each token comes off the front or the back with equal probability (as in BERT) so that the
    model does not learn that segments always start at a sentence start.
    """
    a_start, a_end, b_start, b_end = 0, len(tokens_a), 0, len(tokens_b)
    while (a_end - a_start) + (b_end - b_start) > max_num_tokens:
        if a_end - a_start > b_end - b_start:
            if rng.random() < 0.5:
                a_start += 1
            else:
                a_end -= 1
        else:
            if rng.random() < 0.5:
                b_start += 1
            else:
                b_end -= 1
    return tokens_a[a_start:a_end], tokens_b[b_start:b_end]


def pack_instance(tokens_a: Sequence[int], tokens_b: Sequence[int], is_random_next: bool,
                  language: str, params: InstanceParams) -> Instance:
    """`[CLS] a [SEP] b [SEP]` + padding, with segment ids; a and b must already fit."""
    length = len(tokens_a) + len(tokens_b) + 3
    if length > params.max_seq_length:
        raise ValueError(f"segments of {len(tokens_a)} + {len(tokens_b)} tokens do not fit in "
                         f"max_seq_length={params.max_seq_length}")
    padding = params.max_seq_length - length
    token_ids = ([params.cls_id, *tokens_a, params.sep_id, *tokens_b, params.sep_id]
                 + [params.pad_id] * padding)
    segment_ids = [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1) + [0] * padding
    return Instance(token_ids, segment_ids, int(is_random_next), language)


def _target_length(params: InstanceParams, rng: random.Random) -> int:
    # Mostly fill the sequence; sometimes train on short ones too, to narrow the gap between
    # pretraining and fine-tuning on short inputs.
    if rng.random() < params.short_seq_prob:
        return rng.randint(2, params.max_num_tokens)
    return params.max_num_tokens


def create_instances_from_document(documents: Sequence[TokenizedDocument], doc_index: int,
                                   params: InstanceParams, rng: random.Random,
                                   language: str = "") -> list[Instance]:
    """One pass over one document: chunks of consecutive sentences cut into (a, b) pairs.

    Args:
      documents: all tokenized documents of one language (the pool for random next segments).
      doc_index: which of them to cut.
      params: lengths, probabilities and special ids.
      rng: the only source of randomness (seeded by the caller per language/shard).
      language: copied into every instance.

    Returns:
      The instances, in document order.
    """
    document = documents[doc_index]
    others = len(documents) - 1
    instances: list[Instance] = []
    chunk: list[list[int]] = []
    chunk_length = 0
    target = _target_length(params, rng)
    i = 0
    while i < len(document):
        chunk.append(document[i])
        chunk_length += len(document[i])
        if i == len(document) - 1 or chunk_length >= target:
            # a takes the first a_end sentences of the chunk (at least one).
            a_end = rng.randint(1, len(chunk) - 1) if len(chunk) >= 2 else 1
            tokens_a = [t for sentence in chunk[:a_end] for t in sentence]
            lone = len(chunk) == 1
            random_next = rng.random() < params.random_next_prob
            if lone and i == len(document) - 1:
                random_next = True  # a lone last sentence has no real continuation
            if random_next and others == 0:
                # No other document to draw from: keep the real continuation if there is one.
                if lone and i == len(document) - 1:
                    chunk, chunk_length = [], 0
                    target = _target_length(params, rng)
                    i += 1
                    continue
                random_next = False
            tokens_b: list[int] = []
            if random_next:
                pick = rng.randrange(others)
                other = documents[pick + 1 if pick >= doc_index else pick]
                start = rng.randrange(len(other))
                target_b = target - len(tokens_a)
                for sentence in other[start:]:
                    tokens_b.extend(sentence)
                    if len(tokens_b) >= target_b:
                        break
                # The sentences of the chunk that b did not use are not lost: cut them again.
                i -= len(chunk) - a_end
            elif lone:
                # One sentence filled the chunk: its real continuation is the document's next
                # sentence(s), which this instance consumes.
                target_b = target - len(tokens_a)
                while i + 1 < len(document):
                    i += 1
                    tokens_b.extend(document[i])
                    if len(tokens_b) >= target_b:
                        break
            else:
                tokens_b = [t for sentence in chunk[a_end:] for t in sentence]
            tokens_a, tokens_b = truncate_seq_pair(tokens_a, tokens_b, params.max_num_tokens, rng)
            if tokens_a and tokens_b:
                instances.append(pack_instance(tokens_a, tokens_b, random_next, language, params))
            chunk, chunk_length = [], 0
            target = _target_length(params, rng)
        i += 1
    return instances


def iter_passes(documents: Sequence[TokenizedDocument], params: InstanceParams,
                rng: random.Random, *, language: str = "",
                passes: Optional[float] = None) -> Iterator[list[Instance]]:
    """The instances of one pass at a time, each pass shuffled (bounded memory for Beam).

    Args:
      documents: tokenized documents; empty ones are skipped (and never drawn as "other").
      params: see InstanceParams.
      rng: seeded by the caller; the result is a function of it and the inputs.
      language: copied into every instance.
      passes: how many passes; `params.dupe_factor` when None. The fractional part is one more
        pass that keeps each instance with that probability (down-sampling).

    Yields:
      One list of instances per pass, in random order.
    """
    documents = [d for d in documents if d]
    passes = float(params.dupe_factor) if passes is None else float(passes)
    if passes < 0:
        raise ValueError(f"passes: must be >= 0, got {passes}")
    whole = math.floor(passes)
    fraction = passes - whole
    for pass_index in range(math.ceil(passes)):
        keep = 1.0 if pass_index < whole else fraction
        instances: list[Instance] = []
        for doc_index in range(len(documents)):
            for instance in create_instances_from_document(documents, doc_index, params, rng,
                                                           language):
                if keep >= 1.0 or rng.random() < keep:
                    instances.append(instance)
        rng.shuffle(instances)
        yield instances


def build_instances_from_tokens(documents: Sequence[TokenizedDocument], params: InstanceParams,
                                rng: random.Random, *, language: str = "",
                                passes: Optional[float] = None) -> list[Instance]:
    """All passes over the documents of one language (or one shard of it) as one list.

    Same arguments as `iter_passes`; the instances come pass after pass, each pass shuffled.
    """
    return [instance for one_pass in iter_passes(documents, params, rng, language=language,
                                                 passes=passes) for instance in one_pass]


def build_instances_for_language(documents: Sequence[Document], tokenizer_fn: TokenizerFn,
                                 params: InstanceParams, rng: random.Random, *,
                                 language: str = "", passes: Optional[float] = None
                                 ) -> list[Instance]:
    """Tokenizes the documents of one language and builds their instances.

    Args:
      documents: the language's documents, sentences in order.
      tokenizer_fn: a batch of strings -> token ids per string (the shared WordPiece tokenizer).
      params: see InstanceParams.
      rng: seeded by the caller.
      language: copied into every instance.
      passes: see build_instances_from_tokens.
    """
    return build_instances_from_tokens(tokenize_documents(documents, tokenizer_fn), params, rng,
                                       language=language, passes=passes)


def translation_pairs(translations: Mapping[str, list[int]], params: InstanceParams,
                      rng: random.Random, *, passes: float) -> list[Instance]:
    """XLM's translation-LM instances from one sentence and its translations.

    Each pass pairs every language of the sentence with another one drawn uniformly:
    `[CLS] sentence [SEP] translation [SEP]`, truncated like any pair, next_sentence_label
    TRANSLATION_LABEL. The model sees the two languages side by side, so a masked word can be
    predicted from its translation (positions restart at the translation: see
    components/pretraining/masking.py `position_ids`). As in `iter_passes`, the fractional part of `passes` is
    one more pass that keeps each instance with that probability.

    Args:
      translations: {language: token ids} of one aligned sentence; fewer than two non-empty
        languages give nothing.
      params: lengths and special ids.
      rng: seeded by the caller per sentence.
      passes: how many times each language leads a pair (>= 0).
    """
    languages = sorted(language for language, ids in translations.items() if ids)
    if len(languages) < 2:
        return []
    whole = math.floor(passes)
    instances = []
    for pass_index in range(math.ceil(passes)):
        keep = 1.0 if pass_index < whole else passes - whole
        for language in languages:
            pick = rng.randrange(len(languages) - 1)
            other = languages[pick + 1 if pick >= languages.index(language) else pick]
            if keep < 1.0 and rng.random() >= keep:
                continue
            tokens_a, tokens_b = truncate_seq_pair(list(translations[language]),
                                                   list(translations[other]),
                                                   params.max_num_tokens, rng)
            instance = pack_instance(tokens_a, tokens_b, False, language, params)
            instances.append(instance._replace(next_sentence_label=TRANSLATION_LABEL,
                                               second_language=other))
    return instances


def estimate_instances(document: TokenizedDocument, params: InstanceParams,
                       rng: random.Random) -> int:
    """How many instances one pass cuts from a document: the real cutting, run once.

    The count does not depend on which other document supplies a random next segment, so a
    one-token stand-in plays all of them. Summed over a language's documents this is the
    size measure of language smoothing and of `target_instances` (a tokens / max_seq_length
    guess was 20-50% off on NTREX: documents end in part-filled instances, and random next
    segments give back their unused sentences).
    """
    if not document:
        return 0
    stand_in = [[params.pad_id]]
    return len(create_instances_from_document([document, stand_in], 0, params, rng))


def language_passes(sizes: Mapping[str, float], *, dupe_factor: int, smoothing: float,
                    target_instances: int = 0) -> dict[str, float]:
    """Passes per language: dupe_factor * m_l, scaled to `target_instances` when it is > 0.

    Args:
      sizes: estimated instances per pass for each language.
      dupe_factor: passes of the natural (unsmoothed) data.
      smoothing: exponent, see language_multipliers.
      target_instances: wanted total (expected, from the estimates); 0 keeps the natural total
        dupe_factor * sum(sizes).
    """
    multipliers = language_multipliers(sizes, smoothing)
    passes = {language: dupe_factor * m for language, m in multipliers.items()}
    if target_instances > 0:
        expected = sum(passes[language] * sizes[language] for language in sizes)
        if expected > 0:
            scale = target_instances / expected
            passes = {language: p * scale for language, p in passes.items()}
    return passes


def count_instances(instances: Iterable[Instance]) -> dict:
    """Totals by language and by next-sentence label (the shape of one split in counts.json)."""
    by_language: dict[str, int] = {}
    by_label = {"0": 0, "1": 0, "tlm": 0}
    total = 0
    for instance in instances:
        total += 1
        by_language[instance.language] = by_language.get(instance.language, 0) + 1
        by_label[label_name(instance.next_sentence_label)] += 1
    return {"total": total, "by_language": dict(sorted(by_language.items())),
            "by_next_sentence_label": by_label}


def label_name(next_sentence_label: int) -> str:
    """The key of a label in counts.json: "0", "1", or "tlm" for a translation pair."""
    return "tlm" if next_sentence_label == TRANSLATION_LABEL else str(next_sentence_label)
