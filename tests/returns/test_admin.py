"""Staff at the counter in the admin: a return started from the order's page, inspected per
line, completed; scoped to their stores; every button the same service as the API."""

import pytest
from django.contrib.auth.models import Permission

from returns.models import Return
from tests.admin.helpers import store_staff
from tests.factories import staff_client
from tests.inventory.factories import stock_put
from tests.returns.factories import (
    assert_money_clean,
    card,
    line_of,
    open_return,
    refunded,
    ship_all,
    ship_delivery,
    stock,
    web_checkout,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _staff(client, location, name):
    user = store_staff(location, name)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_return", "change_return", "view_order"])
    )
    client.force_login(user)
    return user


@pytest.fixture
def shipped(web, kunshan, tee):
    stock_put(location=kunshan, sku=tee, on_hand=5)
    order = web_checkout(web, [(tee, 2)], ship_delivery(), payments=card("213.00"))
    ship_all(order)
    return order


def test_the_order_page_links_to_start_a_return(admin_client, shipped):
    page = admin_client.get(f"/admin/orders/order/{shipped.pk}/change/")

    assert f"/admin/returns/return/start/{shipped.number}/" in page.content.decode()


def test_staff_start_a_return_from_the_order_page_inspect_it_and_complete_it(
    client, shipped, pudong, tee
):
    _staff(client, pudong, "pudong-clerk")
    line = line_of(shipped, tee)
    start = f"/admin/returns/return/start/{shipped.number}/"
    assert shipped.number in client.get(start).content.decode()

    response = client.post(start, {"location": pudong.code, f"quantity-{line.pk}": "2",
                                   f"reason-{line.pk}": "too_large"})  # fmt: skip

    assert response.status_code == 302, response.content.decode()[-2000:]
    ret = Return.objects.get(order=shipped)
    assert (ret.status, ret.location) == ("received", pudong)
    rline = ret.lines.get()
    response = client.post(f"/admin/returns/return/{ret.pk}/change/", {
        "lines-TOTAL_FORMS": "1", "lines-INITIAL_FORMS": "1", "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000", "lines-0-id": str(rline.pk),
        "lines-0-return_order": str(ret.pk), "lines-0-condition": "resalable",
        "lines-0-disposition": "restock", "lines-0-target_location": "",
        "exchanges-TOTAL_FORMS": "0", "exchanges-INITIAL_FORMS": "0",
        "exchanges-MIN_NUM_FORMS": "0", "exchanges-MAX_NUM_FORMS": "1000",
    })  # fmt: skip
    assert response.status_code == 302, response.content.decode()[-3000:]
    ret.refresh_from_db()
    assert ret.status == "inspected"
    assert stock(pudong, tee) == (2, 2)
    assert refunded(shipped) == 213

    response = client.post(f"/admin/returns/return/{ret.pk}/change/", {
        "_fsm_transition_to": "complete",
        "lines-TOTAL_FORMS": "0", "lines-INITIAL_FORMS": "0", "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000", "exchanges-TOTAL_FORMS": "0",
        "exchanges-INITIAL_FORMS": "0", "exchanges-MIN_NUM_FORMS": "0",
        "exchanges-MAX_NUM_FORMS": "1000",
    })  # fmt: skip
    ret.refresh_from_db()
    assert ret.status == "completed"
    reject = client.get(f"/admin/returns/return/{ret.pk}/transition/reject/")
    assert reject.status_code in (200, 302)
    assert_money_clean()


def test_staff_of_another_store_do_not_see_a_return_received_elsewhere(
    client, shipped, pudong, xuhui, tee
):
    from tests.factories import staff_client
    from tests.returns.factories import open_return

    rma = open_return(staff_client(pudong), shipped, [(line_of(shipped, tee), 1)],
                      location=pudong).json()["rma"]  # fmt: skip
    _staff(client, xuhui, "xuhui-clerk")

    listing = client.get("/admin/returns/return/")

    assert listing.status_code == 200
    assert rma not in listing.content.decode()
    pk = Return.objects.get(rma=rma).pk
    assert client.get(f"/admin/returns/return/{pk}/change/").status_code in (302, 404)


def test_the_admin_reject_button_asks_for_a_reason_and_calls_the_service(
    client, shipped, web, pudong, tee
):
    from tests.returns.factories import open_return

    rma = open_return(web, shipped, [(line_of(shipped, tee), 1)]).json()["rma"]
    ret = Return.objects.get(rma=rma)
    _staff(client, pudong, "pudong-clerk-2")
    url = f"/admin/returns/return/{ret.pk}/transition/reject/"

    assert client.get(url).status_code == 200
    response = client.post(url, {"reason": "bought elsewhere"})

    assert response.status_code == 302
    ret.refresh_from_db()
    assert (ret.status, ret.reject_reason) == ("rejected", "bought elsewhere")


def test_the_customer_page_lists_their_returns_with_where_and_what_was_refunded(
    admin_client, shipped, pudong, tee
):
    at_pudong = staff_client(pudong)
    opened = open_return(at_pudong, shipped, [(line_of(shipped, tee), 1)], location=pudong)
    rma = opened.json()["rma"]

    page = admin_client.get(f"/admin/customers/customer/{shipped.customer_id}/change/")

    text = page.content.decode()
    assert page.status_code == 200
    assert f">{rma}</a> for order {shipped.number}: Received at SH-PUDONG" in text
    assert f"/admin/returns/return/{Return.objects.get(rma=rma).pk}/change/" in text
