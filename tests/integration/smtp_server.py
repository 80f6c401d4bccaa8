"""A real SMTP server on loopback for the delivery tests (aiosmtpd), with STARTTLS/AUTH and scripted replies.

    server = SmtpServer().start()
    server.reply_next("RCPT", "550 5.1.1 No such mailbox")   # the next RCPT gets this reply
    server.stop(); server.start()                             # down for a while, then up on the same port
    server.messages                                           # what was accepted, in order
"""
from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from collections import deque
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    tls: bool
    authenticated: bool

    def parsed(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]


class _Handler:
    def __init__(self, server: "SmtpServer"):
        self.server = server

    async def handle_RCPT(self, smtp, session, envelope, address, rcpt_options):
        reply = self.server._scripted("RCPT")
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp, session, envelope):
        reply = self.server._scripted("DATA")
        if reply:
            return reply
        self.server._accept(Received(envelope.mail_from, tuple(envelope.rcpt_tos), envelope.original_content,
                                     session.ssl is not None, bool(session.authenticated)))
        return "250 Message accepted"


class SmtpServer:
    """aiosmtpd in a thread on 127.0.0.1, on a fixed free port so it can be stopped and started again."""

    def __init__(self, *, tls_context: ssl.SSLContext | None = None, credentials: tuple[str, str] | None = None):
        self.host = "127.0.0.1"
        self.port = free_port()
        self.tls_context = tls_context
        self.credentials = credentials
        self._lock = threading.Lock()
        self._messages: list[Received] = []
        self._replies: dict[str, deque[str]] = {"RCPT": deque(), "DATA": deque()}
        self._controller: Controller | None = None

    # -- control ---------------------------------------------------------------------------------------

    def start(self) -> "SmtpServer":
        kwargs = {}
        if self.tls_context is not None:
            kwargs.update(tls_context=self.tls_context, require_starttls=True)
        if self.credentials is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True, auth_require_tls=True)
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def reply_next(self, stage: str, reply: str, times: int = 1) -> None:
        """Answer the next `times` RCPT or DATA commands with `reply` (e.g. '451 4.3.0 Try later')."""
        with self._lock:
            self._replies[stage].extend([reply] * times)

    @property
    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._messages)

    def mail_config(self) -> dict:
        """Flask-Mail settings pointing at this server (plain SMTP, no AUTH)."""
        return {"MAIL_SERVER": self.host, "MAIL_PORT": self.port, "MAIL_USE_TLS": False, "MAIL_USE_SSL": False,
                "MAIL_USERNAME": "", "MAIL_PASSWORD": "", "MAIL_DEFAULT_SENDER": "callrec@example.net",
                "MAIL_TIMEOUT": 5}

    # -- handler side ------------------------------------------------------------------------------------

    def _scripted(self, stage: str) -> str | None:
        with self._lock:
            return self._replies[stage].popleft() if self._replies[stage] else None

    def _accept(self, received: Received) -> None:
        with self._lock:
            self._messages.append(received)

    def _authenticate(self, smtp, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and self.credentials is not None
              and (auth_data.login.decode(), auth_data.password.decode()) == self.credentials)
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd replies 535 itself


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """Make a throwaway certificate for localhost/127.0.0.1 with the openssl CLI; return (cert, key)."""
    cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    return cert, key


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context
