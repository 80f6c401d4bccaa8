"""Fixtures and helpers for the web UI's tests (flaskr's AuthActions), with CSRF protection ON.

Import the fixtures into a test module: `from webui_fixtures import admin, auth, csrf_token  # noqa: F401`
(tests/conftest.py is shared, so they do not live there).
"""
from __future__ import annotations

import html
import re
import wave
from pathlib import Path

import pytest

ADMIN_NAME, ADMIN_PASSWORD = "admin", "correct horse battery"

_CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client, url: str) -> str:
    """GET a page and return the CSRF token of its form (the pages' own, like a browser would)."""
    response = client.get(url)
    match = _CSRF_RE.search(response.get_data(as_text=True))
    assert match, f"no csrf_token on {url} ({response.status_code})"
    return match.group(1)


def form_post(client, url: str, data: dict, form_url: str | None = None, **kw):
    """POST a form the way a browser does: with the CSRF token of the page the form is on."""
    token = csrf_token(client, form_url or url)
    return client.post(url, data={"csrf_token": token, **data}, **kw)


def text_of(response) -> str:
    """The page's visible text (tags removed, entities decoded), for matching sentences."""
    body = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return re.sub(r"\s+", " ", html.unescape(body))


def field_error(response, field: str) -> str | None:
    """The error shown right below `field` (its element carries id '<field>-error'), if any."""
    match = re.search(r'<p class="error" id="%s-error">([^<]*)</p>' % re.escape(field),
                      response.get_data(as_text=True))
    return html.unescape(match.group(1)) if match else None


class AuthActions:
    def __init__(self, client):
        self._client = client

    def login(self, username: str = ADMIN_NAME, password: str = ADMIN_PASSWORD):
        return form_post(self._client, "/login", {"username": username, "password": password})

    def logout(self):
        return form_post(self._client, "/logout", {}, form_url="/")


@pytest.fixture
def admin(app):
    """An admin user to log in with."""
    from werkzeug.security import generate_password_hash

    from callrec.models import AdminUser, db

    with app.app_context():
        # A cheap hash keeps the tests fast; production hashes come from AdminUser.set_password (scrypt).
        user = AdminUser(username=ADMIN_NAME,
                         password_hash=generate_password_hash(ADMIN_PASSWORD, method="pbkdf2:sha256:1000"))
        db.session.add(user)
        db.session.commit()
    return ADMIN_NAME, ADMIN_PASSWORD


@pytest.fixture
def auth(client, admin):
    return AuthActions(client)


@pytest.fixture
def logged_in(client, auth):
    """The test client, logged in as the admin."""
    response = auth.login()
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def write_wav(path: Path, seconds: float = 1.0, rate: int = 8000) -> Path:
    """A real, small mono WAV of a tone (stdlib only)."""
    import math
    import struct

    path.parent.mkdir(parents=True, exist_ok=True)
    frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
                      for i in range(int(seconds * rate)))
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return path


def make_world(app, **account_values) -> dict:
    """A product, customer class, customer and account through the services; returns their ids."""
    from callrec import services
    from callrec.models import Account, Customer, CustomerClass, Product

    with app.app_context():
        product = services.create(Product, {"name": "Basic", "call_recording": {
            "enabled": True, "auto_record_outgoing": True, "email_delivery": True}})
        cls = services.create(CustomerClass, {"name": "Residential", "notify_new_call_recording": False})
        customer = services.create(Customer, {"name": "Acme", "customer_class_id": cls.id})
        account = services.create(Account, {"number": "1001", "customer_id": customer.id, "product_id": product.id,
                                            "email": "a@example.com", **account_values})
        return {"product": product.id, "customer_class": cls.id, "customer": customer.id, "account": account.id}


def make_recording(app, account_id: int | None, file_path: str, **values) -> int:
    from datetime import timedelta

    from callrec.models import Account, Recording, db, utcnow

    with app.app_context():
        number = db.session.get(Account, account_id).number if account_id else "9999"
        now = utcnow()
        rec = Recording(call_uuid=values.pop("call_uuid", f"call-{now.timestamp()}-{file_path[-12:]}"),
                        leg_uuid="leg-1", account_id=account_id, account_number=number,
                        direction=values.pop("direction", "outgoing"), trigger="auto", caller="1001",
                        callee="5551234", started_at=values.pop("started_at", now),
                        ended_at=now + timedelta(seconds=1), duration_seconds=1.0, file_path=file_path,
                        size_bytes=Path(file_path).stat().st_size if Path(file_path).is_file() else None,
                        status=values.pop("status", "completed"), **values)
        db.session.add(rec)
        db.session.commit()
        return rec.id
