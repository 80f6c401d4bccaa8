"""The OpenAPI 3.1 document of the REST API, served at /api/v1/openapi.json (no token needed to read it).

The paths come from the Flask url_map (every rule of the `api` blueprint; the generic `/<resource>` rules once
per resource in api.RESOURCES), the operations from the hand-written tables below: one schema per resource,
with the field rules of callrec.services / callrec.validation. A route without an entry in OPERATIONS makes
the document fail to build (and tests/integration/test_openapi.py fail), so the two cannot drift apart.
"""
from __future__ import annotations

import re
from typing import Any

from flask import Flask

from callrec.audit import ACTIONS, OBJECT_TYPES
from callrec.calls import DECISIONS
from callrec.policy import CONFIG_FLAGS
from callrec.recordings import DELIVERY_STATUSES, DIRECTIONS, STATUSES
from callrec.validation import MAX_CODE_LENGTH, MAX_ID, VOICEMAIL_NUMBERS_MAX_LENGTH

OPENAPI_VERSION = "3.1.0"
HIDDEN_METHODS = {"HEAD", "OPTIONS"}

# ---------------------------------------------------------------------------------------------- field types


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
NULLABLE_ID = {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_ID}
NAME = {"type": "string", "minLength": 1, "maxLength": 120, "description": "Not blank; no control characters."}
CODE = {"type": "string", "pattern": f"^[0-9*#]{{1,{MAX_CODE_LENGTH}}}$",
        "description": "1–8 of 0-9 * #; start and stop differ and neither is a prefix of the other."}
OPTIONAL_CODE = {"type": "string", "pattern": f"^[0-9*#]{{0,{MAX_CODE_LENGTH}}}$",
                 "description": "PCI pause: empty (off) or 1–8 of 0-9 * #; pause and resume both set or both empty, "
                                "all four codes distinct and none a prefix of another."}
EMAIL = {"type": "string", "maxLength": 254, "description": "One plain address (name@example.com) or empty."}
BOOL = {"type": "boolean"}


def _object(properties: dict, required: tuple = (), description: str = "") -> dict:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    return schema


CALL_RECORDING_FIELDS = {name: BOOL for name in CONFIG_FLAGS}

# What a client may send (create: the listed required fields; update: any subset). The objects answered
# carry the same fields, all present, plus `id`.
INPUT_FIELDS: dict[str, dict] = {
    "CustomerClass": {"name": NAME, "notify_new_call_recording": BOOL},
    "DialingRule": {"name": NAME, "record_start_code": CODE, "record_stop_code": CODE,
                    "record_pause_code": OPTIONAL_CODE, "record_resume_code": OPTIONAL_CODE},
    "Customer": {"name": NAME, "customer_class_id": ID, "dialing_rule_id": NULLABLE_ID},
    "Product": {"name": NAME, "call_recording": _ref("CallRecordingInput")},
    "Account": {
        "number": {"type": "string", "pattern": "^[A-Za-z0-9_.+-]{1,64}$"},
        "name": {"type": "string", "maxLength": 120},
        "email": EMAIL,
        "customer_id": ID,
        "product_id": ID,
        "dialing_rule_id": NULLABLE_ID,
        "override": BOOL,
        "call_recording": _ref("CallRecordingInput"),
    },
    "Settings": {
        "records_delivery_enabled": BOOL,
        "record_start_code": CODE,
        "record_stop_code": CODE,
        "record_pause_code": OPTIONAL_CODE,
        "record_resume_code": OPTIONAL_CODE,
        "voicemail_numbers": {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z0-9*#+_.-]{1,32}$"},
                              "description": f"At most {VOICEMAIL_NUMBERS_MAX_LENGTH} characters comma-joined."},
        "record_format": {"enum": ["wav"]},
        "record_stereo": BOOL,
        "record_sample_rate": {"enum": [8000, 16000]},
        "min_recording_seconds": {"type": "number", "minimum": 0, "maximum": 3600},
        "retention_days": {"type": "integer", "minimum": 0, "maximum": 36500},
        "dtmf_timeout_ms": {"type": "integer", "minimum": 500, "maximum": 10000},
        "mail_sender": EMAIL,
        "time_zone": {"type": "string", "description": "An IANA time zone name, e.g. Europe/Berlin."},
        "attachment_max_bytes": {"type": "integer", "minimum": 0, "maximum": 1 << 30},
        "max_delivery_attempts": {"type": "integer", "minimum": 1, "maximum": 100},
        "audit_retention_days": {"type": "integer", "minimum": 0, "maximum": 36500,
                                 "description": "0: forever; never purged before the recordings' retention."},
    },
}
REQUIRED_ON_CREATE = {
    "CustomerClass": ("name",),
    "DialingRule": ("name", "record_start_code", "record_stop_code"),
    "Customer": ("name", "customer_class_id"),
    "Product": ("name",),
    "Account": ("number", "customer_id", "product_id"),
}
# API path segment -> schema name, and whether deleting it can be refused because something still uses it.
RESOURCE_SCHEMAS = {
    "customer-classes": ("CustomerClass", True),
    "dialing-rules": ("DialingRule", True),
    "customers": ("Customer", True),
    "products": ("Product", True),
    "accounts": ("Account", False),
}


