"""systemd's notification protocol (sd_notify), for ``Type=notify`` units.

When systemd starts lurkcoin it sets ``NOTIFY_SOCKET``; lurkcoin then says
``READY=1`` once it listens, ``STOPPING=1`` when a shutdown begins, and, if
the unit sets ``WatchdogSec=`` (``WATCHDOG_USEC``), ``WATCHDOG=1`` at half
that interval for as long as the writer answers, so a stuck server is
restarted. Without ``NOTIFY_SOCKET`` every call does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        # "@name" is a socket in the abstract namespace.
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self.watchdog_interval: float | None = None
        usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_interval = int(usec) / 1_000_000 / 2

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, message: str) -> None:
        if not self.address:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message.encode("utf-8"), self.address)
        except OSError as exc:  # systemd went away: nothing to tell
            log.warning("could not notify systemd (%s): %s", message.split("=")[0], exc)

    async def watchdog(self, alive: Callable[[], Awaitable[bool]]) -> None:
        """Ping the watchdog while ``alive()`` says so; runs until cancelled."""
        if self.watchdog_interval is None or not self.address:
            return
        while True:
            with contextlib.suppress(Exception):
                if await asyncio.wait_for(alive(), self.watchdog_interval):
                    self.notify("WATCHDOG=1")
            await asyncio.sleep(self.watchdog_interval)
