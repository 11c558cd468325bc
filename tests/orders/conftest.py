from decimal import Decimal

import pytest

from tests.factories import KUNSHAN, PUDONG, XUHUI, channel_client
from tests.orders.factories import LocationFactory, SkuFactory, WarehouseFactory


@pytest.fixture
def xuhui(db):
    return LocationFactory(code="SH-XUHUI", **XUHUI)


@pytest.fixture
def pudong(db):
    return LocationFactory(code="SH-PUDONG", **PUDONG)


@pytest.fixture
def kunshan(db):
    return WarehouseFactory(code="DC-KUNSHAN", **KUNSHAN)


@pytest.fixture
def tee(db):
    return SkuFactory(code="TEE-WHITE-M", name="White tee, M", price=Decimal("99.00"))


@pytest.fixture
def mug(db):
    return SkuFactory(code="MUG-BLUE", name="Blue mug", price=Decimal("35.50"))


@pytest.fixture
def web(db):
    """The web storefront's backend."""
    return channel_client("web")
