"""The error bodies every API answers with, and the 503 that says 'try again later'."""

from __future__ import annotations

import pytest

from lurkcoin.core.errors import LurkcoinError, ServiceUnavailable, error_body
from lurkcoin.ledger.batches import BatchItemError


def test_details_come_last() -> None:
    err = LurkcoinError("ERR_INVALIDPARAMETER", details="limit: 1 to 100")
    assert list(error_body(err).items()) == [
        ("error", "ERR_INVALIDPARAMETER"),
        ("message", "Invalid query parameters."),
        ("success", False),
        ("details", "limit: 1 to 100"),
    ]
    assert str(err) == "ERR_INVALIDPARAMETER: Invalid query parameters."


def test_a_failed_batch_payment_names_its_index_before_the_message() -> None:
    err = BatchItemError(0, LurkcoinError("ERR_CANNOTAFFORD"))
    assert list(error_body(err).items()) == [
        ("error", "ERR_CANNOTAFFORD"),
        ("index", 0),
        ("message", "Payment 0: You cannot afford to do that!"),
        ("success", False),
    ]
    assert error_body(BatchItemError(7, LurkcoinError("ERR_INVALIDAMOUNT")))["index"] == 7


def test_an_index_that_is_not_a_number_is_not_shown() -> None:
    err = LurkcoinError("ERR_INVALIDREQUEST")
    err.index = "3"  # type: ignore[attr-defined]
    assert "index" not in error_body(err)


@pytest.mark.parametrize(
    ("retry_after", "header"), [(0, "1"), (0.2, "1"), (1, "1"), (1.01, "2"), (29.5, "30")]
)
def test_service_unavailable(retry_after: float, header: str) -> None:
    err = ServiceUnavailable("the disk is full", retry_after)
    assert (err.status, err.headers) == (503, {"Retry-After": header})
    assert err.retry_after == int(header)
    assert err.reason == "the disk is full"
    # Old clients know ERR_INTERNALERROR; the reason stays in the logs.
    assert list(error_body(err).items()) == [
        ("error", "ERR_INTERNALERROR"),
        ("message", "The ledger cannot record changes right now; try again later."),
        ("success", False),
    ]


def test_a_plain_error_carries_no_headers() -> None:
    assert LurkcoinError("ERR_INTERNALERROR").headers == {}
    assert LurkcoinError("ERR_INTERNALERROR").status == 500
