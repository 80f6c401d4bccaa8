"""The "New call recording is available" email: bodies, attachment name and Message-ID (pure but for Flask-Mail's Message)."""
from __future__ import annotations

import html
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_mail import Message

SUBJECT = "New call recording is available"
ATTACHMENT_TYPE = "audio/wav"
DIRECTION_LABELS = {"outgoing": "Outgoing", "incoming": "Incoming", "redirected": "Redirected"}


@dataclass(frozen=True)
class CallFacts:
    """What the email tells about the call."""

    caller: str
    callee: str
    direction: str
    started_at: datetime  # aware
    duration_seconds: float | None


@dataclass(frozen=True)
class DownloadLink:
    url: str
    expires_at: datetime  # aware


def zone(name: str) -> ZoneInfo:
    """The settings' time zone, UTC when unset or unknown (a typo must not stop the mail)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _party(value: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9+]+", "_", value or "").strip("_")
    return cleaned[:40] or "unknown"


def attachment_filename(facts: CallFacts, tz: ZoneInfo) -> str:
    """A readable, safe file name: local date and time, then the parties (2026-11-25_1432_1000-to-1001.wav)."""
    local = facts.started_at.astimezone(tz)
    return f"{local:%Y-%m-%d_%H%M}_{_party(facts.caller)}-to-{_party(facts.callee)}.wav"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_time(value: datetime, tz: ZoneInfo) -> str:
    local = value.astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M:%S} ({tz.key})"


def _fields(facts: CallFacts, tz: ZoneInfo) -> list[tuple[str, str]]:
    return [
        ("Caller", facts.caller or "unknown"),
        ("Callee", facts.callee or "unknown"),
        ("Direction", DIRECTION_LABELS.get(facts.direction, facts.direction)),
        ("Start time", format_time(facts.started_at, tz)),
        ("Duration", format_duration(facts.duration_seconds)),
    ]


def render_bodies(facts: CallFacts, tz: ZoneInfo, filename: str, link: DownloadLink | None) -> tuple[str, str]:
    """Return (plain text, HTML) bodies; with a link, the recording is downloaded instead of attached."""
    fields = _fields(facts, tz)
    width = max(len(label) for label, _ in fields) + 1
    lines = ["A new call recording is available.", ""]
    lines += [f"{label + ':':<{width}} {value}" for label, value in fields]
    lines.append("")
    if link is None:
        lines.append(f"The recording is attached ({filename}).")
    else:
        lines += ["The recording is too large to attach. Download it here:", link.url,
                  f"The link expires on {format_time(link.expires_at, tz)}."]
    text = "\n".join(lines) + "\n"

    rows = "".join(f"<tr><th align=\"left\">{html.escape(label)}</th><td>{html.escape(value)}</td></tr>"
                   for label, value in fields)
    if link is None:
        tail = f"<p>The recording is attached ({html.escape(filename)}).</p>"
    else:
        url = html.escape(link.url, quote=True)
        tail = (f"<p>The recording is too large to attach: <a href=\"{url}\">download it</a>.<br>"
                f"The link expires on {html.escape(format_time(link.expires_at, tz))}.</p>")
    body_html = ("<!DOCTYPE html><html><body><p>A new call recording is available.</p>"
                 f"<table>{rows}</table>{tail}</body></html>")
    return text, body_html


def message_id_for(delivery_id: int, sender: str) -> str:
    """A Message-ID naming the delivery; random part so a re-installed database never reuses one."""
    domain = sender.rpartition("@")[2].strip(" >") if "@" in sender else ""
    domain = re.sub(r"[^A-Za-z0-9.-]", "", domain) or "callrec.invalid"
    return f"<callrec.delivery.{delivery_id}.{secrets.token_hex(6)}@{domain}>"


def build_message(*, facts: CallFacts, tz: ZoneInfo, sender: str, recipient: str, message_id: str,
                  audio: bytes | None, link: DownloadLink | None) -> Message:
    """The Flask-Mail message: attachment when `audio` is given, else the download link."""
    filename = attachment_filename(facts, tz)
    text, body_html = render_bodies(facts, tz, filename, link)
    message = Message(subject=SUBJECT, sender=sender, recipients=[recipient], body=text, html=body_html,
                      extra_headers={"Auto-Submitted": "auto-generated"})
    message.msgId = message_id  # persisted before the send; a resend carries the same one
    if audio is not None:
        message.attach(filename=filename, content_type=ATTACHMENT_TYPE, data=audio)
    return message


def link_expiry(now: datetime, max_age_days: int) -> datetime:
    return now.astimezone(timezone.utc) + timedelta(days=max_age_days)
