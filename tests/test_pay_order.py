"""/v3/pay checks in the order lurkcoin.ledger.pay_order writes down: one test per position.

Each request fails the position under test and every later one it can, so
the answer shows that this position is checked first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from auth_helpers import Bank, basic, start_bank
from live_server import StartServer

from lurkcoin.core.names import MAX_USERNAME_LENGTH
from lurkcoin.ledger.pay_order import PAY_ORDER, TOO_LARGE, PaymentDraft, Step

LONG = "x" * (MAX_USERNAME_LENGTH + 1)
BAD_KEY = "k" * 300  # over 255 characters
USED_KEY = "order-test-key"

# Everything from position 3 on fails in this body (no amount, unknown server, long names).
FAILS_FROM_4 = {"source": LONG, "target": LONG, "target_server": "Nowhere"}

# position -> (body, use the right token, headers, expected error)
CASES: dict[int, tuple[Any, bool, dict[str, str], str]] = {
    1: (["not an object"], False, {"Idempotency-Key": BAD_KEY}, "ERR_INVALIDREQUEST"),
    2: (FAILS_FROM_4, False, {"Idempotency-Key": BAD_KEY}, "ERR_INVALIDLOGIN"),
    3: (FAILS_FROM_4, True, {"Idempotency-Key": BAD_KEY}, "ERR_INVALIDIDEMPOTENCYKEY"),
    4: (FAILS_FROM_4, True, {}, "ERR_INVALIDAMOUNT"),
    5: (FAILS_FROM_4 | {"amount": "1e5000"}, True, {}, "ERR_TRANSACTIONLIMIT"),
    6: (FAILS_FROM_4 | {"amount": 0}, True, {}, "ERR_SERVERNOTFOUND"),
    7: (
        {"source": LONG, "target": LONG, "target_server": "Bravo", "amount": 0},
        True,
        {"Idempotency-Key": USED_KEY},
        "ERR_SOURCEUSERNAMETOOLONG",
    ),
    8: (
        {"source": "a", "target": LONG, "target_server": "Bravo", "amount": 0},
        True,
        {"Idempotency-Key": USED_KEY},
        "ERR_USERNAMETOOLONG",
    ),
    9: (
        {"source": "a", "target": "b", "target_server": "Bravo", "amount": 0},
        True,
        {"Idempotency-Key": USED_KEY},
        "ERR_IDEMPOTENCYKEYREUSED",
    ),
    10: (
        {"source": "a", "target": "b", "target_server": "Bravo", "amount": 0},
        True,
        {},
        "ERR_CANNOTPAYNOTHING",
    ),
}


def test_every_position_has_a_case() -> None:
    assert [step.position for step in PAY_ORDER] == sorted(CASES) == list(range(1, 11))


@pytest.mark.parametrize("step", PAY_ORDER, ids=lambda step: f"position-{step.position}")
async def test_the_first_failing_position_answers(
    serve: StartServer, tmp_path: Path, step: Step
) -> None:
    bank: Bank = await start_bank(serve, tmp_path)
    body, logged_in, headers, expected = CASES[step.position]
    assert expected in step.errors
    auth = bank.auth("Alpha") if logged_in else basic("Alpha", "wrong token")
    async with bank.client() as client:
        # The key is used once with another request, for positions 7 to 9.
        first = {"source": "a", "target": "b", "target_server": "Bravo", "amount": 1}
        used = await client.call(
            "POST", "/v3/pay", bank.auth("Alpha"), body=first, headers={"Idempotency-Key": USED_KEY}
        )
        assert used.status == 200, used.body
        reply = await client.call("POST", "/v3/pay", auth, body=body, headers=headers)
    assert reply.error == expected


def test_a_draft_shows_an_unrepresentable_amount_by_name() -> None:
    """What a log line or a failing assertion prints for a draft with a huge amount."""
    draft = PaymentDraft("a", "b", "Bravo", TOO_LARGE, False, None)
    assert "amount=TOO_LARGE" in repr(draft)
