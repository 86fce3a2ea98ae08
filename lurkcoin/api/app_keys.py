"""The typed keys under which the app keeps its shared objects."""

from __future__ import annotations

from aiohttp import web

from lurkcoin.ledger import Ledger

LEDGER_KEY = web.AppKey("ledger", Ledger)
