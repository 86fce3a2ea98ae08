"""Persistence: every SQL statement of the program lives in this package."""
