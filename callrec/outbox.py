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


def delivery_decision(recording_status: str, policy: EffectivePolicy | None) -> tuple[str, str, str]:
    """(status, recipient, reason) of the Delivery row of a finalised recording: "pending" with the recipient,
    or "skipped" with the reason. Pure: shared by `enqueue` (ORM) and the controller's bulk writes (Core)."""
    if recording_status != "completed":
        return "skipped", "", f"recording {recording_status.replace('_', ' ')}"
    if policy is None:
        return "skipped", "", "the account no longer exists"
    if policy.email_recipient is None:
        return "skipped", "", policy.email_block_reason or "no recipient"
    return "pending", policy.email_recipient, ""


def delivery_values(recording_status: str, policy: EffectivePolicy | None, now) -> dict:
    """The Delivery row's column values (without recording_id) for `delivery_decision`; pending rows are due
    `now`, skipped rows never."""
    status, recipient, reason = delivery_decision(recording_status, policy)
    return dict(status=status, recipient=recipient, reason=reason, attempts=0, created_at=now,
                next_attempt_at=now if status == "pending" else None)


def enqueue(session, recording: Recording, policy: EffectivePolicy | None) -> Delivery:
    """Add (not commit) the Delivery row for a finalised recording, pending or skipped with the reason."""
    delivery = Delivery(recording=recording, **delivery_values(recording.status, policy, utcnow()))
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
