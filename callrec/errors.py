"""Domain errors shared by both apps; the API maps them onto HTTP statuses, the UI onto messages."""
from __future__ import annotations


class CallrecError(Exception):
    """Base of callrec's own errors."""

    status_code = 400
    error_id = "bad-request"

    def __init__(self, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}

    def to_dict(self) -> dict:
        return {"error": self.message, "error_id": self.error_id, "fields": self.fields}


class ValidationFailed(CallrecError):
    status_code = 422
    error_id = "validation-failed"


class Conflict(CallrecError):
    status_code = 409
    error_id = "conflict"


class NotFound(CallrecError):
    status_code = 404
    error_id = "not-found"
