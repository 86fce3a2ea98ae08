"""`lurkcoin export` streams the backup in keyset pages: byte for byte what it wrote before."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cli_helpers import Cli
from test_backup import initial_backup

from lurkcoin.ledger import Ledger

# The export of the golden initial state as `lurkcoin export` wrote it before it
# streamed (the whole document built in memory, then written): 4,015 bytes.
GOLDEN_EXPORT_BYTES = 4015
GOLDEN_EXPORT_SHA256 = "a1318479f854d2b9f2c9bd5299b49cd11e19f60a1fd301d039c22a537011c570"


def _digest(data: bytes) -> tuple[int, str]:
    return len(data), hashlib.sha256(data).hexdigest()


async def test_the_streamed_export_of_the_golden_state_is_unchanged(ledger: Ledger) -> None:
    await ledger.import_backup(initial_backup())
    for batch in (1, 2, 2000):  # pages of one transaction page through pending queues too
        text = "".join([p async for p in ledger.export_backup_parts(batch=batch)])
        assert _digest(text.encode()) == (GOLDEN_EXPORT_BYTES, GOLDEN_EXPORT_SHA256), batch


async def test_progress_counts_every_exported_transaction(ledger: Ledger) -> None:
    await ledger.import_backup(initial_backup())
    counted: list[int] = []
    async for _ in ledger.export_backup_parts(batch=1, progress=counted.append):
        pass
    records = json.loads(await ledger.export_backup())
    written = sum(len(r["history"]) + len(r["pending_transactions"]) for r in records)
    assert counted == [1] * written and written > 3
    assert await ledger.export_size() == written


def test_the_cli_writes_the_same_bytes_to_a_file_and_to_stdout(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "golden.json"
    source.write_text(json.dumps(initial_backup(), default=str), encoding="utf-8")
    cli.ok("import", str(source))
    exported = tmp_path / "export.json"
    assert cli.ok("export", str(exported)) == f"Exported 13 servers to {exported}.\n"
    assert _digest(exported.read_bytes()) == (GOLDEN_EXPORT_BYTES, GOLDEN_EXPORT_SHA256)
    assert _digest(cli.ok("export", "-").encode()) == (GOLDEN_EXPORT_BYTES, GOLDEN_EXPORT_SHA256)


async def test_a_long_pending_queue_is_paged(ledger: Ledger) -> None:
    """More pending payments than a page: all exported, oldest first, none twice."""
    alpha, _ = await ledger.create_server("Alpha", balance=10_000)
    await ledger.create_server("Bravo")
    for _ in range(7):
        await ledger.pay(
            alpha,
            source_user="a",
            target_user="b",
            target_server="bravo",
            amount=1,
            local_currency=False,
        )
    whole = json.loads("".join([p async for p in ledger.export_backup_parts(batch=1000)]))
    paged = json.loads("".join([p async for p in ledger.export_backup_parts(batch=3)]))
    assert paged == whole
    pending = [t["id"] for t in whole[1]["pending_transactions"]]
    assert len(pending) == len(set(pending)) == 7
    assert pending == [t.id for t in await ledger.pending(ledger.require_server("bravo"))]
