"""Typed, frozen trainer configs built from YAML/JSON files and CLI flags.

Each trainer has one frozen dataclass; `build_config` turns a plain mapping into it, refusing
unknown keys and wrong types with a message that names the key and where it came from.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import numbers
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, Mapping, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from faceauth.io.errors import FaceauthError

C = TypeVar("C")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Fields every trainer shares. A task's config subclasses this and adds its own."""

    seed: int = 42
    epochs: int = 50
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    augment_strength: float = 0.0
    # Stop when the validation metric has not improved for this many epochs (0: never).
    patience: int = 10
    # Cap on optimiser steps per epoch (0: the whole training split); smoke tests set it small.
    max_steps_per_epoch: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # Mixed precision for training's forward pass (faceauth/training/fit.py Precision): off, bf16 (autocast), or
    # fp16 (autocast and a GradScaler). For GPUs: bf16 on Ampere and newer, fp16 on older ones; it runs
    # on CPU too, seldom faster there. true/false (the older form) mean bf16/off.
    amp: Union[Literal["off", "bf16", "fp16"], bool] = "off"
    log_dir: str = "logs/experiments"

    def __post_init__(self) -> None:
        if isinstance(self.amp, bool):
            object.__setattr__(self, "amp", "bf16" if self.amp else "off")
        check(self.epochs >= 1, "epochs", "must be at least 1")
        check(self.batch_size >= 2, "batch_size", "must be at least 2")
        check(self.lr > 0, "lr", "must be positive")
        check(self.weight_decay >= 0, "weight_decay", "must be >= 0")
        check(0.0 <= self.augment_strength <= 1.0, "augment_strength", "must lie in [0, 1]")
        check(self.patience >= 0, "patience", "must be >= 0")
        check(self.max_steps_per_epoch >= 0, "max_steps_per_epoch", "must be >= 0")
        for key in ("seed", "data_seed"):  # data_seed: the tasks that split or generate data
            value = getattr(self, key, 0)
            check(0 <= value < 2**32, key, "must lie in 0..2**32-1 (numpy's generators refuse a negative seed)")


def check(ok: bool, key: str, message: str) -> None:
    """Validation helper for `__post_init__`: raise naming the key."""
    if not ok:
        raise FaceauthError(f"config key '{key}' {message}")


