"""What inspection makes of the goods: restocked where they landed, written off, or sent to
a warehouse with both ends in the ledger; a corrected inspection undoes the first one."""

from decimal import Decimal

import pytest

from fulfillment.models import FulfillmentOrder
from inventory.models import StockMovement, Transfer
from orders.models import Order
from returns.references import ReturnReference
from tests.fulfillment.factories import act
from tests.inventory.factories import stock_put
from tests.returns.factories import (
    assert_money_clean,
    card,
    inspect,
    line_of,
    open_return,
    refunded,
    ship_all,
    ship_delivery,
    stock,
    web_checkout,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def received(web, kunshan, pudong, tee, at_pudong):
    """Two tees shipped from Kunshan, both handed in at Pudong's counter."""
    stock_put(location=kunshan, sku=tee, on_hand=5)
    order = web_checkout(web, [(tee, 2)], ship_delivery(), payments=card("213.00"))
    ship_all(order)
    body = open_return(at_pudong, order, [(line_of(order, tee), 2)], location=pudong).json()
    assert stock(pudong, tee) == (2, 0)
    return order, body["rma"]


def test_damaged_goods_are_written_off_not_restocked(received, pudong, tee, at_pudong):
    order, rma = received

    body = inspect(at_pudong, rma, [(line_of(order, tee), "damaged", "write_off")]).json()

    assert body["status"] == "inspected"
    assert stock(pudong, tee) == (0, 0)
    assert StockMovement.objects.filter(
        location=pudong, sku=tee, reason="write_off", reference=str(ReturnReference(rma=rma))
    ).exists()
    # The customer is refunded what the goods paid, and the whole order's shipping.
    assert refunded(order) == Decimal("213.00")
    assert_money_clean()


def test_a_transfer_to_a_warehouse_moves_stock_at_both_ends(received, kunshan, pudong, tee,
                                                            at_pudong):  # fmt: skip
    order, rma = received

    response = inspect(at_pudong, rma, [(line_of(order, tee), "defective", "transfer")],
                       target=kunshan.code)  # fmt: skip

    assert response.status_code == 200, response.content
    assert response.json()["lines"][0]["target"] == kunshan.code
    assert stock(pudong, tee) == (0, 0)
    transfer = Transfer.objects.get(from_location=pudong, to_location=kunshan, sku=tee)
    assert transfer.quantity == 2
    from inventory.services import stock_transfer_receive

    stock_transfer_receive(transfer=transfer)
    assert stock(kunshan, tee) == (5, 5)
    assert_money_clean()


def test_a_transfer_needs_another_location(received, pudong, tee, at_pudong):
    order, rma = received

    response = inspect(at_pudong, rma, [(line_of(order, tee), "defective", "transfer")],
                       target=pudong.code)  # fmt: skip

    assert response.status_code == 400
    assert stock(pudong, tee) == (2, 0)


def test_a_corrected_inspection_undoes_the_first_disposition(received, pudong, tee, at_pudong):
    order, rma = received
    line = line_of(order, tee)
    inspect(at_pudong, rma, [(line, "damaged", "write_off")])
    assert stock(pudong, tee) == (0, 0)

    response = inspect(at_pudong, rma, [(line, "resalable", "restock")])

    assert response.status_code == 200, response.content
    assert stock(pudong, tee) == (2, 2)
    assert refunded(order) == Decimal("213.00")  # refunded once, not again
    complete = at_pudong.post(f"/api/v1/returns/{rma}/complete")
    assert complete.json()["status"] == "completed"
    again = inspect(at_pudong, rma, [(line, "damaged", "write_off")])
    assert again.status_code == 409
    assert stock(pudong, tee) == (2, 2)
    assert_money_clean()


def test_a_return_rejected_after_receipt_hands_the_goods_back(received, pudong, tee, at_pudong):
    order, rma = received

    response = at_pudong.post(f"/api/v1/returns/{rma}/reject", {"reason": "worn and washed"},
                              format="json")  # fmt: skip

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "rejected"
    assert stock(pudong, tee) == (0, 0)
    order.refresh_from_db()
    assert order.return_status == Order.ReturnStatus.NONE
    assert line_of(order, tee).quantity_returned == 0
    assert refunded(order) == 0
    assert "return_rejected" in order.events.values_list("kind", flat=True)
    assert_money_clean()


def test_a_pick_rejected_as_damaged_is_not_promised_again(web, xuhui, tee):
    from tests.factories import staff_client

    stock_put(location=xuhui, sku=tee, on_hand=2)
    order = web_checkout(web, [(tee, 2)], {"method": "pickup", "location": xuhui.code})
    fo = FulfillmentOrder.objects.get(order=order)
    at_xuhui = staff_client(xuhui)
    act(at_xuhui, fo, "accept")

    response = act(at_xuhui, fo, "reject", reason="damaged", note="box crushed")

    assert response.status_code == 200, response.content
    assert stock(xuhui, tee) == (2, 0)
    seen = web.get("/api/v1/availability", {"sku": tee.code, "location": xuhui.code,
                                             "near": "31.19,121.43"}).json()["results"]  # fmt: skip
    assert [row["available"] for row in seen] in ([], [0])
    again = web.post("/api/v1/checkout", {
        "customer": {"email": "bo@example.com"}, "channel": "web",
        "lines": [{"sku": tee.code, "quantity": 1}],
        "delivery": {"method": "pickup", "location": xuhui.code},
    }, format="json", HTTP_IDEMPOTENCY_KEY="after-damage")  # fmt: skip
    assert again.status_code == 409
    assert again.json()["code"] == "insufficient_stock"
    assert_money_clean()


def test_a_corrected_inspection_refunds_what_it_adds_and_never_takes_back(
    received, pudong, tee, at_pudong
):
    order, rma = received
    line = line_of(order, tee)
    first = inspect(at_pudong, rma, [(line, "missing", "write_off")]).json()
    assert first["refund_total"] == "0.00"

    found = inspect(at_pudong, rma, [(line, "resalable", "restock")])
    assert found.status_code == 200, found.content
    assert found.json()["refund_total"] == "213.00"
    assert stock(pudong, tee) == (2, 2)

    lost_again = inspect(at_pudong, rma, [(line, "missing", "write_off")])
    assert lost_again.status_code == 409
    assert lost_again.json()["code"] == "refund_already_issued"
    assert stock(pudong, tee) == (2, 2)  # nothing half-done
    assert refunded(order) == Decimal("213.00")
    assert_money_clean()
