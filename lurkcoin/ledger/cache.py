"""The in-memory map of live servers: authentication and balance reads never touch disk.

The single writer refreshes it after each COMMIT with the rows that batch
changed, so it never shows uncommitted money.
"""

from __future__ import annotations

from lurkcoin.core.names import server_uid
from lurkcoin.models import BatchOutcome, Server


class ServerCache:
    def __init__(self) -> None:
        self._by_uid: dict[str, Server] = {}
        self._by_id: dict[int, Server] = {}

    def load(self, servers: list[Server]) -> None:
        self._by_uid.clear()
        self._by_id.clear()
        self._put_all(servers)

    def _put_all(self, servers: list[Server]) -> None:
        for server in servers:
            old = self._by_id.get(server.id)
            if old is not None and old.uid != server.uid:
                self._by_uid.pop(old.uid, None)
            self._by_id[server.id] = server
            if server.kind == "server":
                self._by_uid[server.uid] = server

    def apply(self, outcome: BatchOutcome) -> None:
        for server_id in outcome.deleted_server_ids:
            old = self._by_id.pop(server_id, None)
            if old is not None and self._by_uid.get(old.uid) is old:
                del self._by_uid[old.uid]
        if outcome.full:  # another process wrote: replace everything
            self.load(outcome.servers)
        else:
            self._put_all(outcome.servers)

    def put(self, server: Server) -> None:
        """Replace one server ahead of the commit that will confirm it."""
        self._put_all([server])

    def by_name(self, name: str) -> Server | None:
        """Look a game server up by any spelling of its name."""
        return self._by_uid.get(server_uid(name))

    def by_id(self, server_id: int) -> Server | None:
        return self._by_id.get(server_id)

    def servers(self) -> list[Server]:
        return sorted(self._by_uid.values(), key=lambda s: s.id)
