"""redact: a PostgreSQL URL as logs, banners and metrics show it, never with its password."""

from __future__ import annotations

import pytest

from lurkcoin.core.database_url import redact


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("", ""),
        ("postgresql://127.0.0.1/lk", "postgresql://127.0.0.1/lk"),
        ("postgresql://alice@127.0.0.1/lk", "postgresql://alice@127.0.0.1/lk"),
        ("postgresql://alice:s3cret@127.0.0.1:5432/lk", "postgresql://alice:***@127.0.0.1:5432/lk"),
        # Only the first ":" separates the user: the rest is password, however it reads.
        ("postgresql://alice:a:b@c@db.example/lk", "postgresql://alice:***@db.example/lk"),
        # An empty password is still hidden (it tells a reader there is one).
        ("postgresql://alice:@127.0.0.1/lk", "postgresql://alice:***@127.0.0.1/lk"),
        (
            "postgresql://127.0.0.1/lk?sslmode=require&password=hunter2&application_name=x",
            "postgresql://127.0.0.1/lk?sslmode=require&password=***&application_name=x",
        ),
        ("postgresql://127.0.0.1/lk?PASSWORD=hunter2", "postgresql://127.0.0.1/lk?PASSWORD=***"),
        ("postgresql://h/lk?password=a#frag", "postgresql://h/lk?password=***#frag"),
        # The key=value (conninfo) form.
        ("host=127.0.0.1 dbname=lk", "host=127.0.0.1 dbname=lk"),
        ("host=127.0.0.1 password=hunter2 dbname=lk", "host=127.0.0.1 password=*** dbname=lk"),
        ("host=h password = 'two words' dbname=lk", "host=h password = *** dbname=lk"),
        ("host=h password='it\\'s' dbname=lk", "host=h password=*** dbname=lk"),
        ("host=h Password=x", "host=h Password=***"),
        # A URL that cannot be split says only what it is.
        ("postgresql://[::1/lk", "postgresql://…"),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown
