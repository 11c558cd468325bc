"""Store staff see and act on their own locations' fulfillment orders, in queues."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from fulfillment.models import FulfillmentOrder
from fulfillment.services.actions import fulfillment_accept, fulfillment_pick, fulfillment_ready
from stores.models import StaffMembership
from tests.factories import assert_stock_consistent, place_order, staff_client
from tests.fulfillment.factories import act, fulfillment_orders, level, stock_put

pytestmark = pytest.mark.django_db(transaction=True)

LIST = "/api/v1/fulfillment-orders"


def test_staff_of_another_store_get_404_and_never_see_it(xuhui, pudong, tee, at_xuhui, at_pudong):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    order = place_order([(tee, 1)], method="ship")
    [fo] = fulfillment_orders(order)

    detail = at_pudong.get(f"{LIST}/{fo.pk}")
    accepted = act(at_pudong, fo, "accept")
    rejected = act(at_pudong, fo, "reject", reason="not_found")
    listed = at_pudong.get(LIST).json()
    by_location = at_pudong.get(LIST, {"location": "SH-XUHUI"}).json()

    assert [detail.status_code, accepted.status_code, rejected.status_code] == [404, 404, 404]
    assert detail.json()["code"] == "not_found"
    assert (listed["count"], listed["results"]) == (0, [])
    assert by_location["count"] == 0
    fo.refresh_from_db()
    assert fo.status == "pending"
    assert level(xuhui, tee) == (5, 1)
    own = at_xuhui.get(f"{LIST}/{fo.pk}")
    assert own.status_code == 200
    assert (own.json()["order"], own.json()["location"]) == (order.number, "SH-XUHUI")
    assert_stock_consistent()


def test_staff_of_two_stores_see_both(xuhui, pudong, tee):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    stock_put(location=pudong, sku=tee, on_hand=5)
    at_x = place_order([(tee, 1)], method="pickup", location=xuhui)
    at_p = place_order([(tee, 1)], method="pickup", location=pudong)
    user = get_user_model().objects.create_user(username="floater")
    for location in (xuhui, pudong):
        StaffMembership.objects.create(user=user, location=location)

    listed = staff_client(user=user).get(LIST).json()

    assert sorted((row["order"], row["location"]) for row in listed["results"]) == sorted(
        [(at_x.number, "SH-XUHUI"), (at_p.number, "SH-PUDONG")]
    )


def test_users_without_a_store_may_not_use_the_fulfillment_api(xuhui, tee, web, user_client):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    [fo] = fulfillment_orders(place_order([(tee, 1)], method="pickup", location=xuhui))

    responses = [
        user_client().get(LIST),
        web.get(LIST),
        web.post(f"{LIST}/{fo.pk}/accept"),
    ]

    assert [r.status_code for r in responses] == [403, 403, 403]
    fo.refresh_from_db()
    assert fo.status == "pending"


@pytest.fixture
def queues(xuhui, tee, mug, xuhui_associate):
    """Work at Xuhui in every state a queue cares about, by name."""
    stock_put(location=xuhui, sku=tee, on_hand=20)
    stock_put(location=xuhui, sku=mug, on_hand=20)

    def one(method: str, sku=tee) -> FulfillmentOrder:
        [fo] = fulfillment_orders(place_order([(sku, 1)], method=method, location=xuhui))
        return fo

    def ready(fo: FulfillmentOrder) -> None:
        for step in (fulfillment_accept, fulfillment_pick, fulfillment_ready):
            step(fulfillment_order=fo, actor=xuhui_associate)

    fos = {
        "new_pickup": one("pickup"),
        "old_ship": one("ship"),
        "ready_pickup": one("pickup", mug),
        "overdue_pickup": one("curbside"),
        "accepted_ship": one("ship", mug),
    }
    FulfillmentOrder.objects.filter(pk=fos["old_ship"].pk).update(
        accept_by=timezone.now() - timedelta(minutes=5)
    )
    ready(fos["ready_pickup"])
    ready(fos["overdue_pickup"])
    FulfillmentOrder.objects.filter(pk=fos["overdue_pickup"].pk).update(
        pickup_deadline=timezone.now() - timedelta(minutes=1)
    )
    fulfillment_accept(fulfillment_order=fos["accepted_ship"], actor=xuhui_associate)
    return fos


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"new_pickup", "old_ship", "ready_pickup", "overdue_pickup", "accepted_ship"}),
        ({"status": "pending"}, {"new_pickup", "old_ship"}),
        ({"status": ["pending", "accepted"]}, {"new_pickup", "old_ship", "accepted_ship"}),
        ({"kind": "ship"}, {"old_ship", "accepted_ship"}),
        ({"kind": "curbside"}, {"overdue_pickup"}),
        ({"queue": "to_accept"}, {"new_pickup", "old_ship"}),
        ({"queue": "to_pick"}, {"accepted_ship"}),
        ({"queue": "ready"}, {"ready_pickup", "overdue_pickup"}),
        ({"queue": "late"}, {"old_ship", "overdue_pickup"}),
        ({"queue": "late", "kind": "ship"}, {"old_ship"}),
        (
            {"location": "SH-XUHUI", "status": "ready_for_pickup"},
            {"ready_pickup", "overdue_pickup"},
        ),
    ],
)
def test_list_filters_give_each_queue_its_work(queues, at_xuhui, params, expected):
    names = {fo.pk: name for name, fo in queues.items()}

    response = at_xuhui.get(LIST, params)

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) >= {"count", "next", "previous", "results"}
    assert {names[row["id"]] for row in body["results"]} == expected
    assert body["count"] == len(expected)


def test_list_filter_by_order_number(queues, at_xuhui):
    number = queues["ready_pickup"].order.number

    rows = at_xuhui.get(LIST, {"order": number}).json()["results"]

    assert [(row["id"], row["order"], row["status"]) for row in rows] == [
        (queues["ready_pickup"].pk, number, "ready_for_pickup")
    ]


@pytest.mark.parametrize("params", [{"status": "lost"}, {"queue": "someday"}, {"kind": "drone"}])
def test_unknown_filter_value_is_400(queues, at_xuhui, params):
    response = at_xuhui.get(LIST, params)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
