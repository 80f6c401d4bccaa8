#!/usr/bin/env python3
"""The REST API side of vagrant/vm-smoke.sh (standard library only; token in CALLREC_API_TOKEN).

    smoke_api.py ensure-accounts 1000 1001   check the demo accounts exist (provisioning runs seed-demo);
                                             create any that do not, with their customer, product and
                                             customer class, from callrec/demo_data.py
    smoke_api.py codes 1002                  print the account's effective start and stop codes (its
                                             dialing rule's, or the settings' *44 *45), on one line
    smoke_api.py recording-ids               print the ids of all recordings, one per line
    smoke_api.py wait-recording 1000 IDFILE  wait until a recording of account 1000 appears whose id
                                             is not listed in IDFILE; print it; exit 1 after a timeout

Only DESIGN.md §4 contracts are used: /api/v1, bearer token, §2 field names.
"""

import importlib.util
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

API = os.environ.get("CALLREC_API_URL", "http://127.0.0.1:8080/api/v1")
PROJECT = Path(os.environ.get("CALLREC_PROJECT_DIR", "/vagrant"))
WAIT_SECONDS = float(os.environ.get("CALLREC_SMOKE_WAIT", "60"))

# What the demo products mean (callrec/demo_data.py names them; `make demo` uses the same meaning).
PRODUCTS = {
    "Record everything": dict(enabled=True, auto_record_outgoing=True, auto_record_incoming=True,
                              auto_record_redirected=True, manual_control=True, announcement=True,
                              email_delivery=True),
    "Manual only": dict(enabled=True, auto_record_outgoing=False, auto_record_incoming=False,
                        auto_record_redirected=False, manual_control=True, announcement=True,
                        email_delivery=True),
    "No recording": dict(enabled=False, auto_record_outgoing=False, auto_record_incoming=False,
                         auto_record_redirected=False, manual_control=False, announcement=False,
                         email_delivery=False),
}


class ApiError(Exception):
    pass


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(API + path, data=data, method=method)
    request.add_header("Authorization", "Bearer " + os.environ["CALLREC_API_TOKEN"])
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        raise ApiError(f"{method} {path}: HTTP {error.code} {error.read()[:500]!r}") from None


def items(payload):
    """A list endpoint's objects, whether the API returns a list or wraps it in an object."""
    if isinstance(payload, list):
        return payload
    for key in ("items", "results", "data"):
        if isinstance(payload, dict) and isinstance(payload.get(key), list):
            return payload[key]
    raise ApiError(f"unexpected list payload: {str(payload)[:300]}")


def list_all(path):
    """Every object of a paginated list endpoint (?page=N&per_page=M, {"items": [...], "total": T})."""
    collected, page = [], 1
    while True:
        payload = call("GET", f"{path}?page={page}&per_page=500")
        batch = items(payload)
        collected += batch
        total = payload.get("total") if isinstance(payload, dict) else None
        if not batch or total is None or len(collected) >= total:
            return collected
        page += 1


def demo_accounts():
    # Loaded by path: importing the callrec package would pull in its dependencies.
    spec = importlib.util.spec_from_file_location("demo_data", PROJECT / "callrec" / "demo_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {number: rest for number, *rest in module.DEMO_ACCOUNTS}


def find_or_create(path, name, body):
    for obj in list_all(path):
        if obj.get("name") == name:
            return obj["id"]
    return call("POST", path, body)["id"]


def ensure_accounts(numbers):
    demo = demo_accounts()
    existing = {str(a.get("number")) for a in list_all("/accounts")}
    for number in numbers:
        if number in existing:
            print(f"account {number}: exists")
            continue
        if number not in demo:
            raise ApiError(f"{number} is not a demo account (callrec/demo_data.py)")
        _name, email, product, customer = demo[number]
        class_id = find_or_create("/customer-classes", "Demo customers",
                                  {"name": "Demo customers", "notify_new_call_recording": True})
        customer_id = find_or_create("/customers", customer,
                                     {"name": customer, "customer_class_id": class_id})
        product_id = find_or_create("/products", product,
                                    {"name": product, "call_recording": PRODUCTS[product]})
        call("POST", "/accounts", {"number": number, "customer_id": customer_id, "product_id": product_id,
                                   "email": email, "override": False, "call_recording": PRODUCTS[product]})
        print(f"account {number}: created ({product}, {customer})")


def account_id(number):
    for account in list_all("/accounts"):
        if str(account.get("number")) == number:
            return account["id"]
    raise ApiError(f"account {number} not found")


def codes(number):
    """The codes the controller listens for on this account's calls (GET .../effective-policy)."""
    policy = call("GET", f"/accounts/{account_id(number)}/effective-policy")
    return policy["codes"]["record_start_code"], policy["codes"]["record_stop_code"]


def recordings():
    return list_all("/recordings")


def account_number_of(recording, numbers_by_id):
    for key in ("account_number", "number"):
        if recording.get(key):
            return str(recording[key])
    account = recording.get("account_id", recording.get("account"))
    if isinstance(account, dict):
        return str(account.get("number") or numbers_by_id.get(account.get("id")))
    return numbers_by_id.get(account)


def wait_recording(number, seen_file):
    seen = set(Path(seen_file).read_text().split())
    numbers_by_id = {a["id"]: str(a.get("number")) for a in list_all("/accounts")}
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        new = [r for r in recordings()
               if str(r.get("id")) not in seen and account_number_of(r, numbers_by_id) == number]
        if new:
            for recording in new:
                print(json.dumps(recording, indent=2, sort_keys=True))
            return 0
        if time.monotonic() > deadline:
            print(f"no new recording of account {number} after {WAIT_SECONDS:.0f} s", file=sys.stderr)
            return 1
        time.sleep(1)  # the controller finalises the recording shortly after the hangup


def main(argv):
    try:
        if argv[1:2] == ["ensure-accounts"] and len(argv) > 2:
            ensure_accounts(argv[2:])
            return 0
        if argv[1:2] == ["codes"] and len(argv) == 3:
            print(*codes(argv[2]))
            return 0
        if argv[1:] == ["recording-ids"]:
            print("\n".join(str(r.get("id")) for r in recordings()))
            return 0
        if argv[1:2] == ["wait-recording"] and len(argv) == 4:
            return wait_recording(argv[2], argv[3])
    except (ApiError, urllib.error.URLError, KeyError, TypeError) as error:
        print(f"smoke_api: {error}", file=sys.stderr)
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
