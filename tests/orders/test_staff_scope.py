"""Which orders store staff list and may change once fulfillment moved them between stores."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from fulfillment.services.actions import fulfillment_reject
from orders.models import Order
from tests.factories import place_order, staff_client, staff_member
from tests.fulfillment.factories import fulfillment_orders, level, stock_put

# Rejecting hands the lines to the re-routing task after commit.
pytestmark = pytest.mark.django_db(transaction=True)


def _admin_client(user) -> Client:
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.add(Permission.objects.get(codename="view_order"))
    client = Client()
    client.force_login(user)
    return client


def listed(client) -> list[str]:
    response = client.get("/api/v1/orders")
    assert response.status_code == 200, response.content
    return [order["number"] for order in response.json()["results"]]


@pytest.fixture
def rerouted(xuhui, pudong, tee):
    """A ship order Xuhui rejected, now held at Pudong."""
    stock_put(location=xuhui, sku=tee, on_hand=5)
    stock_put(location=pudong, sku=tee, on_hand=5)
    order = place_order([(tee, 1)], method="ship")
    [at_xuhui] = fulfillment_orders(order)
    assert at_xuhui.location == xuhui
    fulfillment_reject(fulfillment_order=at_xuhui, reason="not_found", actor=staff_member(xuhui))
    assert [fo.location for fo in fulfillment_orders(order)] == [xuhui, pudong]
    return order


def test_a_store_that_rejected_a_rerouted_order_no_longer_lists_or_cancels_it(
    rerouted, xuhui, pudong, tee
):
    xuhui_staff = staff_client(user=staff_member(xuhui))

    cancel = xuhui_staff.post(f"/api/v1/orders/{rerouted.number}/cancel", {}, format="json")

    assert rerouted.number not in listed(xuhui_staff)
    assert cancel.status_code in (403, 404)
    assert Order.objects.get(pk=rerouted.pk).status != Order.Status.CANCELLED
    assert level(pudong, tee) == (5, 1)


def test_the_store_the_order_was_rerouted_to_lists_and_may_cancel_it(rerouted, xuhui, pudong, tee):
    pudong_staff = staff_client(user=staff_member(pudong))

    assert rerouted.number in listed(pudong_staff)
    cancel = pudong_staff.post(f"/api/v1/orders/{rerouted.number}/cancel", {}, format="json")

    assert cancel.status_code == 200, cancel.content
    assert cancel.json()["status"] == "cancelled"
    assert level(pudong, tee) == (5, 0)


def test_the_admin_order_list_of_a_store_that_rejected_it_leaves_it_out(rerouted, xuhui, pudong):
    at_xuhui = _admin_client(staff_member(xuhui)).get("/admin/orders/order/")
    at_pudong = _admin_client(staff_member(pudong)).get("/admin/orders/order/")

    assert (at_xuhui.status_code, at_pudong.status_code) == (200, 200)
    assert rerouted.number not in at_xuhui.content.decode()
    assert rerouted.number in at_pudong.content.decode()