def _output(name: str) -> dict:
    """An object as answered: every input field present (stored values are looser than the input rules)."""
    props: dict[str, Any] = {} if name == "Settings" else {"id": ID}
    for field, schema in INPUT_FIELDS[name].items():
        if field == "call_recording":
            props[field] = _ref("CallRecording")
        elif schema.get("type") == "string":
            props[field] = {"type": "string"}
        else:
            props[field] = schema
    return _object(props, tuple(props))


def _source() -> dict:
    return {"type": "object", "required": ["kind", "name", "description"], "properties": {
        "kind": {"enum": ["account", "product", "customer", "dialing_rule", "settings"]},
        "name": {"type": "string"}, "description": {"type": "string"}, "via": {"type": "string"}}}


def _schemas() -> dict:
    nullable_text = {"type": ["string", "null"]}
    time = {"type": ["string", "null"], "format": "date-time"}
    schemas: dict[str, Any] = {
        "Error": _object({
            "error": {"type": "string", "description": "What went wrong, for a person."},
            "error_id": {"type": "string", "description": "Stable machine-readable code, e.g. validation-failed."},
            "fields": {"type": "object", "additionalProperties": {"type": "string"},
                       "description": "Per-field messages (`call_recording.enabled` for a nested one)."},
        }, ("error", "error_id", "fields")),
        "CallRecording": _object(CALL_RECORDING_FIELDS, tuple(CALL_RECORDING_FIELDS)),
        "CallRecordingInput": _object(CALL_RECORDING_FIELDS, description="Any subset of the flags."),
        "SettingsUpdate": _object(INPUT_FIELDS["Settings"]),
        "Settings": _output("Settings"),
        "EffectivePolicy": {"type": "object", "required": ["account_number", "account_id", "call_recording",
                                                           "codes", "email"], "properties": {
            "account_number": {"type": "string"},
            "account_id": {"type": ["integer", "null"]},
            "call_recording": {"type": "object", "additionalProperties": {
                "type": "object", "required": ["value", "source"],
                "properties": {"value": BOOL, "source": _source()}}},
            "codes": {"type": "object", "required": ["record_start_code", "record_stop_code", "record_pause_code",
                                                     "record_resume_code", "source"],
                      "properties": {"record_start_code": {"type": "string"},
                                     "record_stop_code": {"type": "string"},
                                     "record_pause_code": {"type": "string"},
                                     "record_resume_code": {"type": "string"}, "source": _source()}},
            "email": {"type": "object", "required": ["recipient", "blocked_by", "reason", "sources"],
                      "properties": {"recipient": nullable_text, "blocked_by": nullable_text,
                                     "reason": nullable_text, "sources": {"type": "array", "items": _source()}}},
        }},
        "Recording": {"type": "object", "properties": {
            "id": ID, "call_uuid": {"type": "string"}, "leg_uuid": {"type": "string"},
            "account_id": {"type": ["integer", "null"]}, "account_number": {"type": "string"},
            "direction": {"enum": list(DIRECTIONS)}, "trigger": {"type": "string"},
            "caller": {"type": "string"}, "callee": {"type": "string"},
            "started_at": time, "ended_at": time,
            "duration_seconds": {"type": ["number", "null"]}, "size_bytes": {"type": ["integer", "null"]},
            "sha256": nullable_text, "status": {"enum": list(STATUSES)}, "status_detail": {"type": "string"},
            "paused_intervals": {"type": "array", "description": "PCI pause: the file holds silence in each.",
                                 "items": {"type": "object", "required": ["paused_at", "resumed_at", "seconds"],
                                           "properties": {"paused_at": time, "resumed_at": time,
                                                          "seconds": {"type": ["number", "null"]}}}},
            "delivery": {"oneOf": [{"type": "null"}, {"type": "object", "properties": {
                "status": {"enum": list(DELIVERY_STATUSES)}, "recipient": {"type": "string"},
                "reason": {"type": "string"}, "attempts": {"type": "integer"},
                "last_error": {"type": "string"}, "sent_at": time}}]},
        }, "required": ["id", "call_uuid", "account_id", "direction", "status", "started_at"]},
        "Call": {"type": "object", "description": "One leg of one account the controller saw (the call log).",
                 "properties": {
            "id": ID, "call_key": {"type": "string", "description": "The recordings' call_uuid."},
            "leg_uuid": {"type": "string"}, "account_id": {"type": ["integer", "null"]},
            "account_number": {"type": "string"}, "direction": {"enum": list(DIRECTIONS)},
            "caller": {"type": "string"}, "callee": {"type": "string"}, "started_at": time, "ended_at": time,
            "decision": {"enum": list(DECISIONS)},
            "reason_code": {"type": "string", "description": "e.g. auto_outgoing, manual, recording_disabled, "
                                                             "incoming_off, voicemail_retrieval, voicemail_divert, "
                                                             "never_connected, start_failed"},
            "reason": {"type": "string", "description": "Why, in words."},
            "notes": {"type": "array", "items": {"type": "string"},
                      "description": "Codes pressed and what they did, redirects seen."},
            "email": {"type": "object", "required": ["status", "explanation"], "properties": {
                "status": {"enum": ["none", "waiting", *DELIVERY_STATUSES]},
                "explanation": {"type": "string"}}},
            "recordings": {"type": "array", "items": _ref("Recording")},
        }, "required": ["id", "call_key", "account_number", "direction", "decision", "reason", "notes", "email",
                        "recordings", "started_at"]},
        "LiveLeg": {"type": "object", "description": "An account's leg in a call in progress.", "properties": {
            "leg_uuid": {"type": "string"}, "call_key": {"type": "string"}, "account_number": {"type": "string"},
            "direction": {"type": "string"}, "caller": {"type": "string"}, "callee": {"type": "string"},
            "started_at": time, "recording": {"enum": ["recording", "stopped", "off"]},
            "manual_control": BOOL, "node": {"type": "string"}, "updated_at": time},
            "required": ["leg_uuid", "account_number", "recording"]},
        "LiveLegList": _object({"items": {"type": "array", "items": _ref("LiveLeg")},
                                "total": {"type": "integer", "minimum": 0}}, ("items", "total")),
        "CallRequest": {"type": "object", "description": "A start/stop request; poll it until its status is not "
                                                         "pending.", "properties": {
            "id": ID, "leg_uuid": {"type": "string"}, "account_number": {"type": "string"},
            "action": {"enum": ["start", "stop"]},
            "status": {"enum": ["pending", "done", "refused", "failed"]},
            "detail": {"type": "string", "description": "Why refused or failed; what was done."},
            "requested_by": {"type": "string"}, "created_at": time, "done_at": time},
            "required": ["id", "leg_uuid", "account_number", "action", "status", "detail"]},
        "CallControl": _object({"account": {"type": "string", "minLength": 1, "maxLength": 64,
                                            "description": "Default: the leg's account."}}),
        "AuditEvent": _object({
            "id": ID, "at": {"type": "string", "format": "date-time"},
            "actor": {"type": "string", "description": "'admin NAME', 'token NAME #ID', 'cli ...' or 'system'."},
            "address": {"type": "string"}, "action": {"enum": list(ACTIONS)},
            "object_type": {"type": "string"}, "object_id": {"type": ["integer", "null"]},
            "object_label": {"type": "string"},
            "changes": {"type": "object", "description": "{field: [before, after]}",
                        "additionalProperties": {"type": "array", "minItems": 2, "maxItems": 2}},
        }, ("id", "at", "actor", "address", "action", "object_type", "object_id", "object_label", "changes")),
    }
    for segment, (name, _) in RESOURCE_SCHEMAS.items():
        schemas[name] = _output(name)
        schemas[name + "Create"] = _object(INPUT_FIELDS[name], REQUIRED_ON_CREATE[name])
        schemas[name + "Update"] = _object(
            {**INPUT_FIELDS[name], "id": {**ID, "description": "Read-only: allowed only as the object's own id."}})
    for name in [*(n for n, _ in RESOURCE_SCHEMAS.values()), "Recording", "Call", "AuditEvent"]:
        schemas[name + "Page"] = _object({
            "items": {"type": "array", "items": _ref(name)},
            "total": {"type": "integer", "minimum": 0},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1, "maximum": 500},
        }, ("items", "total", "page", "per_page"))
    return schemas


