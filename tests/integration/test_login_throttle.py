"""Login throttling (issue 13, item 3): by address and by (address, name), revealing no user, locking out no admin."""
from __future__ import annotations

import re

import pytest
from webui_fixtures import ADMIN_NAME, ADMIN_PASSWORD, admin, csrf_token  # noqa: F401


class Browser:
    """A test client at one client address."""

    def __init__(self, app, address: str):
        self.client = app.test_client()
        self.client.environ_base["REMOTE_ADDR"] = address

    def login(self, username: str = ADMIN_NAME, password: str = ADMIN_PASSWORD):
        token = csrf_token(self.client, "/login")
        return self.client.post("/login", data={"csrf_token": token, "username": username, "password": password})


def _answer(response) -> tuple[int, str, str | None]:
    """What an attacker sees: status, the page without its CSRF token, Retry-After."""
    body = re.sub(r'value="[^"]+"', "", response.get_data(as_text=True))
    return response.status_code, body, response.headers.get("Retry-After")


def test_a_stranger_cannot_lock_an_admin_out(app, admin):
    stranger = Browser(app, "203.0.113.9")
    for _ in range(30):
        stranger.login(password="guess")
    assert stranger.login().status_code == 429  # the stranger's own address is throttled ...
    assert Browser(app, "198.51.100.7").login().status_code == 302  # ... the admin, elsewhere, is not


def test_a_correct_password_from_a_throttled_address_is_refused(app, admin):
    browser = Browser(app, "203.0.113.9")
    for _ in range(5):
        assert browser.login(password="wrong").status_code == 401
    response = browser.login()
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert browser.client.get("/").status_code == 302


def test_unknown_and_real_users_get_the_same_answers(app, admin):
    real = [_answer(Browser(app, "192.0.2.1").login(password="wrong")) for _ in range(7)]
    unknown = [_answer(Browser(app, "192.0.2.2").login(username="nobody", password="wrong")) for _ in range(7)]
    assert real == unknown
    assert [status for status, _, _ in real] == [401] * 5 + [429] * 2


def test_one_address_trying_many_names_is_throttled(app, admin):
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 10
    sprayer = Browser(app, "203.0.113.50")
    statuses = [sprayer.login(username=f"user{i}", password="x").status_code for i in range(10)]
    assert statuses == [401] * 10
    assert sprayer.login().status_code == 429  # a name it never tried, the right password: still throttled
    assert Browser(app, "203.0.113.51").login().status_code == 302


def test_the_throttle_runs_out(app, admin):
    browser = Browser(app, "203.0.113.9")
    for _ in range(5):
        browser.login(password="wrong")
    assert browser.login().status_code == 429
    throttle = app.extensions["callrec_login_throttle"]
    start = throttle.clock()
    throttle.clock = lambda: start + 15 * 60 + 1
    assert browser.login().status_code == 302


@pytest.mark.parametrize("name", ["ad\x00min", "x" * 5000])
def test_odd_user_names_are_a_failed_login_not_a_server_error(app, admin, name):
    assert Browser(app, "192.0.2.9").login(username=name).status_code == 401


def test_a_user_name_in_invalid_utf8_is_a_failed_login(app, admin):
    browser = Browser(app, "192.0.2.9")
    token = csrf_token(browser.client, "/login")
    response = browser.client.post("/login", data=f"csrf_token={token}&username=%ED%A0%80&password=x",
                                   content_type="application/x-www-form-urlencoded")
    assert response.status_code == 401


def test_a_right_password_clears_the_count_for_that_name(app, admin):
    browser = Browser(app, "192.0.2.3")
    for _ in range(4):
        browser.login(password="wrong")
    assert browser.login().status_code == 302
    again = Browser(app, "192.0.2.3")
    for _ in range(4):
        assert again.login(password="wrong").status_code == 401


# ---------------------------------------------------------------------------------------------- proxies, workers


