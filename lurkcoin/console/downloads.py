"""Streamed downloads: a search as CSV, the lurkcoin-core backup and a SQLite copy.

Each is written to the client piece by piece, so memory stays flat however
large the ledger is: the CSV pages through the search a thousand rows at a
time, the JSON backup one server at a time, the SQLite copy is made with
SQLite's online backup into a temporary file and sent in chunks.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
from datetime import UTC, datetime

from aiohttp import web

from lurkcoin.console.guard import render, requires
from lurkcoin.console.pages import _search, ledger_of
from lurkcoin.core.money import render_json
from lurkcoin.models import Transaction

CHUNK = 1 << 16
CSV_COLUMNS = (
    "id",
    "time",
    "status",
    "source",
    "source_server",
    "target",
    "target_server",
    "amount",
    "sent_amount",
    "received_amount",
    "revertable",
    "refund_of",
    "refund_id",
    "refund_failed",
    "fee",
)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


async def _attachment(request: web.Request, name: str, kind: str) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": kind,
            "Content-Disposition": f'attachment; filename="{name}"',
        }
    )
    await response.prepare(request)
    return response


def _cell(value: object) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas: quote those."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_row(t: Transaction) -> list[object]:
    return [
        _cell(t.id),
        datetime.fromtimestamp(t.time, UTC).isoformat(),
        t.status,
        _cell(t.source),
        _cell(t.source_server),
        _cell(t.target),
        _cell(t.target_server),
        render_json(t.amount),
        render_json(t.sent_amount),
        render_json(t.received_amount),
        int(t.revertable),
        _cell(t.refund_of),
        _cell(t.refund_id),
        _cell(t.refund_failed),
        render_json(t.fee),
    ]


@requires("viewer")
async def transactions_csv(request: web.Request) -> web.StreamResponse:
    ledger = ledger_of(request)
    server_name = request.query.get("server", "").strip()
    server = ledger.server(server_name) if server_name else None
    search = _search(request, server.id if server is not None else None)
    response = await _attachment(request, f"transactions-{_stamp()}.csv", "text/csv")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    if not (server_name and server is None):
        # aclosing: a client that goes away mid-download ends the paging at once.
        async with contextlib.aclosing(ledger.all_matching(search)) as batches:
            async for batch in batches:
                for t in batch:
                    writer.writerow(_csv_row(t))
                await response.write(buffer.getvalue().encode("utf-8"))
                buffer.seek(0)
                buffer.truncate()
    await response.write(buffer.getvalue().encode("utf-8"))
    await response.write_eof()
    return response


@requires("owner")
async def backup_page(request: web.Request) -> web.StreamResponse:
    return render("backup.html", request, {})


@requires("owner")
async def backup_json(request: web.Request) -> web.StreamResponse:
    """lurkcoin-core's backup format; `lurkcoin import` (or lurkcoin-core) reads it back."""
    response = await _attachment(request, f"lurkcoin-backup-{_stamp()}.json", "application/json")
    # aclosing: a client that goes away mid-download ends the snapshot at once.
    async with contextlib.aclosing(ledger_of(request).export_backup_parts()) as parts:
        async for part in parts:
            await response.write(part.encode("utf-8"))
    await response.write_eof()
    return response


@requires("owner")
async def backup_sqlite(request: web.Request) -> web.StreamResponse:
    """A consistent copy of the database file (SQLite's online backup), streamed."""
    ledger = ledger_of(request)
    # Beside the database: /tmp may be a small RAM disk.
    where = os.path.dirname(os.path.abspath(ledger.config.database.path))
    fd, path = tempfile.mkstemp(prefix=".lurkcoin-backup-", suffix=".sqlite3", dir=where)
    os.close(fd)
    try:
        await ledger.backup_copy(path)
        response = await _attachment(
            request, f"lurkcoin-{_stamp()}.sqlite3", "application/vnd.sqlite3"
        )
        with open(path, "rb") as copy:
            while chunk := copy.read(CHUNK):
                await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        os.unlink(path)
