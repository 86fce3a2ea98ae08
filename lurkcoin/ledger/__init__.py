"""The ledger engine: every money rule, run as single-transaction operations."""

from lurkcoin.ledger.engine import Ledger
from lurkcoin.store.health import DISK_FULL
from lurkcoin.store.migrate import SchemaTooNew
from lurkcoin.store.reads import Backlog

# Also part of the ledger's interface, for callers that must not reach the store:
# SchemaTooNew is what Ledger.open raises on a database written by a newer
# lurkcoin; DISK_FULL is the problem Ledger.writes_blocked reports for a full disk;
# Backlog is what Ledger.backlog returns.
__all__ = ["DISK_FULL", "Backlog", "Ledger", "SchemaTooNew"]
