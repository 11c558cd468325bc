"""Property: however a sale is returned, in whatever pieces at whichever stores, with
whatever fees, the refunds never add up to more than was paid, and a sale returned whole
without fees is refunded to the cent."""

import uuid
from decimal import Decimal

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.errors import DomainError
from orders.services.checkout import CheckoutLine, CheckoutRequest, checkout
from orders.services.pricing import Discount
from payments.models import PaymentTransaction
from payments.services import Tender
from returns.services.lifecycle import (
    Inspection,
    ReturnLineRequest,
    ReturnRequest,
    return_inspect,
    return_open,
)
from tests.factories import staff_member
from tests.inventory.factories import SkuFactory, stock_put

pytestmark = pytest.mark.django_db

prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500"), places=2)
sales = st.lists(st.tuples(prices, st.integers(1, 5)), min_size=1, max_size=3)
# Each return: for each line, how many units to ask for (0: not this line), at which store.
pieces = st.lists(st.tuples(st.lists(st.integers(0, 5), min_size=3, max_size=3),
                            st.sampled_from([0, 1])), min_size=1, max_size=6)  # fmt: skip


def _sale(store, staff, lines, discount_share):
    skus = []
    for price, quantity in lines:
        sku = SkuFactory(code=f"P-{uuid.uuid4().hex[:10]}", price=price)
        stock_put(location=store, sku=sku, on_hand=quantity)
        skus.append((sku, quantity))
    goods = sum((sku.price * q for sku, q in skus), Decimal("0"))
    discount = (goods * discount_share).quantize(Decimal("0.01"))
    request = CheckoutRequest(
        channel="store", method="carry_out", location=store, store=store,
        lines=[CheckoutLine(sku=sku, quantity=q) for sku, q in skus],
        email=f"{uuid.uuid4().hex[:8]}@example.com",
        discounts=(Discount(code="D", amount=discount),) if discount else (),
        payments=(Tender(amount=goods - discount, method="cash"),) if goods > discount else (),
    )  # fmt: skip
    return checkout(request=request, actor=staff).order


def _refunds(number: str) -> Decimal:
    return sum(
        (tx.amount for tx in PaymentTransaction.objects.filter(payment__demand=number,
                                                                kind="refund")),
        Decimal("0"),
    )  # fmt: skip


@pytest.fixture
def stores(xuhui, pudong):
    return [(xuhui, staff_member(xuhui)), (pudong, staff_member(pudong))]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=sales, share=st.sampled_from([Decimal("0"), Decimal("0.13"), Decimal("0.5")]),
       returns=pieces, fee=st.sampled_from(["0", "15"]))  # fmt: skip
def test_returns_at_several_stores_never_refund_more_than_was_paid(
    stores, lines, share, returns, fee
):
    xuhui, staff = stores[0]
    with override_settings(OMS_RETURN_RESTOCKING_FEE_PERCENT={"changed_mind": fee}):
        order = _sale(xuhui, staff, lines, share)
        order_lines = list(order.lines.order_by("pk"))
        refusals = []
        for asks, at in returns:
            store, clerk = stores[at]
            wanted = [
                ReturnLineRequest(line_id=line.pk, quantity=q, reason="changed mind")
                for line, q in zip(order_lines, asks, strict=False)
                if q
            ]
            if not wanted:
                continue
            try:
                ret = return_open(
                    request=ReturnRequest(order=order, lines=wanted, location=store), actor=clerk
                )
            except DomainError as refused:
                refusals.append(refused.code)
                continue
            return_inspect(
                ret=ret,
                inspections=[Inspection(line_id=w.line_id, condition="resalable",
                                        disposition="restock") for w in wanted],
                actor=clerk,
            )  # fmt: skip
        order.refresh_from_db()
        refunded = _refunds(order.number)
        assert refunded <= order.grand_total
        assert set(refusals) <= {"return_quantity_exceeded"}
        returned = list(order.lines.order_by("pk"))
        if fee == "0" and all(line.quantity_returned == line.quantity for line in returned):
            assert refunded == order.grand_total
