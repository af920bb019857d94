"""Typed settings from layers of plain values: the one loader of the agent's and the gateway's config.

Pure: callers read the files and pass their bytes, and pass the environment
as a dict. Each setting is a field of a frozen dataclass; its annotation
(resolved, not compared as a string) says how a TOML value, an environment
string or an override becomes its value:

    bool          true/false, or "1", "true", "yes", "on" / "0", "false", "no", "off", ""
    bool | None   the same, or None (unset: the field's property decides)
    int           an integer, or a string of digits (a sign allowed)
    float         a number, or a string that is one
    str           a string (or a path)
    tuple[str, ...]  a list of strings, or one string of comma-separated items

Anything else is refused with ``SettingsError`` naming the setting, so a
typo'd number never turns into 0 or a string; each loader turns it into its
own ``ConfigError``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10 (agents): the same parser, from PyPI
    import tomli as tomllib

from .errors import SettingsError

__all__ = ["SettingsError", "build", "coerce", "from_environment", "toml_table"]

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off", ""})
_INT = re.compile(r"[+-]?\d+")
_NAMES = {bool: "a bool", int: "an int", float: "a number", str: "a string", tuple: "a list of strings"}


def toml_table(data: bytes, table: str, source: str) -> dict:
    """The ``[table]`` of a TOML document (empty if absent); ``source`` names it in errors."""
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"cannot read {source}: {exc}") from exc
    value = doc.get(table, {})
    if not isinstance(value, dict):
        raise SettingsError(f"{source}: [{table}] must be a table")
    return value


def from_environment(cls, environ: typing.Mapping[str, str], prefix: str) -> dict:
    """``{field: text}`` for each field of ``cls`` set as ``<prefix><FIELD>`` in ``environ``."""
    return {f.name: environ[prefix + f.name.upper()] for f in dataclasses.fields(cls)
            if prefix + f.name.upper() in environ}


def build(cls, values: dict, *, what: str = "settings"):
    """An instance of ``cls`` from ``values`` (names to raw values), each coerced to its field's type.

    ``what`` names the settings in the error for unknown names ("unknown agent settings: ...").
    """
    hints = _hints(cls)
    unknown = set(values) - set(hints)
    if unknown:
        raise SettingsError(f"unknown {what}: {', '.join(sorted(unknown))}")
    return cls(**{name: coerce(name, value, hints[name]) for name, value in values.items()})


def coerce(name: str, value, kind):
    """``value`` as the type ``kind`` (see the module docstring), or ``SettingsError``."""
    optional = False
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        optional, kind = len(args) < len(typing.get_args(kind)), args[0] if len(args) == 1 else kind
        if optional and value is None:
            return None
    base = tuple if typing.get_origin(kind) is tuple else kind
    if base is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in TRUE | FALSE:
            return value.strip().lower() in TRUE
    elif base is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _INT.fullmatch(value.strip()):
            return int(value)
    elif base is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif base is str:
        if isinstance(value, str):
            return value
        if isinstance(value, os.PathLike):
            return os.fspath(value)
    elif base is tuple:
        if isinstance(value, str):
            return tuple(v for v in (p.strip() for p in value.split(",")) if v)
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return tuple(value)
    else:
        raise TypeError(f"setting {name!r}: no coercion to {kind!r}")
    wanted = _NAMES[base] + (" (or unset)" if optional else "")
    raise SettingsError(f"setting {name!r} must be {wanted}, not {value!r}")


def _hints(cls) -> dict:
    """Field name -> resolved annotation (``from __future__ import annotations`` leaves strings)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}
