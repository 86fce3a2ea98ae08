"""The lurkcoinV2 texts: legacy ids, Go-style quoting, transaction texts and history lines.

Pure functions of a transaction and a server's state (spec lurkcoin-v2.md,
"Formats"); the V2 endpoints put them on the wire unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

from lurkcoin.core.money import format_balance
from lurkcoin.models import Transaction

# Legacy ids are 1 .. 9,999,999.
_LEGACY_MODULUS = 9_999_999
# History lines come from this many newest transactions; a shorter list gets
# the "Account created" line appended.
HISTORY_TRANSACTIONS = 10
ACCOUNT_CREATED = "\u00a40.00: Account created"

_NAMED_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    '"': '\\"',
    "\\": "\\\\",
}


def legacy_id(txn_id: str) -> int:
    """The V2 numeric id: the id's ASCII bytes as one big-endian integer, mod 9,999,999, plus 1.

    Non-ASCII characters (never in ids we make) are read as their UTF-8 bytes.
    """
    return int.from_bytes(txn_id.encode("utf-8"), "big") % _LEGACY_MODULUS + 1


def _escape_char(char: str) -> str:
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    # str.isprintable() is Go's unicode.IsPrint: letters, marks, numbers,
    # punctuation, symbols and the ASCII space.
    if char.isprintable():
        return char
    code = ord(char)
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def go_quote(text: str) -> str:
    """``text`` in double quotes, escaped as Go's strconv.Quote (printable non-ASCII kept)."""
    return '"' + "".join(_escape_char(c) for c in text) + '"'


def history_quote(text: str) -> str:
    """Go quoting, but in single quotes when ``text`` holds neither kind of quote."""
    quoted = go_quote(text)
    if '"' in text or "'" in text:
        return quoted
    return "'" + quoted[1:-1] + "'"


def two_decimals(cents: int) -> str:
    """``1234.50``, ``-0.50``: two decimals, no grouping, no currency sign."""
    whole, frac = divmod(abs(cents), 100)
    return f"{'-' if cents < 0 else ''}{whole}.{frac:02d}"


def transaction_text(t: Transaction) -> str:
    """The V2 description of a transaction, as get_transactions sends it."""
    return (
        f"[{t.id}] {format_balance(t.amount)} "
        f"(sent {two_decimals(t.sent_amount)}, received {two_decimals(t.received_amount)}) "
        f"- Transaction from {go_quote(t.source)} on {go_quote(t.source_server)} "
        f"to {go_quote(t.target)} on {go_quote(t.target_server)}."
    )


def _signed(cents: int, sign: str) -> str:
    """``+¤1.00`` / ``-¤1.00``; the reference writes the sign before the formatted amount."""
    return sign + format_balance(cents)


def history_lines(server_name: str, balance: int, newest_first: Sequence[Transaction]) -> list[str]:
    """The V2 history of a server, from its newest transactions and current balance.

    A running balance starts at the current one and is walked back through
    each transaction; a payment to oneself gives two lines. Transactions are
    matched by the server's exact name, as the reference does.
    """
    lines: list[str] = []
    running = balance
    for t in newest_first:
        if t.target_server == server_name:
            if not t.source_server and not t.target:
                detail = t.source
            else:
                detail = (
                    f"Transaction from {history_quote(t.source_server)} "
                    f"to {history_quote(t.target)}."
                )
            lines.append(f"{format_balance(running)}: {_signed(t.amount, '+')} - {detail}")
            running -= t.amount
        if t.source_server == server_name:
            lines.append(
                f"{format_balance(running)}: {_signed(t.amount, '-')} - Transaction to "
                f"{history_quote(t.target)} on {history_quote(t.target_server)}."
            )
            running += t.amount
    if len(lines) < HISTORY_TRANSACTIONS:
        lines.append(ACCOUNT_CREATED)
    return lines


def pending_entry_target(target: str) -> str:
    """A pending entry's user name in get_transactions: ``¤`` becomes ``_``."""
    return target.replace("\u00a4", "_")


def simple_line(rate: str, t: Transaction) -> str:
    """The ``simple`` form of the first pending transaction: fields joined by ``|``."""
    target = pending_entry_target(t.target).replace("|", "/")
    text = transaction_text(t).replace("|", "/")
    return f"{rate}|{legacy_id(t.id)}|{target}|{two_decimals(t.received_amount)}|{text}"
