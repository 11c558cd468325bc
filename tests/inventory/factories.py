from decimal import Decimal

import factory

from inventory.models import Sku, StockLevel
from inventory.services import (
    MovementOrigin,
    StockRequest,
    stock_receive,
    stock_reserve,
    stock_set_safety_stock,
)
from stores.models import Location


class SkuFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sku
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"TSKU-{n:05d}")
    name = factory.LazyAttribute(lambda sku: f"Test item {sku.code}")
    barcode = factory.Sequence(lambda n: f"690{n:010d}")
    price = Decimal("99.00")
    currency = "CNY"
    is_active = True


def stock_put(*, location: Location, sku: Sku, on_hand: int, safety_stock: int = 0) -> StockLevel:
    """Stock on the shelf as the services would record it: a receipt in the ledger."""
    if on_hand:
        stock_receive(
            location=location,
            sku=sku,
            quantity=on_hand,
            origin=MovementOrigin(reference="test stock"),
        )
    stock_set_safety_stock(location=location, sku=sku, safety_stock=safety_stock)
    return StockLevel.objects.get(location=location, sku=sku)


def reserve_one(*, location: Location, sku: Sku, quantity: int, demand: str = "ORDER-1"):
    """Hold `quantity` of `sku` at `location` for one demand line; returns the reservation."""
    [reservation] = stock_reserve(
        requests=[
            StockRequest(
                location_id=location.pk, sku_id=sku.pk, quantity=quantity, reference=f"{demand}/1"
            )
        ],
        demand=demand,
    )
    return reservation


def level_of(location: Location, sku: Sku) -> StockLevel:
    return StockLevel.objects.get(location=location, sku=sku)
