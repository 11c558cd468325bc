"""The money math: discounts spread over lines and units, totals after any cancellations."""

from dataclasses import dataclass
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from orders.services.pricing import (
    CENT,
    ZERO,
    from_cents,
    lines_price,
    order_totals,
    spread,
    to_cents,
    units_paid,
)


@dataclass
class Line:
    """An order line as `order_totals` reads it."""

    unit_price: Decimal
    quantity: int
    unit_paid: Decimal
    units_paid_extra: int
    quantity_cancelled: int = 0


prices = st.integers(min_value=0, max_value=100_000_00).map(from_cents)


@st.composite
def orders(draw):
    """Lines of random prices and quantities, each with a discount within its value, and an
    order discount within what the lines are worth after theirs."""
    raw = draw(
        st.lists(st.tuples(prices, st.integers(min_value=1, max_value=99)), min_size=1, max_size=8)
    )
    lines = []
    for price, quantity in raw:
        value = to_cents(price * quantity)
        discount = draw(st.integers(min_value=0, max_value=value))
        lines.append((price, quantity, from_cents(discount)))
    after = sum(to_cents(p * q) - to_cents(d) for p, q, d in lines)
    order_discount = from_cents(draw(st.integers(min_value=0, max_value=after)))
    return lines, order_discount


def _as_lines(priced) -> list[Line]:
    return [Line(p.unit_price, p.quantity, p.unit_paid, p.units_paid_extra) for p in priced]


@settings(max_examples=300, deadline=None)
@given(orders())
def test_every_unit_adds_up_to_the_lines_value_less_every_discount_to_the_cent(order):
    lines, order_discount = order
    priced = lines_price(lines=lines, order_discount=order_discount)

    value = sum((p * q for p, q, _ in lines), ZERO)
    line_discounts = sum((d for _, _, d in lines), ZERO)
    units = [units_paid(p, start=i, count=1) for p in priced for i in range(p.quantity)]
    assert sum(units, ZERO) == value - line_discounts - order_discount
    assert sum((p.order_discount for p in priced), ZERO) == order_discount
    assert all(unit >= 0 for unit in units)
    for line, p in zip(lines, priced, strict=True):
        assert p.unit_paid <= line[0]
        assert 0 <= p.units_paid_extra < p.quantity
        assert p.paid == line[0] * line[1] - p.line_discount - p.order_discount


@settings(max_examples=300, deadline=None)
@given(orders(), st.data())
def test_any_split_of_units_across_cancellations_and_shipments_sums_exactly(order, data):
    lines, order_discount = order
    priced = lines_price(lines=lines, order_discount=order_discount)
    shipping = data.draw(st.sampled_from([ZERO, Decimal("15.00")]))
    grand = order_totals(lines=_as_lines(priced), shipping_charged=shipping)["grand_total"]

    cancelled, shipped = ZERO, ZERO
    state = _as_lines(priced)
    for line in state:
        # Units leave from the front, in parcels; cancellations take them from the back.
        fulfilled = 0
        while fulfilled + line.quantity_cancelled < line.quantity:
            step = data.draw(st.integers(1, line.quantity - fulfilled - line.quantity_cancelled))
            if data.draw(st.booleans()):
                shipped += units_paid(line, start=fulfilled, count=step)
                fulfilled += step
            else:
                kept = line.quantity - line.quantity_cancelled
                cancelled += units_paid(line, start=kept - step, count=step)
                line.quantity_cancelled += step
    after = order_totals(lines=state, shipping_charged=shipping)

    assert shipped + cancelled == grand - shipping
    expected_shipping = shipping if any(ln.quantity_cancelled < ln.quantity for ln in state) else 0
    assert after["grand_total"] == shipped + expected_shipping
    assert after["subtotal"] - after["discount_total"] == shipped
    assert after["discount_total"] >= 0


def _refund_parcel(data, line: Line, runs: list[list[int]]) -> Decimal:
    """Refund a parcel of shipped units not refunded yet: some units at either end of one
    run of them (`runs` holds [start, end) of each), at their paid prices."""
    run = runs[data.draw(st.integers(0, len(runs) - 1))]
    start, end = run
    count = data.draw(st.integers(1, end - start))
    if data.draw(st.booleans()):  # from the front of the run
        parcel = units_paid(line, start=start, count=count)
        run[0] += count
    else:
        parcel = units_paid(line, start=end - count, count=count)
        run[1] -= count
    runs[:] = [r for r in runs if r[0] < r[1]]
    return parcel


@settings(max_examples=300, deadline=None)
@given(orders(), st.data())
def test_any_split_of_units_across_shipments_cancellations_and_refunds_sums_exactly(order, data):
    lines, order_discount = order
    priced = lines_price(lines=lines, order_discount=order_discount)
    state = _as_lines(priced)
    paid = order_totals(lines=state, shipping_charged=ZERO)["grand_total"]

    shipped, cancelled, refunded, retained, parcels = ZERO, ZERO, ZERO, ZERO, []
    for line in state:
        # Units leave from the front in parcels, cancellations take them from the back, and
        # any shipped units not refunded yet may come back, in any order.
        fulfilled, runs, line_shipped, line_refunded = 0, [], ZERO, ZERO
        while fulfilled + line.quantity_cancelled < line.quantity or runs:
            open_units = line.quantity - fulfilled - line.quantity_cancelled
            action = data.draw(
                st.sampled_from(["ship", "cancel", "refund"] if runs else ["ship", "cancel"])
                if open_units
                else st.sampled_from(["refund", "stop"])
            )
            if action == "stop":
                break
            if action == "refund":
                parcel = _refund_parcel(data, line, runs)
                line_refunded += parcel
            else:
                step = data.draw(st.integers(1, open_units))
                if action == "ship":
                    parcel = units_paid(line, start=fulfilled, count=step)
                    runs.append([fulfilled, fulfilled + step])
                    fulfilled += step
                    line_shipped += parcel
                else:
                    kept = line.quantity - line.quantity_cancelled
                    parcel = units_paid(line, start=kept - step, count=step)
                    line.quantity_cancelled += step
                    cancelled += parcel
            parcels.append(parcel)
        assert ZERO <= line_refunded <= line_shipped
        # What the customer keeps, priced afresh from the units never refunded.
        retained += sum((units_paid(line, start=a, count=b - a) for a, b in runs), ZERO)
        shipped += line_shipped
        refunded += line_refunded
    after = order_totals(lines=state, shipping_charged=ZERO)

    assert all(parcel >= 0 for parcel in parcels)
    assert shipped + cancelled == paid
    assert retained + refunded + cancelled == paid
    assert after["grand_total"] == shipped  # what was captured; refunds come out of it
    assert ZERO <= refunded <= after["grand_total"]


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=0, max_value=10**9),
    st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=20),
)
def test_largest_remainder_shares_add_up_and_never_exceed_their_weight(total, weights):
    total = min(total, sum(weights))
    shares = spread(total, weights)

    assert sum(shares) == total
    assert all(0 <= share <= weight for share, weight in zip(shares, weights, strict=True))


def test_an_order_discount_goes_by_each_lines_value_after_its_own_discount():
    [tee, mug] = lines_price(
        lines=[(Decimal("99.00"), 2, Decimal("18.00")), (Decimal("60.00"), 1, ZERO)],
        order_discount=Decimal("10.00"),
    )

    # 180.00 and 60.00 after their own discounts: three quarters and a quarter of the 10.00.
    assert (tee.order_discount, mug.order_discount) == (Decimal("7.50"), Decimal("2.50"))
    assert (tee.unit_paid, tee.units_paid_extra) == (Decimal("86.25"), 0)
    assert mug.paid == Decimal("57.50")


def test_cents_that_do_not_divide_go_one_each_to_the_first_units():
    [line] = lines_price(lines=[(Decimal("10.00"), 3, ZERO)], order_discount=Decimal("0.01"))

    assert (line.unit_paid, line.units_paid_extra) == (Decimal("9.99"), 2)
    assert [units_paid(line, start=i, count=1) for i in range(3)] == [
        Decimal("10.00"),
        Decimal("10.00"),
        Decimal("9.99"),
    ]


def test_equal_remainders_go_to_the_earlier_line():
    shares = spread(1, [100, 100, 100])

    assert shares == [1, 0, 0]
    assert Decimal("0.01") == CENT
