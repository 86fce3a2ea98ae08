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
import ipaddress
import logging
import math
import os
import re
import tomllib
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

from lurkcoin.core.durations import parse_duration
from lurkcoin.core.money import MAX_SPEND, AmountError, parse_amount

log = logging.getLogger(__name__)

ENV_PREFIX = "LURKCOIN_"
# Names the config file; it is not itself a setting.
CONFIG_FILE_VARIABLE = "LURKCOIN_CONFIG"
DEFAULT_CONFIG_FILE = "lurkcoin.toml"

T = TypeVar("T")


class ConfigError(Exception):
    """A configuration problem, worded for the operator."""


def _setting(default: T, **rules: Any) -> T:
    """A field with rules for its value: choices, low/high (ints), positive, money."""
    return field(default=default, metadata=rules)


@dataclass
class ServerSection:
    # Empty: no TCP listener (serve on unix_socket only).
    host: str = _setting("127.0.0.1", may_be_empty=True)
    port: int = _setting(5000, low=0, high=65535)
    name: str = "lurkcoin"
    unix_socket: str = _setting("", may_be_empty=True)
    # Octal permissions of the UNIX socket file.
    unix_socket_mode: str = _setting("660", octal=True)
    tls_cert: str = _setting("", may_be_empty=True)
    tls_key: str = _setting("", may_be_empty=True)
    # Seconds requests in flight may take to finish after SIGTERM.
    shutdown_timeout: float = _setting(30.0, positive=True)
    max_connections: int = _setting(4096, low=1)
    max_connections_per_address: int = _setting(256, low=1)


@dataclass
class ApiSection:
    # Oldest API served: 2 serves /v2 and /v3, 3 answers every /v2 path as unknown.
    min_version: int = _setting(2, low=2, high=3)


@dataclass
class DatabaseSection:
    path: str = "lurkcoin.db"
    # postgresql://user@host/db: the ledger on PostgreSQL instead of the file at path.
    url: str = _setting("", may_be_empty=True)
    synchronous: str = _setting("FULL", choices=("FULL", "EXTRA", "NORMAL"))
    # Most operations the single writer commits together in one transaction.
    max_batch: int = _setting(512, low=1)
    # Megabytes the database file may grow to (0: no cap); beyond, writes answer 503.
    max_size: int = _setting(0, low=0)
    # Seconds between write probes while writes fail (disk full); also the Retry-After.
    retry_interval: float = _setting(5.0, positive=True)


@dataclass
class LedgerSection:
    # How long a revertable payment may wait unacknowledged in its target's
    # pending queue before it is rejected and refunded ("30d", "12h"...); "" is off.
    pending_expiry: str = _setting("", may_be_empty=True, duration=True)

    @property
    def pending_expiry_seconds(self) -> int:
        return parse_duration(self.pending_expiry)


@dataclass
class BackupSection:
    # Folder the server writes its scheduled backups to; "" (the default) takes none.
    directory: str = _setting("", may_be_empty=True)
    # Time from one backup to the next: "6h", "1d", "30m", "45s" or seconds.
    interval: str = _setting("1d", duration=True, nonzero=True)
    # Verified copies kept; the oldest beyond that are removed.
    keep: int = _setting(7, low=1)

    @property
    def interval_seconds(self) -> int:
        return parse_duration(self.interval)


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
class SecuritySection:
    # Failed logins allowed within failure_window seconds before HTTP 429.
    failures_per_address: int = _setting(10, low=1)
    failures_per_account: int = _setting(20, low=1)
    failure_window: float = _setting(60.0, positive=True)
    # Reverse proxies (IP addresses or CIDR networks) whose X-Forwarded-For is honoured.
    trusted_proxies: list[str] = field(default_factory=list, metadata={"networks": True})


@dataclass
class AdminSection:
    # Admin page accounts: user name -> argon2id hash (`lurkcoin hash-password`).
    accounts: dict[str, str] = field(default_factory=dict, metadata={"argon2id": True})
    # user name -> viewer, operator or owner; an account not listed is an owner.
    roles: dict[str, str] = field(default_factory=dict, metadata={"roles": True})
    secure_cookies: bool = False
    session_idle_timeout: float = _setting(1800.0, positive=True)
    session_max_age: float = _setting(43200.0, positive=True)
    redirect_root: bool = True

    def role(self, user: str) -> str | None:
        """The account's role, or None when there is no such account."""
        if user not in self.accounts:
            return None
        return self.roles.get(user, "owner")


# Each role may do everything the roles before it may.
ADMIN_ROLES = ("viewer", "operator", "owner")


