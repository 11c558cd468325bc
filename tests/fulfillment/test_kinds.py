"""A fulfillment order's kind is the delivery method it serves, or a transfer."""

import pytest

from fulfillment.models import FULFILLMENT_KINDS, FulfillmentOrder
from fulfillment.services.routing import fulfillment_kind_for_method
from inventory.models import DeliveryMethod


@pytest.mark.parametrize("method", ["ship", "pickup", "curbside"])
def test_an_order_is_delivered_by_fulfillment_orders_of_its_own_method(method):
    assert fulfillment_kind_for_method(method) == DeliveryMethod(method)


@pytest.mark.parametrize("method", ["carry_out", "transfer", "teleport"])
def test_no_fulfillment_order_delivers_a_carry_out_or_a_transfer_itself(method):
    with pytest.raises(ValueError, match=method):
        fulfillment_kind_for_method(method)


def test_only_pickup_and_curbside_are_collected_at_the_store():
    collected = {
        kind for kind in FULFILLMENT_KINDS if FulfillmentOrder(kind=kind).is_collected_at_store()
    }
    assert collected == {DeliveryMethod.PICKUP, DeliveryMethod.CURBSIDE}
