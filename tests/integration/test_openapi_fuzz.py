"""Property-based fuzz of the REST API from its own OpenAPI document (issue 13 item 7), with schemathesis.

Every operation of /api/v1/openapi.json gets valid and invalid requests (hypothesis, positive and negative
generation), sent in-process to the Flask app with a bearer token. Each answer must not be a server error and
must conform to the document: a documented status code, its content type and its schema. Bounded so that it
runs in well under two minutes on SQLite; it runs again on PostgreSQL under `make test-postgres` (marker db,
from the `app` fixture). The number of requests made is printed in the terminal summary.
"""
from __future__ import annotations

import os
import sys
import wave
from datetime import datetime, timezone
from pathlib import Path

import pytest
import schemathesis
from schemathesis import GenerationMode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from callrec.models import Recording, db

MAX_EXAMPLES = int(os.environ.get("CALLREC_FUZZ_EXAMPLES", "25"))  # per operation and generation mode
SMALL_ID = 40  # more than the objects _seed makes of each kind, so that some small ids exist, some not
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
requests_made = {"total": 0, "by_status": {}}


class _Summary:
    """Prints how many requests the fuzz made, at the end of the run (whatever -r/-q options are given)."""

    def pytest_terminal_summary(self, terminalreporter):
        if requests_made["total"]:
            statuses = ", ".join(f"{code}: {n}" for code, n in sorted(requests_made["by_status"].items()))
            terminalreporter.write_line(f"API fuzz (schemathesis): {requests_made['total']} requests ({statuses})")


@pytest.fixture(scope="module", autouse=True)
def _report(request):
    if not request.config.pluginmanager.has_plugin("callrec-api-fuzz-summary"):
        request.config.pluginmanager.register(_Summary(), "callrec-api-fuzz-summary")


def _write_wav(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 800)


def _seed(app, api, n: int) -> None:
    """One object of each kind (and a recording with its file), so that ids the fuzz picks exist too."""
    class_id = api.post("/api/v1/customer-classes", json={"name": f"Class {n}"}).json["id"]
    rule_id = api.post("/api/v1/dialing-rules", json={"name": f"Rule {n}", "record_start_code": "*71",
                                                      "record_stop_code": "*72"}).json["id"]
    customer_id = api.post("/api/v1/customers", json={"name": f"Customer {n}", "customer_class_id": class_id,
                                                      "dialing_rule_id": rule_id}).json["id"]
    product_id = api.post("/api/v1/products", json={"name": f"Product {n}",
                                                    "call_recording": {"enabled": True}}).json["id"]
    response = api.post("/api/v1/accounts", json={"number": f"10{n:02d}", "email": "a@example.test",
                                                   "customer_id": customer_id, "product_id": product_id})
    assert response.status_code == 201, response.json
    path = Path(app.config["RECORDINGS_DIR"]) / f"call-{n}.wav"
    _write_wav(path)
    with app.app_context():
        db.session.add(Recording(call_uuid=f"call-{n}", leg_uuid=f"leg-{n}", account_id=response.json["id"],
                                 account_number=f"10{n:02d}", direction="outgoing", trigger="auto",
                                 started_at=datetime(2026, 1, 1, tzinfo=timezone.utc), file_path=str(path),
                                 status="completed", duration_seconds=0.1))
        db.session.commit()


def _with_small_ids(drawn):
    """Half the cases name ids that exist (the seeded objects), in the path and in a body's *_id fields."""
    case, small, use = drawn
    if use:
        if case.path_parameters and "object_id" in case.path_parameters:
            case.path_parameters["object_id"] = small
        if isinstance(case.body, dict):
            for key, value in case.body.items():
                if key.endswith("_id") and isinstance(value, int) and not isinstance(value, bool):
                    case.body[key] = (small % 8) + 1
    return case


def _fuzz(operation, mode, token: str) -> str | None:
    """Run MAX_EXAMPLES cases of one operation in one generation mode; the failure as text, or None."""

    strategy = operation.as_strategy(generation_mode=mode)
    if mode is GenerationMode.POSITIVE:
        strategy = st.tuples(strategy, st.integers(1, SMALL_ID), st.booleans()).map(_with_small_ids)

    @given(case=strategy)
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    def run(case):
        response = case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS,
                                          buffered=True)  # the WSGI client closes send_file's file
        requests_made["total"] += 1
        by_status = requests_made["by_status"]
        by_status[response.status_code] = by_status.get(response.status_code, 0) + 1
        if os.environ.get("CALLREC_FUZZ_VERBOSE"):
            print(operation.label, mode.value, response.status_code, file=sys.stderr)

    try:
        run()
    except Exception as exc:  # noqa: BLE001 - every failure is reported, per operation
        return f"{operation.label} ({mode.value}): {type(exc).__name__}: {exc}"
    return None


def test_api_conforms_to_its_openapi_document(app, api):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30
    failures = []
    for n, operation in enumerate(operations):
        _seed(app, api, n)  # fresh objects for each operation: a DELETE before it may have removed the last ones
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if failure := _fuzz(operation, mode, api.token):
                failures.append(failure)
    assert not failures, "\n\n".join(failures)
