"""The invariant check (``lurkcoin check``), on the live ledger or on a copy of it.

Money neither appears nor vanishes: every balance is the sum of its
entries, all entries sum to zero, no balance is negative, each transaction
and adjustment is posted as it says, every rejection is refunded or marked
failed, the daily rollup matches the transactions, the audit chain is whole
and every dated row carries its transaction's time. The same function
checks a scheduled backup, opened read-only, before it is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from lurkcoin.core.money import format_balance
from lurkcoin.ledger import audit
from lurkcoin.models import Transaction
from lurkcoin.store import console as sql
from lurkcoin.store.copies import open_copy
from lurkcoin.store.reads import TOTALS_QUERIES, Reader

# Steps a check reports to its progress callback: the totals' queries, the rollup, the audit log.
CHECK_STEPS = TOTALS_QUERIES + 2

Step = Callable[[], None]


@dataclass
class CheckReport:
    """The invariant check: ``ok`` is False when money was lost or created."""

    problems: list[str] = field(default_factory=list)
    failed_refunds: list[Transaction] = field(default_factory=list)
    circulating: int = 0
    # The fee account's balance: exchange fees taken, less those refunded.
    fees_collected: int = 0
    audit_entries: int = 0
    servers: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _no_progress() -> None:
    return None


async def check_reader(
    reader: Reader, issuance_id: int, fees_id: int, step: Step | None = None
) -> CheckReport:
    """Run every invariant on what ``reader`` sees; ``step()`` after each of CHECK_STEPS."""
    step = step or _no_progress
    totals = await reader.totals(issuance_id, fees_id, step)
    report = CheckReport(failed_refunds=totals.failed_refunds)
    problems = report.problems
    for uid, stored, summed in totals.balance_mismatches:
        problems.append(
            f"{uid}: stored balance {format_balance(stored)} but its entries sum to "
            f"{format_balance(summed)}"
        )
    if totals.entries_total != 0:
        problems.append(f"ledger entries sum to {format_balance(totals.entries_total)}, not zero")
    if totals.balances_total != 0:
        problems.append(
            f"balances (with issuance) sum to {format_balance(totals.balances_total)}, not zero"
        )
    for uid, balance in totals.negative_balances:
        problems.append(f"{uid}: negative balance {format_balance(balance)}")
    if totals.unbalanced_postings:
        problems.append(f"{totals.unbalanced_postings} postings whose entries do not sum to zero")
    for txn_id in totals.misposted_transactions:
        problems.append(f"transaction {txn_id}: its entries are not its source paying its target")
    for adjustment_id in totals.misposted_adjustments:
        problems.append(f"adjustment #{adjustment_id}: its entries do not match its amount")
    if totals.orphan_entries:
        problems.append(f"{totals.orphan_entries} entries belong to no transaction or adjustment")
    for txn_id in totals.unrefunded_rejections:
        problems.append(f"transaction {txn_id}: rejected, but neither refunded nor marked failed")
    for txn_id in totals.broken_refunds:
        problems.append(f"transaction {txn_id}: its refund link does not lead to a refund of it")
    problems += rollup_messages(await sql.rollup_differences(reader))
    step()
    async with reader.snapshot() as snap:
        entries, breaks = await audit.verify(sql.audit_chain(snap))
    step()
    report.audit_entries = entries
    problems += [f"audit log entry #{b.entry_id}: {b.why}" for b in breaks]
    if totals.misdated_rows:
        problems.append(
            f"{totals.misdated_rows} ledger entries or history rows are not dated as "
            "the transaction or adjustment they record"
        )
    return report


def rollup_messages(differences: list[tuple[int, int]]) -> list[str]:
    """The rollup rows (server id, day) that disagree with the transactions, as problems."""
    return [
        f"daily rollup of {'all servers' if sid == 0 else f'server #{sid}'} on day {day} "
        "does not match its transactions"
        for sid, day in differences
    ]


async def check_copy(path: str, step: Step | None = None) -> CheckReport:
    """Open the database file at ``path`` read-only and check it (a backup before it is kept).

    Raises sqlite3.Error when the file is not a lurkcoin database.
    """
    reader, issuance_id, fees_id = await open_copy(path)
    try:
        report = await check_reader(reader, issuance_id, fees_id, step)
        servers = await reader.servers()
    finally:
        await reader.close()
    report.servers = len(servers)
    report.circulating = sum(s.balance for s in servers)
    return report
