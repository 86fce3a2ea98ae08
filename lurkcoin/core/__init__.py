"""Pure core of lurkcoin: money, names, exchange rates, URLs and errors (no I/O)."""
