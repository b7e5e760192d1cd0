"""Typed settings: the dataclass fields of each stage's config, their rules, and one checker.

Each stage owns one config dataclass (`components/<stage>/config.py`). The pipeline reads it
from its YAML section (pipeline/config.py), the component gets it as one JSON value and reads it
back with `from_json`: both go through `parse`, so a value is checked by one set of rules and a
problem reads the same wherever it is found, one line each, naming the key:
`pretraining.batch_size: expected int, got str ('32')`, `finetuning.learning_rate: must be <= 1.0,
got 3.0`, `unknown key vocabulary.vocab_sise (known keys under vocabulary: ...)`.

A field declared with `setting(..., set_by="...")` is filled by the pipeline from another
setting or a runner (e.g. pretraining's `seq_len` from `pretraining_examples.max_seq_length`):
it travels in the JSON but is not a key of the YAML section.
"""

from __future__ import annotations

import dataclasses
import json
import math
import operator
import re
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

# Integers without a tighter bound must fit an int32 (TensorFlow's default integer).
INT_MAX = 2**31 - 1
SEED_MAX = 2**32 - 1  # what numpy and TensorFlow take as a seed


class ConfigError(ValueError):
    """One or more configuration problems; each names its key (`problems`, one line each)."""

    def __init__(self, problems: str | Sequence[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


@dataclasses.dataclass(frozen=True)
class Rule:
    """What a setting's value may be: a range (inclusive `minimum`/`maximum`, exclusive
    `above`/`below`), one of `choices`, or what `check` accepts (it returns a problem or None).
    A list value is checked item by item."""

    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    below: float | None = None
    choices: tuple | None = None
    check: Callable[[Any], str | None] | None = None

    def problems(self, key: str, value: Any) -> list[str]:
        if isinstance(value, list):
            return [problem for i, item in enumerate(value) for problem in self.problems(f"{key}[{i}]", item)]
        problem = self._problem(value)
        return [f"{key}: {problem}"] if problem else []

    def _problem(self, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be a finite number, got {value}"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            maximum = self.maximum
            if maximum is None and self.below is None and isinstance(value, int):
                maximum = INT_MAX
            for bound, holds, words in ((self.minimum, operator.ge, ">="), (maximum, operator.le, "<="),
                                        (self.above, operator.gt, ">"), (self.below, operator.lt, "<")):
                if bound is not None and not holds(value, bound):
                    return f"must be {words} {bound}, got {value}"
        if self.choices is not None and value not in self.choices:
            return f"expected one of {', '.join(map(str, self.choices))}, got {value!r}"
        return self.check(value) if self.check is not None else None


def setting(default: Any = dataclasses.MISSING, *, default_factory: Any = dataclasses.MISSING,
            minimum: float | None = None, maximum: float | None = None, above: float | None = None,
            below: float | None = None, choices: Sequence | None = None,
            check: Callable[[Any], str | None] | None = None, set_by: str | None = None) -> Any:
    """A dataclass field with the rule its value must follow (see `Rule`); `set_by` names what
    fills a field that is not a YAML key (see the module docstring)."""
    rule = Rule(minimum, maximum, above, below, tuple(choices) if choices is not None else None, check)
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={"rule": rule, "set_by": set_by})


def folder_name(name: str) -> str | None:
    """Problem with a name that becomes a folder (a TF Serving model name), or None."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}", name):
        return f"{name!r} must be letters, digits, '_', '.' or '-' (it names a folder)"
    return None


def fraction(default: float) -> Any:
    return setting(default, minimum=0.0, maximum=1.0)


def learning_rate(default: float) -> Any:
    return setting(default, above=0.0, maximum=1.0)


def check_type(value: Any, annotation: Any, key: str, problems: list[str], from_yaml: bool) -> Any:
    """Returns value converted to annotation, or raises ConfigError naming key.

    Problems inside a nested section are added to `problems` (the section is still built, from
    its valid keys), so that one load reports every problem.
    """
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return check_type(value, inner, key, problems, from_yaml)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__}")
        (inner,) = typing.get_args(annotation)
        return [check_type(v, inner, f"{key}[{i}]", problems, from_yaml) for i, v in enumerate(value)]
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__}")
        return build(annotation, value, f"{key}.", problems, from_yaml)
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise ConfigError(f"{key}: number out of range: {value}") from None
    if annotation is bool and not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if annotation in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{key}: expected {annotation.__name__}, got {value!r}")
    if not isinstance(value, annotation):
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        raise ConfigError(f"{key}: expected {annotation.__name__}, got {type(value).__name__} ({shown})")
    return value


def build(cls: type[T], data: dict, prefix: str, problems: list[str], from_yaml: bool = True) -> T:
    """Builds cls from the keys of data that are known and of the right type; the others are
    added to problems (and left at their defaults). From YAML, `set_by` fields are not keys."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    names = {name for name, f in fields.items() if not (from_yaml and f.metadata.get("set_by"))}
    for key in sorted(set(data) - names, key=str):
        if key in fields:
            problems.append(f"{prefix}{key}: set by {fields[key].metadata['set_by']}, not a config key")
            continue
        problems.append(f"unknown key {prefix}{key} (known keys under "
                        f"{prefix.rstrip('.') or 'the top level'}: {', '.join(sorted(names))})")
    values = {}
    for key, value in data.items():
        if key in names:
            try:
                values[key] = check_type(value, hints[key], f"{prefix}{key}", problems, from_yaml)
            except ConfigError as e:
                problems.extend(e.problems)
    return cls(**values)


def rule_problems(section: Any, prefix: str = "") -> list[str]:
    """Every rule of every setting and every cross-key check (`_cross_problems`) of a section and
    the sections inside it, as one line per problem, each starting with its key."""
    problems = []
    for field in dataclasses.fields(section):
        value = getattr(section, field.name)
        key = f"{prefix}{field.name}"
        if dataclasses.is_dataclass(value):
            problems += rule_problems(value, f"{key}.")
        elif "rule" in field.metadata:
            problems += field.metadata["rule"].problems(key, value)
    if not problems and hasattr(section, "_cross_problems"):
        # Cross-key checks assume each key is valid on its own.
        problems += [f"{prefix}{key}: {message}" for key, message in section._cross_problems()]
    return problems


def parse(cls: type[T], data: dict | None, where: str, from_yaml: bool = False) -> T:
    """cls from a mapping, every key and rule checked; ConfigError lists every problem, each
    starting with `where.` (the YAML section's name)."""
    prefix = f"{where}." if where else ""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    problems: list[str] = []
    section = build(cls, data, prefix, problems, from_yaml)
    problems += rule_problems(section, prefix)
    if problems:
        raise ConfigError(problems)
    return section


def to_json(section: Any) -> str:
    """The one serialised value a component receives (keys sorted: a stable cache key)."""
    return json.dumps(dataclasses.asdict(section), sort_keys=True)


def from_json(cls: type[T], text: str, where: str) -> T:
    """Reads back `to_json`'s value, checked by the same rules as the YAML."""
    try:
        data = json.loads(text) if text else {}
    except json.JSONDecodeError as e:
        raise ConfigError(f"{where}: not a JSON object ({e.msg} at character {e.pos})") from e
    return parse(cls, data, where)


def check(section: Any, where: str) -> None:
    """ConfigError listing every rule a section built in code breaks (as `parse` would)."""
    problems = rule_problems(section, f"{where}." if where else "")
    if problems:
        raise ConfigError(problems)
