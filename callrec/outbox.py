"""The delivery outbox: one Delivery row per finished recording, written in the recording's transaction.

The controller calls `enqueue` while finalising a recording; the delivery worker (callrec.delivery) claims
pending rows. A recording that must not be mailed still gets a row, marked skipped with the reason, so an
admin can always answer "why did this account get no email?".
"""
from __future__ import annotations

from .models import Delivery, Recording, utcnow
from .policy import EffectivePolicy


def enqueue(session, recording: Recording, policy: EffectivePolicy | None) -> Delivery:
    """Add (not commit) the Delivery row for a finalised recording, pending or skipped with the reason."""
    delivery = Delivery(recording=recording, attempts=0, created_at=utcnow())
    if recording.status != "completed":
        delivery.status, delivery.reason = "skipped", f"recording {recording.status.replace('_', ' ')}"
        delivery.next_attempt_at = None
    elif policy is None:
        delivery.status, delivery.reason = "skipped", "the account no longer exists"
        delivery.next_attempt_at = None
    elif policy.email_recipient is None:
        delivery.status, delivery.reason = "skipped", policy.email_block_reason or "no recipient"
        delivery.next_attempt_at = None
    else:
        delivery.status, delivery.recipient = "pending", policy.email_recipient
        delivery.next_attempt_at = utcnow()
    session.add(delivery)
    return delivery


def requeue(delivery: Delivery) -> None:
    """'Send again': make a delivery pending now, whatever happened before (caller commits)."""
    delivery.status = "pending"
    delivery.next_attempt_at = utcnow()
    delivery.lease_owner, delivery.lease_until = "", None