@pytest.fixture
def worker(database_url):
    """Make another web UI process on the same database (a second gunicorn worker, or the app after a restart)."""
    from callrec.models import db
    from webui import create_app

    made = []

    def make(**config):
        made.append(create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url,
                                "SECRET_KEY": "test-secret", **config}))
        return made[-1]
    yield make
    for other in made:
        with other.app_context():
            db.engine.dispose()


class ProxiedBrowser(Browser):
    """A client behind a reverse proxy at 10.0.0.1, which appends the client's address to X-Forwarded-For."""

    def __init__(self, app, address: str, claimed: str | None = None):
        super().__init__(app, "10.0.0.1")
        forwarded = f"{claimed}, {address}" if claimed else address  # what the client sent, then the proxy's
        self.client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded


def test_behind_a_trusted_proxy_the_throttle_sees_the_real_client(app, admin, worker):
    proxied = worker(TRUSTED_PROXIES=1)
    attacker = ProxiedBrowser(proxied, "203.0.113.9")
    for _ in range(5):
        attacker.login(password="wrong")
    assert attacker.login().status_code == 429
    assert ProxiedBrowser(proxied, "198.51.100.7").login().status_code == 302  # the admin, elsewhere


def test_a_client_cannot_pose_as_another_address_through_the_proxy(app, admin, worker):
    proxied = worker(TRUSTED_PROXIES=1)
    attacker = ProxiedBrowser(proxied, "203.0.113.9", claimed="192.0.2.1")
    for i in range(5):
        # a new made-up address every time: still one client to the throttle
        attacker.client.environ_base["HTTP_X_FORWARDED_FOR"] = f"192.0.2.{i}, 203.0.113.9"
        attacker.login(password="wrong")
    assert attacker.login().status_code == 429


def test_without_trusted_proxies_x_forwarded_for_is_ignored(app, admin):
    attacker = ProxiedBrowser(app, "203.0.113.9")
    for _ in range(5):
        attacker.login(password="wrong")
    # Everyone behind the (untrusted) proxy shares its address: the header does not single anyone out.
    assert ProxiedBrowser(app, "198.51.100.7").login().status_code == 429


def test_the_failed_login_address_in_the_audit_trail_is_the_real_client(app, admin, worker):
    from sqlalchemy import select

    from callrec.models import AuditEvent, db

    proxied = worker(TRUSTED_PROXIES=1)
    ProxiedBrowser(proxied, "203.0.113.9").login(password="wrong")
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.address)) == "203.0.113.9"


def test_throttle_counts_are_shared_by_every_worker_and_survive_a_restart(app, admin, worker):
    first, second = worker(), worker()
    for _ in range(3):
        assert Browser(first, "203.0.113.9").login(password="wrong").status_code == 401
    for _ in range(2):
        assert Browser(second, "203.0.113.9").login(password="wrong").status_code == 401
    assert Browser(first, "203.0.113.9").login().status_code == 429
    assert Browser(second, "203.0.113.9").login().status_code == 429
    assert Browser(worker(), "203.0.113.9").login().status_code == 429  # restarted


def test_concurrent_failures_in_two_workers_are_all_counted(app, worker):
    import threading

    from sqlalchemy import select

    from callrec.models import LoginFailure, db
    from webui.auth import login_throttle

    apps = [worker(LOGIN_MAX_FAILURES_PER_ADDRESS=10_000, LOGIN_MAX_FAILURES=10_000) for _ in range(2)]
    start = threading.Barrier(4)

    def fail_often(web):
        with web.app_context():
            throttle = login_throttle()
            start.wait(timeout=10)
            for _ in range(15):
                throttle.failed("203.0.113.9", "admin")

    threads = [threading.Thread(target=fail_often, args=(web,)) for web in apps * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with app.app_context():
        counts = sorted(db.session.scalars(select(LoginFailure.failures)).all())
    assert counts == [60, 60]  # the address's row and the (address, name) row: no failure lost
