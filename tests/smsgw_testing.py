"""Helpers the test modules import by name (conftest modules share one name, so they cannot be imported reliably)."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skip the test when `condition` is false — or fail it, under CI."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI must run this test, but: {reason}")
    pytest.skip(reason)