# ---------------------------------------------------------------------------------------------- operations

ERRORS = {
    400: "Bad request",
    401: "No, an invalid or an expired bearer token (error_id token-expired)",
    403: "The token's scope is read: it may not write",
    404: "No such object (or route)",
    405: "Method not allowed on this path",
    409: "Duplicate number or name, or the object is still in use (nothing changed)",
    422: "Invalid input (nothing changed); `fields` says which",
}


def _json(schema_name: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema_name)}}}


def _errors(*codes: int) -> dict:
    return {str(code): {"$ref": f"#/components/responses/E{code}"} for code in (401, *codes)}


def _write_errors(*codes: int) -> dict:
    """A write's errors: also 403 for a token whose scope is read."""
    return _errors(403, *codes)


def _body(schema_name: str) -> dict:
    return {"required": True, "content": {"application/json": {"schema": _ref(schema_name)}}}


OBJECT_ID = {"name": "object_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1},
             "description": "The object's id (one beyond any id is simply not found)."}
PAGE_PARAMS = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}, "description": "From 1."},
    {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500},
     "description": "Default 100; clamped to 1..500."},
]
RECORDING_FILTERS = [
    {"name": "account_id", "in": "query", "schema": ID},
    {"name": "direction", "in": "query", "schema": {"enum": list(DIRECTIONS)}},
    {"name": "status", "in": "query", "schema": {"enum": list(STATUSES)}},
    {"name": "delivery_status", "in": "query", "schema": {"enum": list(DELIVERY_STATUSES)}},
    {"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"},
     "description": "ISO 8601 date or date-time; without an offset, UTC."},
    {"name": "until", "in": "query", "schema": {"type": "string", "format": "date-time"}},
    {"name": "call_uuid", "in": "query", "schema": {"type": "string", "maxLength": 64}},
]
CALL_FILTERS = [
    {"name": "account_id", "in": "query", "schema": ID},
    {"name": "account", "in": "query", "schema": {"type": "string", "maxLength": 64},
     "description": "The account's number."},
    {"name": "number", "in": "query", "schema": {"type": "string", "maxLength": 64},
     "description": "Part of the account's, the caller's or the callee's number."},
    {"name": "decision", "in": "query", "schema": {"enum": list(DECISIONS)}},
    {"name": "reason_code", "in": "query", "schema": {"type": "string", "maxLength": 64}},
    {"name": "direction", "in": "query", "schema": {"enum": list(DIRECTIONS)}},
    {"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"},
     "description": "ISO 8601 date or date-time (the leg's start); without an offset, UTC."},
    {"name": "until", "in": "query", "schema": {"type": "string", "format": "date-time"}},
    {"name": "call_key", "in": "query", "schema": {"type": "string", "maxLength": 64}},
]


