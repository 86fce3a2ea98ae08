"""Typed configuration: defaults, then a TOML file, then LURKCOIN_<SECTION>_<KEY> variables.

Every key is a field of one of the section dataclasses below, and
config.example.toml documents each of them (a test checks both directions).
An unknown key is an error that names it, so a typo never silently falls back
to a default. Command-line flags (``lurkcoin serve --port``) are applied last,
by the CLI.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import tomllib
import typing
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

from lurkcoin.core.money import MAX_SPEND, AmountError, parse_amount

ENV_PREFIX = "LURKCOIN_"
# Names the config file; it is not itself a setting.
CONFIG_FILE_VARIABLE = "LURKCOIN_CONFIG"
DEFAULT_CONFIG_FILE = "lurkcoin.toml"

T = TypeVar("T")


class ConfigError(Exception):
    """A configuration problem, worded for the operator."""


def _setting(default: T, **rules: Any) -> T:
    """A field with rules for its value: choices, low/high (ints), positive, money."""
    return field(default=default, metadata=rules)  # type: ignore[no-any-return]


@dataclass
class ServerSection:
    host: str = "127.0.0.1"
    port: int = _setting(5000, low=0, high=65535)
    name: str = "lurkcoin"


@dataclass
class DatabaseSection:
    path: str = "lurkcoin.db"
    synchronous: str = _setting("FULL", choices=("FULL", "EXTRA", "NORMAL"))
    # Most operations the single writer commits together in one transaction.
    max_batch: int = _setting(512, low=1)


@dataclass
class ExchangeSection:
    formula: str = _setting("integral", choices=("integral", "reference"))
    # Written in lurkcoins, held in cents.
    max_spend: int = _setting(MAX_SPEND, money=True, positive=True)


@dataclass
class WebhooksSection:
    allow_private_addresses: bool = False
    timeout: float = _setting(5.0, positive=True)
    concurrency: int = _setting(16, low=1)
    retry_cap: float = _setting(600.0, positive=True)
    give_up_after: float = _setting(86400.0, positive=True)


@dataclass
class Config:
    server: ServerSection = field(default_factory=ServerSection)
    database: DatabaseSection = field(default_factory=DatabaseSection)
    exchange: ExchangeSection = field(default_factory=ExchangeSection)
    webhooks: WebhooksSection = field(default_factory=WebhooksSection)


def _sections(config: Config) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


def _unknown(kind: str, name: str, known: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"unknown {kind} {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")


# Converters from a TOML value (already typed) or an environment variable (text).
# Each raises ValueError saying what it expected.

def _to_bool(value: Any, from_env: bool) -> bool:
    if from_env:
        value = _ENV_BOOLS.get(value.strip().lower(), value)
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


_ENV_BOOLS = {"true": True, "yes": True, "on": True, "1": True,
              "false": False, "no": False, "off": False, "0": False}


def _to_int(value: Any, from_env: bool) -> int:
    if from_env and value.strip().isascii():
        try:
            value = int(value.strip())
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("expected a whole number")
    return value


def _to_float(value: Any, from_env: bool) -> float:
    if from_env:
        try:
            value = Decimal(value.strip())
        except InvalidOperation:
            pass
    # TOML floats arrive as Decimal (parse_float); nan and inf are refused.
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)) or (
            isinstance(value, Decimal) and not value.is_finite()):
        raise ValueError("expected a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("expected a number of a sensible size")
    return number


def _to_str(value: Any, from_env: bool) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    if not value:
        raise ValueError("must not be empty")
    return value


def _to_cents(value: Any, from_env: bool) -> int:
    """An amount of lurkcoins, parsed exactly like a request's."""
    if from_env:
        value = value.strip()
    elif isinstance(value, str):
        value = None  # a quoted number in TOML is a mistake worth pointing out
    try:
        return parse_amount(value)
    except AmountError:
        raise ValueError("expected an amount of lurkcoins") from None


_CONVERTERS: dict[Any, Callable[[Any, bool], Any]] = {
    bool: _to_bool, int: _to_int, float: _to_float, str: _to_str}


def _convert(kind: Any, rules: Mapping[str, Any], value: Any, from_env: bool) -> Any:
    """The value as ``kind`` once it follows the field's rules, else ValueError."""
    result = (_to_cents if rules.get("money") else _CONVERTERS[kind])(value, from_env)
    if rules.get("choices"):
        for choice in rules["choices"]:
            if result.lower() == choice.lower():
                return choice
        raise ValueError(f"must be one of {', '.join(rules['choices'])}")
    low, high = rules.get("low"), rules.get("high")
    if (low is not None and result < low) or (high is not None and result > high):
        raise ValueError(f"must be between {low} and {high}" if high is not None
                         else f"must be at least {low}")
    if rules.get("positive") and result <= 0:
        raise ValueError("must be more than 0")
    return result


def _set(config: Config, section_name: str, key: str, value: Any, origin: str,
         from_env: bool) -> None:
    section = getattr(config, section_name)
    fields = {f.name: f for f in dataclasses.fields(section)}
    if key not in fields:
        raise ConfigError(f"{origin}: {_unknown('key', key, fields)} in [{section_name}]")
    fld = fields[key]
    kind = typing.get_type_hints(type(section))[key]
    try:
        setattr(section, key, _convert(kind, fld.metadata, value, from_env))
    except ValueError as exc:
        raise ConfigError(f"{origin}: [{section_name}] {key}: {exc}, got {value!r}") from None


def _apply_file(config: Config, path: Path) -> None:
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"), parse_float=Decimal)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    sections = _sections(config)
    for name, values in data.items():
        if name not in sections:
            raise ConfigError(f"{path}: {_unknown('section', name, sections)}")
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: {name!r} must be a section: [{name}]")
        for key, value in values.items():
            _set(config, name, key, value, str(path), from_env=False)


def _apply_env(config: Config, environ: Mapping[str, str]) -> None:
    sections = _sections(config)
    for var, value in sorted(environ.items()):
        if not var.startswith(ENV_PREFIX) or var == CONFIG_FILE_VARIABLE:
            continue
        rest = var[len(ENV_PREFIX):].lower()
        section = next((s for s in sections if rest.startswith(s + "_")), None)
        if section is None:
            raise ConfigError(f"environment: unknown setting {var}: expected "
                              f"LURKCOIN_<SECTION>_<KEY>, section one of {', '.join(sections)}")
        _set(config, section, rest[len(section) + 1:], value, f"environment {var}",
             from_env=True)


def config_file(explicit: str | None, environ: Mapping[str, str]) -> Path | None:
    """Which file to load: the one named, else $LURKCOIN_CONFIG, else ./lurkcoin.toml if any."""
    if explicit:
        return Path(explicit)
    if environ.get(CONFIG_FILE_VARIABLE):
        return Path(environ[CONFIG_FILE_VARIABLE])
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


def load_config(path: str | Path | None = None,
                environ: Mapping[str, str] | None = None) -> Config:
    """Defaults, then the TOML file (if any), then environment overrides."""
    config = Config()
    if path is not None:
        _apply_file(config, Path(path))
    _apply_env(config, os.environ if environ is None else environ)
    return config


def config_keys() -> set[tuple[str, str]]:
    """Every (section, key) pair the program knows, for the documentation test."""
    return {(name, f.name) for name, section in _sections(Config()).items()
            for f in dataclasses.fields(section)}
