"""The HTTP side of lurkcoin: the lurkcoinV3 API on aiohttp."""

from lurkcoin.api.app import LEDGER_KEY, create_app

__all__ = ["LEDGER_KEY", "create_app"]