@dataclass
class LoggingSection:
    level: str = _setting("INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    # "text" for people, "json" (one object per line) for log shippers.
    format: str = _setting("text", choices=("text", "json"))
    # Empty: standard error. Reopened on SIGHUP (for logrotate).
    file: str = _setting("", may_be_empty=True)
    # One line per request (method, path, status, duration, bytes, client, account, id).
    access_log: bool = True


@dataclass
class ExplorerSection:
    # false: no public /api/ or /explorer at all (404).
    enabled: bool = True
    # Player names and single transactions for everyone, or only with an
    # `explorer` key (aggregates are public either way).
    public_transactions: bool = False
    # Requests one client address may make per rate_window seconds.
    rate_limit: int = _setting(600, low=1)
    rate_window: float = _setting(60.0, positive=True)


@dataclass
class OnboardingSection:
    # false: POST /api/account_requests and its claim answer 404 like unknown paths.
    enabled: bool = False
    # Account requests one client address may send per rate_window seconds.
    rate_limit: int = _setting(5, low=1)
    rate_window: float = _setting(3600.0, positive=True)
    # Requests waiting for an operator at once; beyond, 503 ERR_QUEUEFULL.
    max_pending: int = _setting(100, low=1)
    # How long after approval the requester may fetch the token ("24h", "2d").
    claim_expiry: str = _setting("24h", duration=True, nonzero=True)

    @property
    def claim_expiry_seconds(self) -> int:
        return parse_duration(self.claim_expiry)


@dataclass
class MetricsSection:
    # Lets clients other than loopback read /metrics with "Authorization: Bearer <token>".
    bearer_token: str = _setting("", may_be_empty=True)


@dataclass
class Config:
    server: ServerSection = field(default_factory=ServerSection)
    database: DatabaseSection = field(default_factory=DatabaseSection)
    exchange: ExchangeSection = field(default_factory=ExchangeSection)
    ledger: LedgerSection = field(default_factory=LedgerSection)
    backup: BackupSection = field(default_factory=BackupSection)
    webhooks: WebhooksSection = field(default_factory=WebhooksSection)
    security: SecuritySection = field(default_factory=SecuritySection)
    admin: AdminSection = field(default_factory=AdminSection)
    logging: LoggingSection = field(default_factory=LoggingSection)
    metrics: MetricsSection = field(default_factory=MetricsSection)
    api: ApiSection = field(default_factory=ApiSection)
    explorer: ExplorerSection = field(default_factory=ExplorerSection)
    onboarding: OnboardingSection = field(default_factory=OnboardingSection)


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


_ENV_BOOLS = {
    "true": True,
    "yes": True,
    "on": True,
    "1": True,
    "false": False,
    "no": False,
    "off": False,
    "0": False,
}


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
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, Decimal))
        or (isinstance(value, Decimal) and not value.is_finite())
    ):
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


def _to_str_list(value: Any, from_env: bool) -> list[str]:
    """A TOML array of strings, or comma-separated text in the environment."""
    if from_env:
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("expected a list of non-empty strings")
    return value


def _to_str_table(value: Any, from_env: bool) -> dict[str, str]:
    """A TOML table of strings; too structured for an environment variable."""
    if from_env:
        raise ValueError("cannot be set from the environment; set it in the config file")
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError("expected a table of names to strings")
    return dict(value)


_CONVERTERS: dict[Any, Callable[[Any, bool], Any]] = {
    bool: _to_bool,
    int: _to_int,
    float: _to_float,
    str: _to_str,
    list[str]: _to_str_list,
    dict[str, str]: _to_str_table,
}

# The PHC string argon2-cffi writes: $argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>.
_ARGON2ID = re.compile(
    r"\$argon2id\$v=[0-9]+\$m=[0-9]+,t=[0-9]+,p=[0-9]+"
    r"\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+"
)


def _check_entries(rules: Mapping[str, Any], value: Any) -> None:
    """Rules for the entries of a list (networks) or a table (argon2id hashes)."""
    if rules.get("networks"):
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
    if rules.get("duration") and parse_duration(value) <= 0 and rules.get("nonzero"):
        raise ValueError("must be longer than 0 seconds")
    if rules.get("roles"):
        for user, role in value.items():
            if role not in ADMIN_ROLES:
                raise ValueError(f"the role of {user!r} must be one of {', '.join(ADMIN_ROLES)}")
    if rules.get("argon2id"):
        for user, hashed in value.items():
            if not _ARGON2ID.fullmatch(hashed):
                raise ValueError(
                    f"the password of {user!r} is not an argon2id hash "
                    "(make one with `lurkcoin hash-password`)"
                )


