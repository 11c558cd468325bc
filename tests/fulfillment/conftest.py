import uuid

import pytest

from stores.models import StaffMembership
from tests.factories import JINGAN, staff_client, staff_member
from tests.fulfillment.factories import LocationFactory
from tests.fulfillment.worker_mail import KEY_VARIABLE


@pytest.fixture
def jingan():
    return LocationFactory(code="SH-JINGAN", name="Jing'an store", **JINGAN)


@pytest.fixture
def xuhui_associate(xuhui):
    return staff_member(xuhui)


@pytest.fixture
def xuhui_manager(xuhui):
    return staff_member(xuhui, role=StaffMembership.Role.MANAGER)


@pytest.fixture
def pudong_associate(pudong):
    return staff_member(pudong)


@pytest.fixture
def at_xuhui(xuhui_associate):
    """The store app of an associate at Xuhui."""
    return staff_client(user=xuhui_associate)


@pytest.fixture
def at_pudong(pudong_associate):
    return staff_client(user=pudong_associate)


@pytest.fixture
def worker_mail_name() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def celery_worker_env(worker_mail_name) -> dict[str, str]:
    """The real worker sends email to a Redis list that the test reads."""
    return {
        "EMAIL_BACKEND": "tests.fulfillment.worker_mail.RedisEmailBackend",
        KEY_VARIABLE: worker_mail_name,
    }
