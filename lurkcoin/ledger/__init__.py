"""The ledger engine: every money rule, run as single-transaction operations."""

from lurkcoin.ledger.engine import Ledger

__all__ = ["Ledger"]
