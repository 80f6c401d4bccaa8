"""LoginThrottle's counting rules, on a fake clock."""
from webui.throttle import LoginThrottle


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_pair_is_locked_after_its_limit_and_only_that_pair():
    clock = Clock()
    throttle = LoginThrottle(pair_limit=3, address_limit=100, clock=clock)
    for _ in range(3):
        assert throttle.retry_after("a", "admin") == 0
        throttle.failed("a", "admin")
    assert throttle.retry_after("a", "admin") == 15 * 60
    assert throttle.retry_after("a", "ADMIN ") == 15 * 60  # names compare as typed, case and spaces aside
    assert throttle.retry_after("b", "admin") == 0
    assert throttle.retry_after("a", "other") == 0


def test_failures_outside_the_window_do_not_add_up():
    clock = Clock()
    throttle = LoginThrottle(pair_limit=3, address_limit=100, window_seconds=60, clock=clock)
    for _ in range(10):
        throttle.failed("a", "admin")
        throttle.failed("a", "admin")
        clock.now += 61
    assert throttle.retry_after("a", "admin") == 0


def test_an_address_is_locked_after_its_limit_for_every_name():
    throttle = LoginThrottle(pair_limit=100, address_limit=4, clock=Clock())
    for i in range(4):
        throttle.failed("a", f"n{i}")
    assert throttle.retry_after("a", "anyone") > 0
    assert throttle.retry_after("b", "anyone") == 0


def test_success_clears_the_pair_count():
    throttle = LoginThrottle(pair_limit=3, address_limit=100, clock=Clock())
    throttle.failed("a", "admin")
    throttle.failed("a", "admin")
    throttle.succeeded("a", "admin")
    throttle.failed("a", "admin")
    throttle.failed("a", "admin")
    assert throttle.retry_after("a", "admin") == 0


def test_memory_is_bounded():
    throttle = LoginThrottle(pair_limit=100, address_limit=100, max_entries=1000, clock=Clock())
    for i in range(5000):
        throttle.failed(f"2001:db8::{i:x}", "admin")
    assert len(throttle._entries) <= 1000
