"""Tests of webhook URL normalisation (lurkcoin.core.urls)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from golden_files import V3_TRANSCRIPT
from hypothesis import given
from hypothesis import strategies as st

from lurkcoin.core.errors import LurkcoinError
from lurkcoin.core.urls import MAX_WEBHOOK_URL_LENGTH, normalise_webhook_url

GOLDEN = V3_TRANSCRIPT


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("http://127.0.0.1:18999/lurkcoin", "http://127.0.0.1:18999/lurkcoin"),
        ("http://example.com", "http://example.com/lurkcoin"),
        ("http://example.com/", "http://example.com/lurkcoin"),
        ("https://x.y/a/", "https://x.y/a/lurkcoin"),
        ("https://x.y/a", "https://x.y/a/lurkcoin"),
        ("https://x.y/a/lurkcoin", "https://x.y/a/lurkcoin"),
        ("https://x.y/notlurkcoin", "https://x.y/notlurkcoin/lurkcoin"),
        ("HTTPS://x.y/hook?token=1#frag", "https://x.y/hook/lurkcoin"),
        ("Http://Example.COM:8080/?q", "http://Example.COM:8080/lurkcoin"),
        ("http://[::1]:8000/cb", "http://[::1]:8000/cb/lurkcoin"),
        ("http://game.example.org./x%20y", "http://game.example.org./x%20y/lurkcoin"),
        ("https://x.y/~user/!", "https://x.y/~user/!/lurkcoin"),  # "!" and "~" are the ends
    ],
)
def test_normalise_examples(url: str, normalised: str) -> None:
    assert normalise_webhook_url(url) == normalised


@pytest.mark.parametrize(
    "url",
    [
        "",
        "example.com",
        "example.com/lurkcoin",
        "ftp://example.com/",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "http://",
        "http:///path",
        "http:example.com",
        "http://:80/",
        "http://user:pass@example.com/",
        "http://user@example.com/",
        "http://example.com:99999/",
        "http://example.com:port/",
        "http://[::1/",
        "http://[not-ipv6]/",
        "http://exa mple.com/",
        " http://example.com/",
        "http://example.com/\n",
        "http://ex\tample.com/",
        "http://ex<am>ple.com/",
        "http://a..b/",
        "http://\u00e9xample.com/",
        "http://example.com/" + "a" * MAX_WEBHOOK_URL_LENGTH,
        # Too long as sent, even though dropping the query would make it fit.
        "http://example.com/lurkcoin?" + "q" * MAX_WEBHOOK_URL_LENGTH,
        "http://[v1.fe80::a+en1]/",  # urlsplit takes an IPvFuture host; we do not
    ],
)
def test_invalid_urls_are_refused(url: str) -> None:
    with pytest.raises(LurkcoinError) as info:
        normalise_webhook_url(url)
    assert info.value.code == "ERR_INVALIDWEBHOOKURL"
    assert info.value.status == 400


def test_length_limit_applies_to_the_result() -> None:
    base = "http://example.com/"
    just_fits = base + "a" * (MAX_WEBHOOK_URL_LENGTH - len(base) - len("/lurkcoin"))
    assert len(normalise_webhook_url(just_fits)) == MAX_WEBHOOK_URL_LENGTH
    with pytest.raises(LurkcoinError):
        normalise_webhook_url(just_fits + "a")


def test_transcript_webhook_urls_are_already_normal() -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    servers = golden["header"]["initial_state"]["servers"]
    urls = [server["webhook_url"] for server in servers if server["webhook_url"]]
    assert urls
    for url in urls:
        assert normalise_webhook_url(url) == url


hosts = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z0-9]{1,8}){0,3}\Z")
paths = st.from_regex(r"\A(/[A-Za-z0-9._~%-]{0,8}){0,4}/?\Z")


@given(
    st.sampled_from(["http", "https", "HTTP", "hTtPs"]),
    hosts,
    st.none() | st.integers(min_value=1, max_value=65535),
    paths,
    st.from_regex(r"\A(\?[a-z=&]{0,8})?(#[a-z]{0,8})?\Z"),
)
def test_normalised_urls_are_stable(
    scheme: str, host: str, port: int | None, path: str, suffix: str
) -> None:
    netloc = host if port is None else f"{host}:{port}"
    url = f"{scheme}://{netloc}{path}{suffix}"
    normalised = normalise_webhook_url(url)
    parts = urlsplit(normalised)
    assert parts.scheme == scheme.lower()
    assert parts.netloc == netloc
    assert parts.path.endswith("/lurkcoin")
    assert parts.path.startswith(path)
    assert not parts.query and not parts.fragment
    assert normalise_webhook_url(normalised) == normalised


@given(st.text(max_size=60))
def test_only_lurkcoin_errors_escape(url: str) -> None:
    try:
        normalised = normalise_webhook_url(url)
    except LurkcoinError as err:
        assert err.code == "ERR_INVALIDWEBHOOKURL"
    else:
        assert normalised.endswith("/lurkcoin")


def test_a_url_of_exactly_the_limit_is_kept_as_it_is() -> None:
    base, suffix = "http://example.com/", "/lurkcoin"
    exact = base + "a" * (MAX_WEBHOOK_URL_LENGTH - len(base) - len(suffix)) + suffix
    assert len(exact) == MAX_WEBHOOK_URL_LENGTH
    assert normalise_webhook_url(exact) == exact
