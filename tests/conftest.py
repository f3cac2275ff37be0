"""Shared fixtures: real-service requirements (skip on a laptop, fail under CI=true) and common builders."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "grib"
REAL_CAMS = DATA / "cams-europe_ensemble_mugwort-pollen_2022-08-13to15_step0.grib"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(what: str, available: bool, how: str) -> None:
    """A missing real service fails the test under CI=true and skips it (visibly) elsewhere."""
    if available:
        return
    message = f"{what} is not available: {how}"
    if IN_CI:
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


def go_binary(name: str) -> str:
    """Found exactly as the library finds it (``find_binary``); missing fails under CI, skips elsewhere."""
    from jackfruit.adapters.subprocess_runner import find_binary
    from jackfruit.domain.errors import BackendUnavailable

    try:
        return find_binary(name)
    except BackendUnavailable as err:
        require(f"the Go binary {name}", False, f"{err}; run scripts/setup (builds ingest-go into .venv/bin)")
        raise


@pytest.fixture
def ingest_binary() -> str:
    return go_binary("jackfruit-ingest")


@pytest.fixture
def stub_binary() -> str:
    return go_binary("ads-stub")


@pytest.fixture
def ads_stub(stub_binary: str):
    from jackfruit.testing.ads_stub import AdsStub

    with AdsStub(api_key="test-key", binary=stub_binary) as stub:
        yield stub


DAY = date(2025, 3, 12)
