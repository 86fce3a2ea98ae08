"""The typed configuration: the example file documents it, the file and the environment set it."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import pytest

from lurkcoin.config import Config, ConfigError, config_file, config_keys, load_config

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
# A documented setting in the example: "# key = value", commented out.
SETTING = re.compile(r"^# ([a-z_]+ = .*)$")


def uncommented_example() -> str:
    """The example with every documented setting switched on."""
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    return "\n".join(m[1] if (m := SETTING.match(line)) else line for line in lines) + "\n"


@pytest.fixture(autouse=True)
def no_lurkcoin_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own LURKCOIN_* variables must not leak into these tests."""
    for var in [v for v in os.environ if v.startswith("LURKCOIN_")]:
        monkeypatch.delenv(var)


def write(tmp_path: Path, text: str, name: str = "test.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, **environ: str) -> Config:
    return load_config(write(tmp_path, text), environ=environ)


# -- the example documents every key --------------------------------------------


def test_the_example_names_every_key_and_only_known_keys(tmp_path: Path) -> None:
    import tomllib

    documented = {
        (section, key)
        for section, values in tomllib.loads(uncommented_example()).items()
        for key in values
    }
    assert documented - config_keys() == set(), "documented but unknown"
    assert config_keys() - documented == set(), "known but not documented"


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
def test_the_example_gives_the_defaults(tmp_path: Path) -> None:
    assert load_config(EXAMPLE, environ={}) == Config()
    assert load(tmp_path, uncommented_example()) == Config()


def test_every_documented_key_is_explained() -> None:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if SETTING.match(line):
            above = lines[number - 1]
            assert above.startswith("# ") and not SETTING.match(above), (
                f"{line!r} has no explanation above it"
            )


def test_no_file_and_no_environment_give_the_defaults() -> None:
    config = load_config(None, environ={})
    assert config == Config()
    assert (config.server.port, config.database.path, config.exchange.max_spend) == (
        5000,
        "lurkcoin.db",
        1_000_000,
    )


# -- values from the file and the environment --------------------------------------


def test_file_values_are_converted(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        [server]
        host = "0.0.0.0"
        port = 8080
        [database]
        synchronous = "normal"
        [exchange]
        formula = "reference"
        max_spend = 12.34
        [webhooks]
        allow_private_addresses = true
        timeout = 2
        retry_cap = 0.5
    """,
    )
    assert (config.server.host, config.server.port) == ("0.0.0.0", 8080)
    assert config.database.synchronous == "NORMAL"
    assert (config.exchange.formula, config.exchange.max_spend) == ("reference", 1234)
    assert config.webhooks.allow_private_addresses is True
    assert (config.webhooks.timeout, config.webhooks.retry_cap) == (2.0, 0.5)


def test_max_spend_is_exact_cents(tmp_path: Path) -> None:
    # The double nearest 0.3 is 0.29999999999999998...; money rules snap it to 30 cents.
    assert load(tmp_path, "[exchange]\nmax_spend = 0.29999999999999999\n").exchange.max_spend == 30
    assert load(tmp_path, "[exchange]\nmax_spend = 2.1\n").exchange.max_spend == 210
    assert load(tmp_path, "").exchange.max_spend == 1_000_000


def test_environment_overrides_defaults_and_file(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        '[server]\nport = 8080\nhost = "0.0.0.0"\n',
        LURKCOIN_SERVER_PORT="9090",
        LURKCOIN_DATABASE_PATH="/var/lib/lurkcoin/ledger.db",
        LURKCOIN_DATABASE_SYNCHRONOUS="extra",
        LURKCOIN_EXCHANGE_MAX_SPEND="1_000.5",
        LURKCOIN_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES="yes",
        LURKCOIN_WEBHOOKS_TIMEOUT=" 2.5 ",
        LURKCOIN_WEBHOOKS_CONCURRENCY="4",
        LURKCOIN_CONFIG="ignored: names the file, not a setting",
        HOME="/root",
        OTHER_PORT="x",
    )
    assert (config.server.host, config.server.port) == ("0.0.0.0", 9090)
    assert config.database.path == "/var/lib/lurkcoin/ledger.db"
    assert config.database.synchronous == "EXTRA"
    assert config.exchange.max_spend == 100_050
    assert config.webhooks.allow_private_addresses is True
    assert (config.webhooks.timeout, config.webhooks.concurrency) == (2.5, 4)


@pytest.mark.parametrize(
    "text, expected",
    [("true", True), ("1", True), ("ON", True), ("false", False), ("0", False), ("no", False)],
)
def test_environment_booleans(text: str, expected: bool) -> None:
    config = load_config(None, environ={"LURKCOIN_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES": text})
    assert config.webhooks.allow_private_addresses is expected


def test_os_environ_is_the_default_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LURKCOIN_SERVER_PORT", "6000")
    assert load_config().server.port == 6000


# -- errors name what is wrong -----------------------------------------------------------


def test_unknown_key_in_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"unknown key 'prot' \(did you mean 'port'\?\) "
        r"in \[server\]",
    ) as info:
        load(tmp_path, "[server]\nprot = 80\n")
    assert "test.toml" in str(info.value)


def test_unknown_section_in_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown section 'webhook' \(did you mean 'webhooks'"):
        load(tmp_path, "[webhook]\ntimeout = 3\n")
    with pytest.raises(
        ConfigError,
        match=r"'port' is outside any section; settings go under "
        r"\[server\], \[database\]",
    ):
        load(tmp_path, "port = 80\n")


def test_unknown_key_in_environment_is_named() -> None:
    with pytest.raises(ConfigError, match=r"LURKCOIN_SERVER_PROT: unknown key 'prot'"):
        load_config(None, environ={"LURKCOIN_SERVER_PROT": "80"})


def test_variables_outside_our_sections_are_ignored_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # What Kubernetes injects beside a Service named "lurkcoin", and a script's own.
    environ = {
        "LURKCOIN_PORT": "tcp://10.0.0.5:5000",
        "LURKCOIN_SERVICE_HOST": "10.0.0.5",
        "LURKCOIN_PORT_5000_TCP_ADDR": "10.0.0.5",
        "LURKCOIN_HOME": "/srv/secret-value",
        "LURKCOIN_SERVER_PORT": "6000",
    }
    with caplog.at_level(logging.WARNING, logger="lurkcoin.config"):
        config = load_config(None, environ=environ)
    assert config.server.port == 6000
    assert len(caplog.records) == 1
    line = caplog.records[0].getMessage()
    assert "ignoring LURKCOIN_HOME, LURKCOIN_PORT, LURKCOIN_PORT_5000_TCP_ADDR" in line
    assert "secret-value" not in line and "10.0.0.5" not in line  # names only, never values


def test_kubernetes_service_links_inside_our_sections_are_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A Service named "lurkcoin-server" (or -database) injects names inside our sections."""
    environ = {
        "LURKCOIN_SERVER_PORT": "tcp://10.0.0.11:5000",
        "LURKCOIN_SERVER_SERVICE_HOST": "10.0.0.11",
        "LURKCOIN_SERVER_SERVICE_PORT": "5000",
        "LURKCOIN_SERVER_SERVICE_PORT_HTTP": "5000",
        "LURKCOIN_SERVER_PORT_5000_TCP": "tcp://10.0.0.11:5000",
        "LURKCOIN_SERVER_PORT_5000_TCP_PROTO": "tcp",
        "LURKCOIN_SERVER_PORT_5000_TCP_PORT": "5000",
        "LURKCOIN_SERVER_PORT_5000_TCP_ADDR": "10.0.0.11",
        "LURKCOIN_DATABASE_PORT": "tcp://10.0.0.12:5432",
        "LURKCOIN_SERVER_HOST": "0.0.0.0",  # a real setting beside them still applies
    }
    with caplog.at_level(logging.WARNING, logger="lurkcoin.config"):
        config = load_config(None, environ=environ)
    assert (config.server.port, config.server.host) == (5000, "0.0.0.0")
    assert len(caplog.records) == 1
    line = caplog.records[0].getMessage()
    assert "LURKCOIN_SERVER_PORT," in line and "LURKCOIN_DATABASE_PORT" in line
    assert "LURKCOIN_SERVER_PORT_5000_TCP_ADDR" in line and "LURKCOIN_SERVER_HOST" not in line


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        # A port that is not a service link is still checked, and a typo still refused.
        ("LURKCOIN_SERVER_PORT", "http://10.0.0.11:5000", r"\[server\] port: expected a whole"),
        ("LURKCOIN_SERVER_PORT", "tcp://", r"\[server\] port: expected a whole"),
        ("LURKCOIN_SERVER_PORTS", "5000", r"unknown key 'ports'"),
    ],
)
def test_what_only_looks_like_a_service_link_is_refused(var: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, environ={var: value})


