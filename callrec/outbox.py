"""The delivery outbox: one Delivery row per finished recording, written in the recording's transaction.

The controller calls `enqueue` while finalising a recording; the delivery worker (callrec.delivery) claims
pending rows. A recording that must not be mailed still gets a row, marked skipped with the reason, so an
admin can always answer "why did this account get no email?". A skipped row stays skipped: turning
RecordsDelivery.Enabled on later does not mail old recordings (only "send again" does, one at a time).
"""
from __future__ import annotations

from .errors import Conflict
from .models import Delivery, Recording, get_settings, utcnow
from .policy import EffectivePolicy

INTERRUPTED_REASON = "interrupted"  # keep in step with callrec.delivery.claim.INTERRUPTED_REASON


class RequeueRefused(Conflict):
    """'Send again' is not possible now (no recipient under the current policy, or a send in progress)."""

    error_id = "requeue-refused"


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
    """'Send again': make a delivery pending now, to the recipient of the account's current policy.

    Raises RequeueRefused when the recording is not complete, the account is gone, its current policy
    gives no recipient (the reason says why), or a worker is sending it right now. The caller commits.
    A resend is a new message (new Message-ID), except after an interrupted send that may have been
    delivered: that one keeps its Message-ID, so a receiver that deduplicates shows it once.
    """
    now = utcnow()
    if delivery.status == "sending" and delivery.lease_until is not None and delivery.lease_until > now:
        raise RequeueRefused("the recording is being sent right now")
    recording = delivery.recording
    if recording is None or recording.status != "completed":
        status = recording.status.replace("_", " ") if recording is not None else "deleted"
        raise RequeueRefused(f"the recording is {status}; there is nothing to send")
    account = recording.account
    if account is None:
        raise RequeueRefused("the account no longer exists")
    policy = account.effective_policy(get_settings())
    if policy.email_recipient is None:
        raise RequeueRefused(f"no email can be sent: {policy.email_block_reason}")
    if delivery.reason != INTERRUPTED_REASON:
        delivery.message_id = ""  # the worker assigns a fresh one when it claims the row
    delivery.recipient = policy.email_recipient
    delivery.status, delivery.reason, delivery.last_error = "pending", "", ""
    delivery.attempts = 0  # the attempt log keeps the history
    delivery.next_attempt_at = now
    delivery.lease_owner, delivery.lease_until = "", None
