"""Integration fixtures shared by several files (the app/client/api fixtures live in tests/conftest.py)."""
import pytest

from tests.integration.controller_harness import Harness


@pytest.fixture
def h(app):
    """The real controller, in this process, against a fresh FreeSWITCH emulator and the test database."""
    harness = Harness(app)
    yield harness
    harness.stop()
