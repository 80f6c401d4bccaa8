"""Retry rules for SMTP failures (pure): which errors are worth another attempt, and when."""
from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import timedelta

MAX_RETRY_DELAY = timedelta(hours=6)


@dataclass(frozen=True)
class SendFailure:
    """An SMTP failure as the outbox records it: permanent (5xx about this message) or worth a retry."""

    permanent: bool
    error: str


def retry_delay(attempts: int, base_seconds: int, cap: timedelta = MAX_RETRY_DELAY) -> timedelta:
    """Exponential backoff: base after the first failed attempt, doubling after each one, capped."""
    exponent = max(attempts - 1, 0)
    if exponent > 30:  # 2**30 times any base is far beyond the cap
        return cap
    return min(timedelta(seconds=base_seconds * 2 ** exponent), cap)


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {' '.join(text.split())}".strip()


def classify(exc: BaseException) -> SendFailure:
    """Map an exception from an SMTP send onto a retryable or permanent failure with a readable error.

    5xx replies to MAIL, RCPT or DATA are about this message: permanent. 5xx replies while opening the
    session (greeting, HELO, AUTH) and TLS problems are configuration problems that an admin fixes once for
    every message: they are retried, so the backlog goes out when the configuration is right.
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = list(exc.recipients.items())
        permanent = bool(replies) and all(500 <= code < 600 for _rcpt, (code, _text) in replies)
        detail = "; ".join(f"{rcpt}: {_reply(code, text)}" for rcpt, (code, text) in replies)
        return SendFailure(permanent, f"recipient refused: {detail}")
    if isinstance(exc, (smtplib.SMTPAuthenticationError, smtplib.SMTPHeloError, smtplib.SMTPConnectError)):
        return SendFailure(False, f"SMTP session refused: {_reply(exc.smtp_code, exc.smtp_error)}")
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return SendFailure(500 <= exc.smtp_code < 600, f"sender refused: {_reply(exc.smtp_code, exc.smtp_error)}")
    if isinstance(exc, smtplib.SMTPDataError):
        return SendFailure(500 <= exc.smtp_code < 600, f"message refused: {_reply(exc.smtp_code, exc.smtp_error)}")
    if isinstance(exc, smtplib.SMTPResponseException):
        return SendFailure(500 <= exc.smtp_code < 600, f"SMTP error: {_reply(exc.smtp_code, exc.smtp_error)}")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return SendFailure(False, f"SMTP server disconnected: {exc}" if str(exc) else "SMTP server disconnected")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return SendFailure(False, f"SMTP server does not support a required extension: {exc}")
    if isinstance(exc, ssl.SSLError):
        return SendFailure(False, f"TLS failed: {exc}")
    if isinstance(exc, TimeoutError):
        return SendFailure(False, "SMTP server timed out")
    if isinstance(exc, ConnectionRefusedError):
        return SendFailure(False, "connection to the SMTP server refused")
    if isinstance(exc, smtplib.SMTPException):  # before OSError: SMTPException is an OSError
        return SendFailure(False, f"SMTP error: {exc}")
    if isinstance(exc, OSError):
        return SendFailure(False, f"network error: {exc}")
    return SendFailure(True, f"{type(exc).__name__}: {exc}")
