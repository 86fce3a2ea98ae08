"""The operator's console at /admin: server-rendered pages over the Ledger.

Enabled when ``[admin] accounts`` is not empty; ``add_console`` mounts it on
the API's app. See lurkcoin.console.guard for who may do what.
"""

from lurkcoin.console.app import add_console

__all__ = ["add_console"]
