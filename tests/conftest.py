import pytest

from tests import fakes


@pytest.fixture(autouse=True)
def _fresh_step_counts():
    fakes.STEP_COUNTS.update(train=0, val=0)
    yield


@pytest.fixture(autouse=True)
def _no_country_from_the_environment(monkeypatch):
    monkeypatch.delenv("LIGHTNING_CARBON_COUNTRY", raising=False)