def _convert(kind: Any, rules: Mapping[str, Any], value: Any, from_env: bool) -> Any:
    """The value as ``kind`` once it follows the field's rules, else ValueError."""
    if rules.get("may_be_empty") and value == "":
        return ""
    converter = _to_cents if rules.get("money") else _CONVERTERS[kind]
    result: Any = converter(value, from_env)
    _check_entries(rules, result)
    if rules.get("octal") and not re.fullmatch(r"0?[0-7]{3}", result):
        raise ValueError("expected octal permissions such as 660")
    if rules.get("choices"):
        for choice in rules["choices"]:
            if result.lower() == choice.lower():
                return choice
        raise ValueError(f"must be one of {', '.join(rules['choices'])}")
    low, high = rules.get("low"), rules.get("high")
    if (low is not None and result < low) or (high is not None and result > high):
        raise ValueError(
            f"must be between {low} and {high}" if high is not None else f"must be at least {low}"
        )
    if rules.get("positive") and result <= 0:
        raise ValueError("must be more than 0")
    return result


def _set(
    config: Config, section_name: str, key: str, value: Any, origin: str, from_env: bool
) -> None:
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
        if not isinstance(values, dict):
            raise ConfigError(
                f"{path}: {name!r} is outside any section; settings go under "
                f"{', '.join(f'[{s}]' for s in sections)}"
            )
        if name not in sections:
            raise ConfigError(f"{path}: {_unknown('section', name, sections)}")
        for key, value in values.items():
            _set(config, name, key, value, str(path), from_env=False)


# What Kubernetes injects for every Service into every pod of its namespace:
# a Service named "lurkcoin-server" gives LURKCOIN_SERVER_SERVICE_HOST,
# LURKCOIN_SERVER_SERVICE_PORT(_<name>), LURKCOIN_SERVER_PORT=tcp://10.0.0.11:5000
# and LURKCOIN_SERVER_PORT_5000_TCP(_PROTO|_PORT|_ADDR). Those names fall inside
# our sections, yet none is a setting: no key of ours has these shapes, and a
# port is a number, never a URL. A container's own env wins over a service
# link, so a port the operator set is never one of these.
_SERVICE_LINK_NAME = re.compile(
    r"(?:\w+_)?(?:SERVICE_HOST|SERVICE_PORT(?:_\w+)?|PORT_\d+_(?:TCP|UDP|SCTP)(?:_PROTO|_PORT|_ADDR)?)"
)
_SERVICE_LINK_URL = re.compile(r"(?:tcp|udp|sctp)://[^\s/]+:\d+")


def _is_service_link(name: str, value: str) -> bool:
    """``name``: the variable's name after LURKCOIN_."""
    if _SERVICE_LINK_NAME.fullmatch(name):
        return True
    return name.endswith("PORT") and _SERVICE_LINK_URL.fullmatch(value) is not None


def _apply_env(config: Config, environ: Mapping[str, str]) -> None:
    sections = _sections(config)
    foreign: list[str] = []
    for var, value in sorted(environ.items()):
        if not var.startswith(ENV_PREFIX) or var == CONFIG_FILE_VARIABLE:
            continue
        name = var[len(ENV_PREFIX) :]
        rest = name.lower()
        section = next((s for s in sections if rest.startswith(s + "_")), None)
        if section is None or _is_service_link(name, value):
            # Not ours: Kubernetes injects LURKCOIN_PORT, LURKCOIN_SERVICE_HOST...
            # into every pod beside a Service named lurkcoin, and scripts export
            # their own. A typo inside one of our sections is still refused.
            foreign.append(var)
            continue
        _set(config, section, rest[len(section) + 1 :], value, f"environment {var}", from_env=True)
    if foreign:
        log.warning(
            "environment: ignoring %s (not LURKCOIN_<SECTION>_<KEY> with a section of %s)",
            ", ".join(foreign),
            ", ".join(sections),
        )


def config_file(explicit: str | None, environ: Mapping[str, str]) -> Path | None:
    """Which file to load: the one named, else $LURKCOIN_CONFIG, else ./lurkcoin.toml if any."""
    if explicit:
        return Path(explicit)
    if environ.get(CONFIG_FILE_VARIABLE):
        return Path(environ[CONFIG_FILE_VARIABLE])
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Defaults, then the TOML file (if any), then environment overrides."""
    config = Config()
    if path is not None:
        _apply_file(config, Path(path))
    _apply_env(config, os.environ if environ is None else environ)
    unknown = sorted(set(config.admin.roles) - set(config.admin.accounts))
    if unknown:
        raise ConfigError(f"[admin] roles: {', '.join(map(repr, unknown))} not in [admin] accounts")
    return config


def config_keys() -> set[tuple[str, str]]:
    """Every (section, key) pair the program knows, for the documentation test."""
    return {
        (name, f.name)
        for name, section in _sections(Config()).items()
        for f in dataclasses.fields(section)
    }
