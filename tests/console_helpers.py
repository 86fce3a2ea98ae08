"""A console client for tests: a cookie jar and forms posted as a browser posts them."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from lurkcoin.api.admin_passwords import hash_password
from lurkcoin.config import Config

PASSWORD = "correct horse battery"


@functools.lru_cache(maxsize=1)
def password_hash() -> str:
    return hash_password(PASSWORD)  # one argon2id hash for every test account


def console_config(db: Path, roles: Mapping[str, str] | None = None) -> Config:
    """alice (owner), olga (operator) and victor (viewer), all with PASSWORD."""
    config = Config()
    config.database.path = str(db)
    config.admin.accounts = {u: password_hash() for u in ("alice", "olga", "victor")}
    config.admin.roles = dict(roles or {"olga": "operator", "victor": "viewer"})
    return config


@dataclass
class Page:
    status: int
    text: str
    headers: Mapping[str, str]

    def csrf(self) -> str:
        found = re.search(r'name="csrf" value="([^"]*)"', self.text)
        assert found, self.text[:500]
        return found.group(1)


class ConsoleClient:
    """One browser: its own cookie jar."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def close(self) -> None:
        await self.session.close()

    async def get(self, path: str, *, follow: bool = True) -> Page:
        async with self.session.get(self.base + path, allow_redirects=follow) as r:
            return Page(r.status, await r.text(), r.headers)

    async def post(
        self, path: str, data: Mapping[str, object], *, csrf: bool = True, follow: bool = False
    ) -> Page:
        form = aiohttp.FormData()
        if csrf:
            form.add_field("csrf", self.csrf)
        for key, value in data.items():
            for item in value if isinstance(value, list) else [value]:
                form.add_field(key, str(item))
        async with self.session.post(self.base + path, data=form, allow_redirects=follow) as r:
            return Page(r.status, await r.text(), r.headers)

    async def login(self, user: str, password: str = PASSWORD, *, follow: bool = True) -> Page:
        form = await self.get("/admin/login")
        token = re.search(r'name="login_token" value="([^"]+)"', form.text)
        assert token, form.text
        page = await self.post(
            "/admin/login",
            {"user": user, "password": password, "login_token": token.group(1)},
            csrf=False,
            follow=follow,
        )
        if page.status == 200 and 'name="csrf"' in page.text:
            self.csrf = page.csrf()
        return page
