"""Secrets never stored or logged in clear, token rotation over HTTP, response headers,
the [security] and [admin] settings, admin passwords and the security CLI commands."""

from __future__ import annotations

import base64
import io
import logging
import secrets
from pathlib import Path

import pytest
from argon2 import PasswordHasher, Type, extract_parameters
from auth_helpers import Bank, basic, key_auth
from cli_helpers import Cli

from lurkcoin.api import admin_passwords
from lurkcoin.api.admin_passwords import hash_password, verify_admin
from lurkcoin.cli import security as security_cli
from lurkcoin.config import Config, ConfigError, load_config


def imported_server(name: str, token: str) -> dict[str, object]:
    """One server in lurkcoin-core's backup format."""
    return {
        "version": 0,
        "name": name,
        "balance": 12_345,
        "target_balance": 0,
        "history": [],
        "pending_transactions": [],
        "token": token,
        "webhook_url": "",
    }


# -- the acceptance test: no secret in the database or the logs -------------------------


@pytest.mark.sqlite_only  # scans the SQLite file's bytes
async def test_no_token_or_key_reaches_the_database_or_the_logs(
    bank: Bank, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, aiohttp's access log included
    ledger = bank.server.ledger
    imported = "imported-" + secrets.token_urlsafe(32)
    await ledger.import_backup([imported_server("Legacy", imported)])
    secrets_seen = [*bank.tokens.values(), imported]
    async with bank.client() as client:
        assert (await client.call("GET", "/v3/balance", basic("legacy", imported))).result
        rotated = (await client.call("POST", "/v3/regenerate_token", bank.auth("Alpha"))).result
        secrets_seen.append(rotated)
        assert (await client.call("GET", "/v3/balance", basic("Alpha", rotated))).result
        # The old token now fails: a logged failed login, which must not show it.
        old = await client.call("GET", "/v3/balance", bank.auth("Alpha"))
        assert old.status == 401
        legacy_rotated = (
            await client.call("POST", "/v3/regenerate_token", basic("Legacy", imported))
        ).result
        secrets_seen.append(legacy_rotated)
        key = (
            await client.call(
                "POST", "/v3/api_keys", basic("Alpha", rotated), body={"scopes": ["balance"]}
            )
        ).result["key"]
        secrets_seen.append(key)
        assert (await client.call("GET", "/v3/balance", key_auth(key))).result
        # Near misses are failed logins too; they are not logged either.
        for secret in list(secrets_seen):
            near = secret[:-1] + ("A" if secret[-1] != "A" else "B")
            secrets_seen.append(near)
            await client.call("GET", "/v3/summary", basic("Alpha", near))
            await client.call("GET", "/v3/summary", key_auth(near))
    assert "failed login" in caplog.text and "throttling" in caplog.text
    await bank.server.stop()  # closes the ledger: everything is on disk

    files = [p for p in tmp_path.iterdir() if p.is_file()]
    assert any(p.name == "bank.db" for p in files)
    stored = b"".join(p.read_bytes() for p in files)
    logged = caplog.text + "".join(repr(r.args) for r in caplog.records)
    for secret in secrets_seen:
        for name in ("Alpha", "alpha", "Legacy", "legacy"):
            header = base64.b64encode(f"{name}:{secret}".encode()).decode()
            assert header not in logged
        assert secret.encode() not in stored
        assert secret not in logged


# -- token rotation over HTTP -------------------------------------------------------------


async def test_old_token_works_until_the_new_one_is_used_once(bank: Bank) -> None:
    async with bank.client() as client:
        old = bank.auth("Alpha")
        new = (await client.call("POST", "/v3/regenerate_token", old)).result
        assert isinstance(new, str) and len(new) == 172 and new != bank.tokens["Alpha"]
        for _ in range(3):
            assert (await client.call("GET", "/v3/balance", old)).result == 1000
        assert (await client.call("GET", "/v3/balance", basic("Alpha", new))).result == 1000
        refused = await client.call("GET", "/v3/balance", old)
        assert (refused.status, refused.error) == (401, "ERR_INVALIDLOGIN")
        assert (await client.call("GET", "/v3/balance", basic("alpha", new))).result == 1000
    # The promotion is durable.
    await bank.server.ledger.wait_idle()
    server = bank.server.ledger.server("alpha")
    assert server is not None and server.next_token_hash is None


async def test_rotating_twice_before_use_keeps_only_the_newest(bank: Bank) -> None:
    async with bank.client() as client:
        first = (await client.call("POST", "/v3/regenerate_token", bank.auth("Alpha"))).result
        second = (await client.call("POST", "/v3/regenerate_token", bank.auth("Alpha"))).result
        assert (await client.call("GET", "/v3/balance", basic("Alpha", first))).status == 401
        assert (await client.call("GET", "/v3/balance", basic("Alpha", second))).status == 200
        assert (await client.call("GET", "/v3/balance", bank.auth("Alpha"))).status == 401


async def test_imported_tokens_keep_working_and_rotate(bank: Bank) -> None:
    await bank.server.ledger.import_backup([imported_server("Old Timer", "tok:with:colons")])
    async with bank.client() as client:
        legacy = basic("Old Timer", "tok:with:colons")
        assert (await client.call("GET", "/v3/balance", legacy)).result == 123.45
        new = (await client.call("POST", "/v3/regenerate_token", legacy)).result
        assert (await client.call("GET", "/v3/balance", basic("oldtimer", new))).status == 200
        assert (await client.call("GET", "/v3/balance", legacy)).status == 401


async def test_rotate_webhook_secret(bank: Bank) -> None:
    ledger = bank.server.ledger
    async with bank.client() as client:
        none = await client.call("POST", "/v3/rotate_webhook_secret", bank.auth("Alpha"))
        assert (none.status, none.error) == (400, "ERR_INVALIDREQUEST")
        await ledger.set_webhook("alpha", "https://game.example/", sign=False)
        first = (await client.call("POST", "/v3/rotate_webhook_secret", bank.auth("Alpha"))).result
        second = (await client.call("POST", "/v3/rotate_webhook_secret", bank.auth("Alpha"))).result
    assert first.startswith("whsec_") and second.startswith("whsec_") and first != second
    server = ledger.server("alpha")
    assert server is not None and server.webhook_secret == second


# -- response headers -------------------------------------------------------------------------


async def test_security_headers(bank: Bank) -> None:
    async with bank.client() as client:
        authed = [
            await client.call("GET", "/v3/balance", bank.auth("Alpha")),
            await client.call("GET", "/v3/balance", basic("Alpha", "wrong")),
            await client.call(
                "POST", "/v3/api_keys", bank.auth("Alpha"), body={"scopes": ["balance"]}
            ),
        ]
        for reply in authed:
            assert reply.header("X-Content-Type-Options") == "nosniff"
            assert reply.header("Cache-Control") == "no-store"
        public = [
            await client.call("GET", "/v3/version"),
            await client.call("GET", "/v3/balance"),
            await client.call("GET", "/v3/no_such_endpoint"),
        ]
        for reply in public:
            assert reply.header("X-Content-Type-Options") == "nosniff"
            assert reply.header("Cache-Control") is None


# -- configuration ----------------------------------------------------------------------------


@pytest.fixture
def cheap_hash() -> str:
    """An argon2id hash of "correct horse" with cheap parameters (fast tests)."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID).hash(
        "correct horse"
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "security.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_security_settings(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """
        [security]
        failures_per_address = 5
        failures_per_account = 7
        failure_window = 30
        trusted_proxies = ["10.0.0.0/8", "::1", "192.0.2.7"]
    """,
        ),
        environ={},
    )
    s = config.security
    assert (s.failures_per_address, s.failures_per_account, s.failure_window) == (5, 7, 30.0)
    assert s.trusted_proxies == ["10.0.0.0/8", "::1", "192.0.2.7"]
    env = load_config(
        None,
        environ={
            "LURKCOIN_SECURITY_TRUSTED_PROXIES": " 127.0.0.1, fd00::/8,",
            "LURKCOIN_SECURITY_FAILURE_WINDOW": "90",
        },
    )
    assert env.security.trusted_proxies == ["127.0.0.1", "fd00::/8"]
    assert env.security.failure_window == 90.0
    cleared = load_config(
        write(tmp_path, '[security]\ntrusted_proxies = ["::1"]\n'),
        environ={"LURKCOIN_SECURITY_TRUSTED_PROXIES": ""},
    )
    assert cleared.security.trusted_proxies == []


@pytest.mark.parametrize(
    "text, message",
    [
        ('[security]\ntrusted_proxies = "10.0.0.1"', "expected a list of non-empty strings"),
        ("[security]\ntrusted_proxies = [1]", "expected a list of non-empty strings"),
        ('[security]\ntrusted_proxies = ["proxy.local"]', "'proxy.local' is not an IP address"),
        ('[security]\ntrusted_proxies = ["10.0.0.0/33"]', "'10.0.0.0/33' is not an IP address"),
        ("[security]\nfailures_per_address = 0", "failures_per_address: must be at least 1"),
        ("[security]\nfailure_window = 0", "failure_window: must be more than 0"),
        ('[admin]\naccounts = { alice = "hunter2" }', "'alice' is not an argon2id hash"),
        (
            '[admin]\naccounts = { alice = "$argon2i$v=19$m=65536,t=3,p=4'
            '$c2FsdHNhbHQ$aGFzaGhhc2g" }',
            "'alice' is not an argon2id hash",
        ),
        ("[admin]\naccounts = { alice = 5 }", "expected a table of names to strings"),
        ('[admin]\naccounts = ["alice"]', "expected a table of names to strings"),
    ],
)
def test_wrong_security_settings(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("$", r"\$")):
        load_config(write(tmp_path, text + "\n"), environ={})


def test_admin_accounts_in_both_table_forms(tmp_path: Path, cheap_hash: str) -> None:
    inline = load_config(
        write(tmp_path, f'[admin]\naccounts = {{ alice = "{cheap_hash}" }}\n'), environ={}
    )
    table = load_config(write(tmp_path, f'[admin.accounts]\nalice = "{cheap_hash}"\n'), environ={})
    assert inline.admin.accounts == table.admin.accounts == {"alice": cheap_hash}
    assert Config().admin.accounts == {}


def test_admin_accounts_cannot_come_from_the_environment() -> None:
    with pytest.raises(
        ConfigError, match="LURKCOIN_ADMIN_ACCOUNTS: .*cannot be set from the environment"
    ):
        load_config(None, environ={"LURKCOIN_ADMIN_ACCOUNTS": "alice=x"})


# -- admin passwords ----------------------------------------------------------------------------


def test_verify_admin(cheap_hash: str) -> None:
    config = Config()
    config.admin.accounts = {"alice": cheap_hash}
    assert verify_admin(config, "alice", "correct horse")
    assert not verify_admin(config, "alice", "correct horse!")
    assert not verify_admin(config, "Alice", "correct horse")
    assert not verify_admin(config, "bob", "correct horse")
    assert not verify_admin(config, "", "")
    assert not verify_admin(Config(), "alice", "correct horse")


def test_unknown_users_cost_as_much_as_known_ones(cheap_hash: str) -> None:
    config = Config()
    config.admin.accounts = {"alice": cheap_hash}
    admin_passwords.warm_up(config)
    dummy = admin_passwords._dummy_hash(cheap_hash)
    assert extract_parameters(dummy) == extract_parameters(cheap_hash)
    assert dummy != cheap_hash


def test_hash_password_is_argon2id() -> None:
    hashed = hash_password("a long enough password")
    assert hashed.startswith("$argon2id$")
    config = Config()
    config.admin.accounts = {"root": hashed}
    assert verify_admin(config, "root", "a long enough password")


# -- the CLI commands -----------------------------------------------------------------------------


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_hash_password_from_stdin(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\nignored\n"))
    status, out, err = cli("hash-password")
    assert (status, err) == (0, "")
    hashed = out.strip()
    assert out.count("\n") == 1 and hashed.startswith("$argon2id$")
    assert PasswordHasher().verify(hashed, "correct horse battery")


def test_hash_password_on_a_terminal_asks_twice(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("sys.stdin", FakeTty())
    answers = iter(["tr0ub4dor&3", "tr0ub4dor&3"])
    monkeypatch.setattr(security_cli.getpass, "getpass", lambda prompt: next(answers))
    status, out, _ = cli("hash-password")
    assert status == 0
    # What it prints pastes into [admin] accounts as is.
    config = load_config(write(tmp_path, f'[admin.accounts]\nroot = "{out.strip()}"\n'), environ={})
    assert verify_admin(config, "root", "tr0ub4dor&3")

    answers = iter(["tr0ub4dor&3", "tr0ub4dor&4"])
    status, out, err = cli("hash-password")
    assert (status, out) == (2, "") and "the two passwords differ" in err


def test_hash_password_refuses_short_passwords(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    status, out, err = cli("hash-password")
    assert (status, out) == (2, "") and "at least 8 characters" in err


def test_api_key_commands(cli: Cli) -> None:
    cli.create("Alpha")
    status, out, _ = cli("api-key", "list", "alpha")
    assert status == 0 and "has no API keys" in out
    status, out, _ = cli(
        "api-key",
        "create",
        "alpha",
        "--scope",
        "balance",
        "--scope",
        "history",
        "--label",
        "grafana",
    )
    assert status == 0 and "scopes balance,history, label 'grafana'" in out
    key = out.splitlines()[-1]
    assert key.startswith("lk_")
    status, out, _ = cli("api-key", "list", "ALPHA")
    assert status == 0 and key not in out
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "PREFIX", "SCOPES", "CREATED", "LABEL"]
    assert lines[1].split()[0] == "1" and lines[1].split()[2] == "balance,history"
    assert key[:10] + "..." in lines[1] and lines[1].endswith("grafana")

    status, _, err = cli("api-key", "revoke", "alpha", "2")
    assert status == 2 and "'Alpha' has no API key 2" in err
    status, out, _ = cli("api-key", "revoke", "alpha", "1")
    assert status == 0 and "Revoked API key 1" in out
    status, _, err = cli("api-key", "create", "nobody", "--scope", "balance")
    assert status == 2 and "no server named 'nobody'" in err


def test_api_key_create_needs_a_known_scope(cli: Cli) -> None:
    assert cli("api-key", "create", "alpha", "--scope", "pay").status == 2  # a usage error
    assert cli("api-key", "create", "alpha").status == 2


def test_regenerate_token_keeps_the_old_one_unless_told(cli: Cli) -> None:
    old = cli.create("Alpha")
    status, out, _ = cli("regenerate-token", "alpha")
    new = out.splitlines()[-1]
    assert status == 0 and "keeps working until this one is first used" in out
    assert cli.authenticates("alpha", old) and cli.authenticates("alpha", new)

    status, out, _ = cli("regenerate-token", "alpha", "--revoke-old")
    newest = out.splitlines()[-1]
    assert status == 0 and "the old one no longer works" in out
    assert not cli.authenticates("alpha", old) and not cli.authenticates("alpha", new)
    assert cli.authenticates("alpha", newest)
