"""Webhooks: tell a game server to poll when a transaction enters its pending queue."""

from lurkcoin.models import DeliveryState
from lurkcoin.webhooks.dispatcher import (
    DISPATCHER_KEY,
    WebhookDispatcher,
    webhook_context,
)
from lurkcoin.webhooks.signing import new_signing_secret
from lurkcoin.webhooks.status import render_delivery_states

__all__ = [
    "DISPATCHER_KEY",
    "DeliveryState",
    "WebhookDispatcher",
    "new_signing_secret",
    "render_delivery_states",
    "webhook_context",
]
