"""Plain data (parsed YAML, ``--set`` values) into typed dataclasses, every key and value
checked, with errors that name the path, the value and the expected type. The one reader
that recipes and schedules share."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from typing import Any, Literal, Union

from ..errors import ConfigError, closest


class _Mismatch(Exception):
    """A value that does not fit a type; turned into a ConfigError naming the key."""


def _type_name(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return "any value"
    if tp is type(None):
        return "null"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if is_dataclass(tp):
        return f"a mapping of {tp.__name__} keys"
    if origin is list:
        return f"a list of {_type_name(args[0])}"
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_type_name(args[0])}"
        return f"a list of {len(args)} ({', '.join(_type_name(a) for a in args)})"
    if origin is dict:
        return f"a mapping of {_type_name(args[0])} to {_type_name(args[1])}"
    return getattr(tp, "__name__", str(tp))


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _convert(value: Any, tp: Any, path: str) -> Any:
    """``value`` as type ``tp``, or :class:`_Mismatch`."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if tp is type(None):
        if value is None:
            return None
        raise _Mismatch
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, path)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin is Literal:
        for a in args:
            if type(a) is type(value) and a == value:
                return value
        # "10" from a command line for an int literal
        if isinstance(value, str):
            for a in args:
                if str(a) == value:
                    return a
        raise _Mismatch
    if is_dataclass(tp):
        if isinstance(tp, type) and isinstance(value, tp):
            return value
        if isinstance(value, Mapping):
            return from_mapping(tp, value, path)
        raise _Mismatch
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            return int(value)  # 64000.0 or 6.4e4 from YAML
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise _Mismatch from None
        raise _Mismatch
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            # PyYAML (YAML 1.1) reads 1e-3 as a string: it wants a dot, 1.0e-3.
            try:
                return float(value)
            except ValueError:
                raise _Mismatch from None
        raise _Mismatch
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    if origin is list:
        if isinstance(value, (list, tuple)):
            return [_convert_item(v, args[0], f"{path}[{i}]") for i, v in enumerate(value)]
        raise _Mismatch
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert_item(v, args[0], f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise _Mismatch
        return tuple(_convert_item(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise _Mismatch
        kt, vt = args
        return {
            _convert_item(k, kt, f"{path} key {k!r}"): _convert_item(v, vt, f"{path}.{k}") for k, v in value.items()
        }
    raise ConfigError(f"{path}: cnnlab cannot read values of type {tp!r}")  # a bug in a dataclass, not in a recipe


def _convert_item(value: Any, tp: Any, path: str) -> Any:
    try:
        return _convert(value, tp, path)
    except _Mismatch:
        raise ConfigError(_ill_typed(path, value, tp)) from None


def _ill_typed(path: str, value: Any, tp: Any) -> str:
    choices = _literal_choices(tp)
    if isinstance(value, str) and choices and all(isinstance(c, str) for c in choices):
        near = closest(value, choices, n=1, cutoff=0.0)
        return (
            f"{path}={value!r}: unknown value; did you mean {near[0]!r}? "
            f"{path} takes one of {', '.join(repr(c) for c in choices)}"
        )
    return f"{path}={value!r} has the wrong type: {path} takes {_type_name(tp)}"


def _literal_choices(tp: Any) -> tuple[Any, ...]:
    """The values of a ``Literal`` (also inside ``Optional``); empty for other types."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        return typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return tuple(c for arg in typing.get_args(tp) for c in _literal_choices(arg))
    return ()


def _valid_keys(cls: type, prefix: str) -> list[str]:
    return [f"{prefix}.{f.name}" if prefix else f.name for f in fields(cls)]


def _unknown_key(key: str, cls: type, prefix: str) -> ConfigError:
    valid = _valid_keys(cls, prefix)
    full = f"{prefix}.{key}" if prefix else key
    close = difflib.get_close_matches(full, valid, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    where = f"under {prefix}" if prefix else "at the top of a recipe"
    return ConfigError(f"unknown key {full!r}{hint}; valid keys {where}: {', '.join(valid)}")


def from_mapping(cls: type, mapping: Mapping[str, Any], path: str = "") -> Any:
    """An instance of dataclass ``cls`` from plain data, every key and value checked."""
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"{path or cls.__name__} must be a mapping of {cls.__name__} keys, got {mapping!r}")
    hints = _hints(cls)
    names = {f.name for f in fields(cls)}
    kwargs = {}
    for key, value in mapping.items():
        if not isinstance(key, str) or key not in names:
            raise _unknown_key(str(key), cls, path)
        sub = f"{path}.{key}" if path else key
        kwargs[key] = _convert_item(value, hints[key], sub)
    missing = [
        f.name
        for f in fields(cls)
        if f.name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        full = [f"{path}.{m}" if path else m for m in missing]
        raise ConfigError(f"{path or cls.__name__} is missing required key(s): {', '.join(full)}")
    return cls(**kwargs)
