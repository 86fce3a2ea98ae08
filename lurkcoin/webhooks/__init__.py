"""Webhooks: tell a game server to poll when a transaction enters its pending queue."""

from lurkcoin.store.webhooks import DeliveryState
from lurkcoin.webhooks.dispatcher import (
    DISPATCHER_KEY,
    WebhookDispatcher,
    webhook_context,
)
from lurkcoin.webhooks.signing import new_signing_secret
from lurkcoin.webhooks.status import (
    delivery_states,
    remove_secret,
    render_delivery_states,
    rotate_secret,
    set_webhook,
)

__all__ = [
    "DISPATCHER_KEY",
    "DeliveryState",
    "WebhookDispatcher",
    "delivery_states",
    "new_signing_secret",
    "remove_secret",
    "render_delivery_states",
    "rotate_secret",
    "set_webhook",
    "webhook_context",
]
