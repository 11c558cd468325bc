import pytest

from tests.factories import JINGAN, staff_client
from tests.stores.factories import LocationFactory


@pytest.fixture
def jingan(db):
    return LocationFactory(code="SH-JINGAN", name="Jing'an store", **JINGAN)


@pytest.fixture
def at_xuhui(xuhui):
    return staff_client(xuhui)


@pytest.fixture
def at_pudong(pudong):
    return staff_client(pudong)


@pytest.fixture
def at_jingan(jingan):
    return staff_client(jingan)


@pytest.fixture
def celery_worker_env() -> dict[str, str]:
    """The real worker keeps its emails in memory (no mail server in tests)."""
    return {"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