def _resource_operation(endpoint: str, segment: str) -> dict:
    name, in_use = RESOURCE_SCHEMAS[segment]
    label = name[0] + re.sub(r"([A-Z])", r" \1", name[1:]).lower()
    if endpoint == "api.list_objects":
        return {"summary": f"List {segment}", "parameters": PAGE_PARAMS,
                "responses": {"200": _json(name + "Page", "One page, by id"), **_errors(422)}}
    if endpoint == "api.create_object":
        return {"summary": f"Create a {label}", "requestBody": _body(name + "Create"),
                "responses": {"201": _json(name, "Created"), **_write_errors(409, 422)}}
    if endpoint == "api.get_object":
        return {"summary": f"Get a {label}", "parameters": [OBJECT_ID],
                "responses": {"200": _json(name, "The object"), **_errors(404)}}
    if endpoint == "api.update_object":
        return {"summary": f"Update a {label} (any subset of its fields)", "parameters": [OBJECT_ID],
                "requestBody": _body(name + "Update"),
                "responses": {"200": _json(name, "Updated"), **_write_errors(404, 409, 422)}}
    if endpoint == "api.delete_object":
        return {"summary": f"Delete a {label}", "parameters": [OBJECT_ID],
                "responses": {"204": {"description": "Deleted"}, **_write_errors(404, *((409,) if in_use else ()))}}
    raise KeyError(endpoint)


