"""Signed, expiring download links for recordings too large to attach (itsdangerous)."""
from __future__ import annotations

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

SALT = "callrec.recording-download"
DOWNLOAD_PATH = "/download/"  # webui/download.py serves this route; keep the two in step


class LinkInvalid(Exception):
    """The token was not signed by us, or was altered."""


class LinkExpired(LinkInvalid):
    """The token was ours but is older than the allowed age."""


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def make_token(secret_key: str, recording_id: int, sha256: str | None) -> str:
    """Sign the recording id with the file's digest, so a token never opens a different file."""
    return _serializer(secret_key).dumps({"r": recording_id, "h": (sha256 or "")[:16]})


def read_token(secret_key: str, token: str, max_age_seconds: int) -> tuple[int, str]:
    """Return (recording id, digest prefix) of a valid token; LinkExpired or LinkInvalid otherwise."""
    try:
        data = _serializer(secret_key).loads(token, max_age=max_age_seconds)
    except SignatureExpired:
        raise LinkExpired("the download link has expired") from None
    except BadSignature:
        raise LinkInvalid("the download link is not valid") from None
    if not isinstance(data, dict) or not isinstance(data.get("r"), int) or not isinstance(data.get("h"), str):
        raise LinkInvalid("the download link is not valid")
    return data["r"], data["h"]


def download_url(public_url: str, token: str) -> str:
    return public_url.rstrip("/") + DOWNLOAD_PATH + token
