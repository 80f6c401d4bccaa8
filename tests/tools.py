"""Tools the tests need from Debian: missing here means skip, missing in CI means fail (CI must install them)."""
from __future__ import annotations

import os
import shutil

import pytest


def skip_or_fail(message: str) -> None:
    """Skip on a developer's machine; fail when env CI is set, so CI can never silently test less."""
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must install it)")
    pytest.skip(message)


def require_tools(*tools: str) -> None:
    """Skip (or, in CI, fail) unless every named program is on PATH."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        skip_or_fail(f"not installed: {', '.join(missing)}")
