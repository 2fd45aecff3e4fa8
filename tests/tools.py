"""What a test does when a system tool it needs (chromium, espeak-ng) is missing: on a developer's machine it is
skipped with a message; under CI (`CI=true`) the run fails, so CI cannot pass with a layer of tests gone."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def missing_tool(tool: str, consequence: str) -> NoReturn:
    """Skip (locally) or fail (CI) because `tool` is not installed; `consequence` says what is not tested."""
    message = f"{tool} is not installed (./install.sh --browser installs it): {consequence}"
    if in_ci():
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


def missing_extra(module: str, install: str, consequence: str) -> NoReturn:
    """Skip (locally) or fail (CI) because the optional extra that brings `module` is not installed."""
    message = f"{module} is not installed ({install} installs it): {consequence}"
    if in_ci():
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)