def test_no_warning_without_foreign_variables(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="lurkcoin.config"):
        load_config(None, environ={"LURKCOIN_SERVER_PORT": "6000", "LURKCOIN_CONFIG": "x"})
    assert caplog.records == []


@pytest.mark.parametrize(
    "line, message",
    [
        ('[server]\nport = "80"', r"\[server\] port: expected a whole number, got '80'"),
        ("[server]\nport = true", r"\[server\] port: expected a whole number"),
        ("[server]\nport = 80.5", r"\[server\] port: expected a whole number"),
        ("[server]\nport = 70000", r"\[server\] port: must be between 0 and 65535"),
        ("[server]\nport = -1", r"\[server\] port: must be between 0 and 65535"),
        ("[server]\nhost = 5", r"\[server\] host: expected a string"),
        ('[database]\npath = ""', r"\[database\] path: must not be empty"),
        ("[database]\nmax_batch = 0", r"\[database\] max_batch: must be at least 1"),
        (
            '[webhooks]\nallow_private_addresses = "yes"',
            r"\[webhooks\] allow_private_addresses: expected true or false",
        ),
        ('[webhooks]\ntimeout = "5"', r"\[webhooks\] timeout: expected a number"),
        ("[webhooks]\ntimeout = nan", r"\[webhooks\] timeout: expected a number"),
        ("[webhooks]\ntimeout = inf", r"\[webhooks\] timeout: expected a number"),
        ("[webhooks]\ntimeout = 0", r"\[webhooks\] timeout: must be more than 0"),
        ("[webhooks]\ngive_up_after = 1e400", r"\[webhooks\] give_up_after: expected a number"),
        ("[webhooks]\nconcurrency = 0", r"\[webhooks\] concurrency: must be at least 1"),
        ('[exchange]\nmax_spend = "100"', r"\[exchange\] max_spend: expected an amount"),
        ("[exchange]\nmax_spend = 0", r"\[exchange\] max_spend: must be more than 0"),
        ("[exchange]\nmax_spend = -5", r"\[exchange\] max_spend: must be more than 0"),
        ("[exchange]\nmax_spend = 0.001", r"\[exchange\] max_spend: must be more than 0"),
    ],
)
def test_wrong_values_in_file(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, line + "\n")


