"""The one way lower apps know an order line: `LineReference`, built and parsed in one place."""

import pytest

from inventory.selectors import reservations_for_demand
from orders.references import LineReference
from tests.factories import place_order
from tests.orders.factories import stock_put


def test_a_line_reference_reads_back_as_the_same_reference():
    reference = LineReference(number="OMAB23CD45", line_id=17)

    assert str(reference) == "OMAB23CD45/17"
    assert LineReference.parse(str(reference)) == reference


def test_a_number_with_a_slash_keeps_everything_before_the_last_one():
    assert LineReference.parse("OM/1/42") == LineReference(number="OM/1", line_id=42)


@pytest.mark.parametrize("text", ["", "OMAB23CD45", "OMAB23CD45/", "/17", "OMAB23CD45/x7", "OM/-1"])
def test_anything_else_is_not_a_line_reference(text):
    with pytest.raises(ValueError, match="not an order line reference"):
        LineReference.parse(text)


def test_a_reference_is_frozen():
    reference = LineReference(number="OMAB23CD45", line_id=17)

    with pytest.raises(AttributeError):
        reference.line_id = 18  # type: ignore[misc]


@pytest.mark.django_db
def test_each_line_is_reserved_under_its_line_reference(xuhui, tee, mug):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    stock_put(location=xuhui, sku=mug, on_hand=5)

    order = place_order([(tee, 1), (mug, 2)], location=xuhui)

    held = {r.reference: r.sku_id for r in reservations_for_demand(demand=order.number)}
    expected = {str(LineReference(number=order.number, line_id=line.pk)): line.sku_id
                for line in order.lines.all()}  # fmt: skip
    assert held == expected
    assert {line.reservation_reference for line in order.lines.all()} == set(held)