OPERATIONS: dict[str, dict] = {
    "api.openapi": {"summary": "This document", "security": [],
                    "responses": {"200": {"description": "OpenAPI 3.1",
                                          "content": {"application/json": {"schema": {"type": "object"}}}}}},
    "api.effective_policy": {"summary": "The account's resolved policy, each value with its source",
                             "parameters": [OBJECT_ID],
                             "responses": {"200": _json("EffectivePolicy", "The policy"), **_errors(404)}},
    "api.get_settings_view": {"summary": "The global settings",
                              "responses": {"200": _json("Settings", "The settings"), **_errors()}},
    "api.patch_settings": {"summary": "Update the global settings (any subset)",
                           "requestBody": _body("SettingsUpdate"),
                           "responses": {"200": _json("Settings", "Updated"), **_write_errors(422)}},
    "api.list_recordings": {"summary": "List recordings, newest first",
                            "parameters": RECORDING_FILTERS + PAGE_PARAMS,
                            "responses": {"200": _json("RecordingPage", "One page"), **_errors(422)}},
    "api.get_recording": {"summary": "Get a recording", "parameters": [OBJECT_ID],
                          "responses": {"200": _json("Recording", "The recording"), **_errors(404)}},
    "api.list_calls": {"summary": "The call log: every account's leg with its decision and reason, newest first",
                       "parameters": CALL_FILTERS + PAGE_PARAMS,
                       "responses": {"200": _json("CallPage", "One page"), **_errors(422)}},
    "api.get_call": {"summary": "One call-log entry", "parameters": [OBJECT_ID],
                     "responses": {"200": _json("Call", "The entry"), **_errors(404)}},
    "api.list_live_calls": {"summary": "Account legs in calls in progress, with their recording state",
                            "responses": {"200": _json("LiveLegList", "The legs"), **_errors()}},
    "api.control_call": {
        "summary": "Start or stop an account's recording on a call in progress (202: poll the request)",
        "parameters": [
            {"name": "leg_uuid", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}},
            {"name": "action", "in": "path", "required": True,
             "schema": {"enum": ["start", "stop", "pause", "resume"]},
             "description": "pause and resume: 409 control-unavailable in this version."}],
        "requestBody": {"required": False, "content": {"application/json": {"schema": _ref("CallControl")}}},
        "responses": {"202": {"description": "Accepted: the controller acts within a second",
                              "headers": {"Location": {"schema": {"type": "string"},
                                                       "description": "The request to poll"}},
                              "content": {"application/json": {"schema": _ref("CallRequest")}}},
                      **_write_errors(404, 409, 422)}},
    "api.get_call_request": {"summary": "A start/stop request and its outcome", "parameters": [OBJECT_ID],
                             "responses": {"200": _json("CallRequest", "The request"), **_errors(404)}},
    "api.delete_recording": {"summary": "Delete a recording and its file", "parameters": [OBJECT_ID],
                             "responses": {"204": {"description": "Deleted"}, **_write_errors(404)}},
    "api.list_audit": {
        "summary": "The audit trail, newest first: who changed, played, downloaded, deleted or re-sent what, tokens "
                   "created and revoked, logins",
        "parameters": [
            {"name": "actor", "in": "query", "schema": {"type": "string", "maxLength": 120}},
            {"name": "action", "in": "query", "schema": {"enum": list(ACTIONS)}},
            {"name": "object_type", "in": "query", "schema": {"enum": list(OBJECT_TYPES)}},
            {"name": "object_id", "in": "query", "schema": ID},
            {"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"}},
            {"name": "until", "in": "query", "schema": {"type": "string", "format": "date-time"}},
            *PAGE_PARAMS],
        "responses": {"200": _json("AuditEventPage", "One page"), **_errors(422)}},
    "api.recording_audio": {
        "summary": "The recording's WAV file (HTTP Range and conditional requests supported)",
        "parameters": [OBJECT_ID],
        "responses": {
            "200": {"description": "The file", "content": {"audio/wav": {"schema": {"type": "string",
                                                                                     "format": "binary"}}}},
            "206": {"description": "The requested range",
                    "content": {"audio/wav": {"schema": {"type": "string", "format": "binary"}}}},
            "304": {"description": "Not modified"},
            "416": {"description": "Range not satisfiable"},
            **_errors(404)}},
}