@pytest.mark.parametrize(
    "var, value, message",
    [
        ("LURKCOIN_SERVER_PORT", "eighty", "expected a whole number"),
        ("LURKCOIN_SERVER_PORT", "\u0661\u0662", "expected a whole number"),  # Arabic-Indic digits
        ("LURKCOIN_SERVER_PORT", "99999", "must be between 0 and 65535"),
        ("LURKCOIN_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES", "maybe", "expected true or false"),
        ("LURKCOIN_WEBHOOKS_TIMEOUT", "soon", "expected a number"),
        ("LURKCOIN_WEBHOOKS_TIMEOUT", "NaN", "expected a number"),
        ("LURKCOIN_WEBHOOKS_TIMEOUT", "sNaN", "expected a number"),
        ("LURKCOIN_WEBHOOKS_TIMEOUT", "-1", "must be more than 0"),
        ("LURKCOIN_EXCHANGE_MAX_SPEND", "lots", "expected an amount"),
        ("LURKCOIN_EXCHANGE_FORMULA", "magic", "must be one of integral, reference"),
        ("LURKCOIN_DATABASE_SYNCHRONOUS", "OFF", "must be one of FULL, EXTRA, NORMAL"),
        ("LURKCOIN_DATABASE_PATH", "", "must not be empty"),
    ],
)
def test_wrong_values_in_environment(var: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"environment {var}: .*{re.escape(message)}"):
        load_config(None, environ={var: value})


@pytest.mark.parametrize(
    "text, expected",
    [('"FULL"', "FULL"), ('"full"', "FULL"), ('"Normal"', "NORMAL"), ('"EXTRA"', "EXTRA")],
)
def test_choices_match_without_regard_to_case(tmp_path: Path, text: str, expected: str) -> None:
    assert load(tmp_path, f"[database]\nsynchronous = {text}\n").database.synchronous == expected


def test_choice_outside_the_list_names_the_choices(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"\[exchange\] formula: must be one of integral, "
        r"reference, got 'linear'",
    ):
        load(tmp_path, '[exchange]\nformula = "linear"\n')


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file .*missing.toml"):
        load_config(tmp_path / "missing.toml", environ={})
    with pytest.raises(ConfigError, match="invalid TOML"):
        load(tmp_path, "[server\nport = 1\n")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b'[server]\nname = "\xff"\n')
    with pytest.raises(ConfigError, match="not a UTF-8 text file"):
        load_config(binary, environ={})


# -- which file is read ------------------------------------------------------------------


def test_config_file_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert config_file(None, {}) is None
    write(tmp_path, "", "lurkcoin.toml")
    assert config_file(None, {}) == Path("lurkcoin.toml")
    assert config_file(None, {"LURKCOIN_CONFIG": "/etc/lurkcoin.toml"}) == Path(
        "/etc/lurkcoin.toml"
    )
    assert config_file("given.toml", {"LURKCOIN_CONFIG": "/etc/lurkcoin.toml"}) == Path(
        "given.toml"
    )
