"""Fixtures every test gets: fresh step counters, no country from the environment."""

import importlib.util

import pytest

from tests import fakes

# nnU-Net's tests run in their own environment (Makefile): elsewhere its trainers cannot be
# imported, not even to look for doctests.
collect_ignore = [] if importlib.util.find_spec("nnunetv2") else ["nnunet_trainers.py"]


@pytest.fixture(autouse=True)
def _fresh_step_counts():
    fakes.STEP_COUNTS.update(train=0, val=0)
    yield


@pytest.fixture(autouse=True)
def _no_country_from_the_environment(monkeypatch):
    monkeypatch.delenv("LIGHTNING_CARBON_COUNTRY", raising=False)


def pytest_sessionfinish(session, exitstatus):
    """No orphans: a DDP or worker test that timed out must not leave processes behind that
    keep CI waiting after the suite has ended."""
    import psutil

    leftovers = psutil.Process().children(recursive=True)
    for process in leftovers:
        process.terminate()
    _, alive = psutil.wait_procs(leftovers, timeout=5)
    for process in alive:
        process.kill()
