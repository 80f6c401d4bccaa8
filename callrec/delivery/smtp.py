"""The SMTP side of delivery, on Flask-Mail's configuration and messages.

Flask-Mail 0.10's own Connection has no timeout, no way to verify the server's certificate against a
chosen CA, and sends MAIL/RCPT/DATA in one call. The worker must record "handed over" just before DATA
(see docs/delivery.md), so this module speaks the transaction itself, with Flask-Mail's checks, its
MAIL_* settings and its `email_dispatched` signal (so `mail.record_messages()` still sees every message).
"""
from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Callable

from flask import Flask
from flask_mail import BadHeaderError, Message, email_dispatched, sanitize_address, sanitize_addresses

from ..extensions import mail


def _setting(app: Flask, name: str, default=None):
    """A callrec setting: the Flask config wins (tests, instance files), then the loaded environment."""
    if name in app.config:
        return app.config[name]
    return app.config.get("CALLREC", {}).get(name, default)


class SmtpSession:
    """One SMTP connection, opened on first use and reused while sends succeed."""

    def __init__(self, app: Flask):
        self.app = app
        self.state = mail.init_mail(app.config, app.debug, app.testing)  # the current MAIL_* values
        self.timeout = float(_setting(app, "MAIL_TIMEOUT", 30))
        self._host: smtplib.SMTP | None = None
        self.unreachable = False  # the last connection attempt failed: no point trying more messages now

    def __enter__(self) -> "SmtpSession":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _tls_context(self) -> ssl.SSLContext:
        ca_file = _setting(self.app, "CALLREC_MAIL_CA_FILE", "") or None
        context = ssl.create_default_context(cafile=ca_file)
        if not _setting(self.app, "CALLREC_MAIL_TLS_VERIFY", True):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connect(self) -> smtplib.SMTP:
        state = self.state
        host: smtplib.SMTP
        if state.use_ssl:
            host = smtplib.SMTP_SSL(state.server, state.port, timeout=self.timeout, context=self._tls_context())
        else:
            host = smtplib.SMTP(state.server, state.port, timeout=self.timeout)
        try:
            if state.use_tls:
                host.starttls(context=self._tls_context())
            if state.username and state.password:
                host.login(state.username, state.password)
        except BaseException:
            host.close()
            raise
        return host

    def close(self) -> None:
        """Say goodbye if the connection is still healthy; drop it either way."""
        host, self._host = self._host, None
        if host is None:
            return
        try:
            host.quit()
        except (smtplib.SMTPException, OSError):
            host.close()

    def send(self, message: Message, before_data: Callable[[], None]) -> None:
        """Send `message`; call `before_data` after the recipients are accepted, just before DATA.

        Raises smtplib/OSError exceptions as they come (callrec.delivery.retry classifies them); after any
        failure the connection is dropped, so the next send starts a clean session.
        """
        if not message.send_to:
            raise BadHeaderError("the message has no recipient")
        if message.has_bad_headers():
            raise BadHeaderError("the message has a header with a line break")
        if message.date is None:
            message.date = time.time()
        if self.state.suppress:  # MAIL_SUPPRESS_SEND: Flask-Mail's "pretend" mode
            before_data()
            email_dispatched.send(self.app, message=message)
            return
        data = message.as_bytes()
        sender = sanitize_address(message.sender)
        recipients = list(sanitize_addresses(message.send_to))
        try:
            if self._host is None:
                self.unreachable = True
                self._host = self._connect()
                self.unreachable = False
            host = self._host
            host.ehlo_or_helo_if_needed()
            code, reply = host.mail(sender, message.mail_options)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, sender)
            refused = {}
            for recipient in recipients:
                code, reply = host.rcpt(recipient, message.rcpt_options)
                if code not in (250, 251):
                    refused[recipient] = (code, reply)
            if refused:
                # One recipient per message here, so any refusal is the whole message's refusal.
                raise smtplib.SMTPRecipientsRefused(refused)
            before_data()
            code, reply = host.data(data)
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
        except BaseException:
            self._drop()
            raise
        email_dispatched.send(self.app, message=message)

    def _drop(self) -> None:
        host, self._host = self._host, None
        if host is not None:
            host.close()
