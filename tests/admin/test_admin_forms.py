"""The admin's buttons that take input ask for what the API's action takes and refuse what
it refuses: one set of rules, the API's input serializers."""

import pytest

from fulfillment.models import FulfillmentOrder
from fulfillment.services import actions
from tests.admin.helpers import staff_in_admin
from tests.factories import XUHUI, place_order
from tests.fulfillment.factories import LocationFactory, SkuFactory, stock_put

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def store():
    return LocationFactory(code="SH-XUHUI", **XUHUI)


@pytest.fixture
def staff(client, store):
    return staff_in_admin(client, store, "xuhui-associate")


def _order(store, method: str) -> FulfillmentOrder:
    sku = SkuFactory(code="TEE-M")
    stock_put(location=store, sku=sku, on_hand=5)
    order = place_order([(sku, 1)], method=method, location=store)
    return FulfillmentOrder.objects.get(order=order)


def _submit(client, fo, transition: str, data: dict):
    return client.post(
        f"/admin/fulfillment/fulfillmentorder/{fo.pk}/transition/{transition}/", data
    )


def test_reject_form_offers_the_api_reasons_and_refuses_the_escalations_own(client, staff, store):
    fo = _order(store, "ship")

    form = client.get(f"/admin/fulfillment/fulfillmentorder/{fo.pk}/transition/reject/")
    refused = _submit(client, fo, "reject", {"reason": "sla_expired", "note": ""})
    fo.refresh_from_db()
    status_after_refusal = fo.status
    done = _submit(client, fo, "reject", {"reason": "damaged", "note": "box crushed"})

    assert 'value="damaged"' in form.content.decode()
    assert 'value="sla_expired"' not in form.content.decode()
    assert refused.status_code == 200  # the form again, with the serializer's error
    assert "is not a valid choice" in refused.content.decode()
    assert status_after_refusal == FulfillmentOrder.Status.PENDING
    assert done.status_code == 302
    fo.refresh_from_db()
    assert (fo.status, fo.rejection_reason, fo.rejection_note) == (
        "rejected",
        "damaged",
        "box crushed",
    )
    assert fo.order.events.filter(kind="rejected", actor=staff).exists()


def test_ship_form_needs_a_tracking_number_and_ships_with_it(client, staff, store):
    fo = _order(store, "ship")
    for step in (actions.fulfillment_accept, actions.fulfillment_pick, actions.fulfillment_pack):
        step(fulfillment_order=fo)

    refused = _submit(client, fo, "ship", {"carrier": "SF Express", "tracking_number": ""})
    fo.refresh_from_db()
    status_after_refusal = fo.status
    done = _submit(client, fo, "ship", {"carrier": "SF Express", "tracking_number": "SF1"})

    assert "may not be blank" in refused.content.decode()
    assert status_after_refusal == FulfillmentOrder.Status.PACKED
    assert done.status_code == 302
    fo.refresh_from_db()
    assert (fo.status, fo.carrier, fo.tracking_number) == ("shipped", "SF Express", "SF1")


def test_handover_form_without_a_code_or_an_override_is_refused_before_any_try_counts(
    client, staff, store
):
    fo = _order(store, "pickup")
    for step in (actions.fulfillment_accept, actions.fulfillment_pick, actions.fulfillment_ready):
        step(fulfillment_order=fo)

    refused = _submit(client, fo, "handover", {"code": "", "override_reason": ""})

    assert "pickup code, or a manager" in refused.content.decode()
    fo.refresh_from_db()
    assert (fo.status, fo.pickup_code_failures) == ("ready_for_pickup", 0)
