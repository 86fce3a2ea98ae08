"""lurkcoin: a durable, fast, drop-in lurkcoinV3 payment server."""

__version__ = "0.1.0"