def _path(rule: str) -> str:
    """'/api/v1/<resource>/<int:object_id>' -> '/api/v1/<resource>/{object_id}'."""
    return re.sub(r"<(?:int:)?(object_id|leg_uuid|action)>", r"{\1}", rule)


def routes(app: Flask) -> list[tuple[str, str, str, str | None]]:
    """(path, method, endpoint, resource) for every documented route of the api blueprint."""
    from .api import RESOURCES

    found = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        for method in sorted((rule.methods or set()) - HIDDEN_METHODS):
            if "<resource>" in rule.rule:
                for segment in RESOURCES:
                    found.append((_path(rule.rule.replace("<resource>", segment)), method.lower(), rule.endpoint,
                                  segment))
            else:
                found.append((_path(rule.rule), method.lower(), rule.endpoint, None))
    return found


def build(app: Flask) -> dict:
    paths: dict[str, dict] = {}
    for path, method, endpoint, segment in routes(app):
        operation = dict(_resource_operation(endpoint, segment) if segment else OPERATIONS[endpoint])
        operation["operationId"] = f"{method}_{endpoint.removeprefix('api.')}" + (
            f"_{segment.replace('-', '_')}" if segment else "")
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "callrec REST API",
            "version": "1",
            "description": ("JSON with `Authorization: Bearer <token>` (`flask --app webui create-token NAME`); "
                            "this document itself needs no token. Every error is "
                            "`{\"error\", \"error_id\", \"fields\"}`: 401 without a valid token, 404 for an "
                            "unknown object or path, 405 for a method a path does not have, 409 for a duplicate "
                            "or an object still in use, 422 for invalid input. A failed write changes nothing."),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "A token from `create-token`."}},
            "schemas": _schemas(),
            "responses": {f"E{code}": _json("Error", text) for code, text in ERRORS.items()},
        },
    }