def config_keys(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def build_config(cls: type[C], values: Mapping[str, Any], source: str = "config") -> C:
    """Build `cls` from `values`, coercing lists to tuples and ints to floats, and nothing looser."""
    hints = get_type_hints(cls)
    known = config_keys(cls)
    unknown = [k for k in values if k not in known]
    if unknown:
        hints_text = "; ".join(_unknown_key_hint(k, known) for k in unknown)
        raise FaceauthError(f"{source}: {hints_text}. Valid keys for {cls.__name__}: {', '.join(known)}")
    coerced = {key: coerce(value, hints[key], f"{source}: key '{key}'") for key, value in values.items()}
    try:
        return cls(**coerced)
    except FaceauthError as err:
        raise FaceauthError(f"{source}: {err}") from None


def _unknown_key_hint(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f"unknown key '{key}'" + (f" (did you mean '{close[0]}'?)" if close else "")


def coerce(value: Any, hint: Any, where: str) -> Any:
    """Check `value` against a type hint; return it in the hinted type or raise naming `where`."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return coerce(value, arg, where)
            except FaceauthError:
                continue
        raise FaceauthError(f"{where} must be {_describe(hint)}, got {value!r}")
    if origin is Literal:
        if value not in args:
            raise FaceauthError(f"{where} must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise FaceauthError(f"{where} must be a list, got {value!r}")
        item_hint = args[0]
        return tuple(coerce(v, item_hint, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise FaceauthError(f"{where} must be a mapping, got {value!r}")
        return dict(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if _is_int(value):
            return int(value)
    elif hint is float:
        if _is_int(value) or _is_float(value):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif hint is typing.Any:
        return value
    raise FaceauthError(f"{where} must be {_describe(hint)}, got {value!r} ({type(value).__name__})")


def _is_int(value: Any) -> bool:
    # numpy integers come from search spaces; bool is an int subclass but never a valid int here.
    return not isinstance(value, bool) and hasattr(value, "__index__")


def _is_float(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Real)


def _describe(hint: Any) -> str:
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is tuple:
        return f"a list of {_describe(args[0])}"
    if origin is Literal:
        return "one of " + ", ".join(map(repr, args))
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        hint, "null" if hint is type(None) else getattr(hint, "__name__", str(hint))
    )


def one_line(err: BaseException) -> str:
    """A parser's multi-line message (YAML marks the spot with a caret) as one line."""
    return " ".join(line.strip() for line in str(err).splitlines() if line.strip() and line.strip() != "^")


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error: PyYAML keeps the
    last silently, so a value the user set earlier in the file would be ignored without a word."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:  # an unhashable key: the base loader names it
                break
            if first != key_node.start_mark.line + 1:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' appears twice (lines {first} and {key_node.start_mark.line + 1}); keep one",
                    key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


class _DuplicateKey(ValueError):
    pass


def _unique_json_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise _DuplicateKey(f"key '{twice[0]}' appears twice in one object; keep one")
    return dict(pairs)


# YAML 1.2 floats: PyYAML (YAML 1.1) reads `lr: 1e-3` as the string "1e-3", which then fails as "not a number".
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def read_yaml_file(path: Path, what: str, missing: str, fix: str) -> Any:
    """The parsed YAML (JSON for a .json file) of a file the user names. `what` begins every error
    ("config file x.yaml"), `missing` is the whole error for a missing file, `fix` ends the others."""
    if not path.is_file():
        raise FaceauthError(missing)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise FaceauthError(f"{what} is not text (not UTF-8); {fix}") from None
    except OSError as err:
        raise FaceauthError(f"{what} cannot be read ({err.strerror})") from None
    try:
        if path.suffix == ".json":
            return json.loads(text, object_pairs_hook=_unique_json_keys)
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except (yaml.YAMLError, json.JSONDecodeError, _DuplicateKey) as err:
        raise FaceauthError(f"{what} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: "
                            f"{one_line(err)}") from None


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON config file into a dict; errors name the file and the line."""
    path = Path(path)
    raw = read_yaml_file(path, f"config file {path}",
                         f"config file {path} does not exist; pass an existing YAML or JSON file to --config",
                         "pass a YAML or JSON file to --config")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise FaceauthError(f"config file {path} must hold a mapping of keys to values, not {type(raw).__name__}")
    return raw


def select_task_values(raw: Mapping[str, Any], task: str, task_names: list[str], source: str) -> dict[str, Any]:
    """A shared config file has common keys at the top and one optional section per task.

    The section named after `task` overrides the common keys; other tasks' sections are ignored.
    A top-level `task:` key (written into a search's best config) must match.
    """
    if "task" in raw and raw["task"] != task:
        raise FaceauthError(f"{source}: this config is for task '{raw['task']}', not '{task}'")
    values = {k: v for k, v in raw.items() if k != "task" and k not in task_names}
    section = raw.get(task) or {}
    if not isinstance(section, dict):
        raise FaceauthError(f"{source}: section '{task}' must be a mapping of keys to values")
    values.update(section)
    return values


def to_dict(config: Any) -> dict[str, Any]:
    """A config as plain data (tuples become lists) for YAML, JSON and Ray."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


def add_config_flags(parser: Any, cls: type, flags: Mapping[str, Mapping[str, Any]]) -> None:
    """One command-line flag per named field of the config dataclass `cls`, in the order of `flags`.

    The field decides the flag: `--name` and `--name-with-dashes`, its type (int, float, text), its
    choices (a Literal), a bool default False as a switch, a bool default True as `--no_name`. The
    mapping adds argparse settings (help, metavar, type, choices, "flag" for another name, "action").
    A flag not given is left out of the parsed values (SUPPRESS), so the config file's value stands."""
    import argparse

    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = get_type_hints(cls)
    for name, extra in flags.items():
        if name not in fields:
            raise ValueError(f"{cls.__name__} has no field '{name}' for a flag")
        extra = dict(extra)
        hint = hints[name]
        if get_origin(hint) in (Union, types.UnionType):
            hint = next(a for a in get_args(hint) if a is not type(None))
        base = extra.pop("flag", name)
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS}
        if hint is bool:
            if fields[name].default is True:
                base, kwargs["action"] = f"no_{base}", "store_false"
            else:
                kwargs["action"] = "store_true"
        elif get_origin(hint) is Literal:
            choices = get_args(hint)
            kwargs["choices"] = sorted(choices) if all(isinstance(c, int) for c in choices) else choices
            if all(isinstance(c, int) for c in choices):
                kwargs["type"] = int
        elif hint in (int, float):
            kwargs["type"] = hint
        kwargs.update(extra)
        names = dict.fromkeys((f"--{base}", f"--{base.replace('_', '-')}"))
        parser.add_argument(*names, **kwargs)
