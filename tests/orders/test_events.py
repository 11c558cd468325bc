"""The timeline's writers: one per kind of event, each writing its kind."""

import ast

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.text import Truncator

from orders import events
from orders.models import OrderEvent
from tests.common.test_layers import APPS, ROOT
from tests.factories import place_order
from tests.orders.factories import stock_put

# Kinds with more than one writer, for the different things that are told.
SHARED = {
    OrderEvent.Kind.NOTIFIED: ["order_event_customer_notified", "order_event_store_alerted"],
    OrderEvent.Kind.STATUS_CHANGED: [
        "order_event_status_changed",
        "order_event_fulfillment_order_cancelled",
    ],
}


@pytest.mark.parametrize("kind", list(OrderEvent.Kind))
def test_every_kind_of_event_has_its_keyword_only_writer(kind):
    for name in SHARED.get(kind, [f"order_event_{kind.value}"]):
        writer = getattr(events, name)
        with pytest.raises(TypeError):
            writer(None)  # keyword-only: a positional order is refused


@pytest.mark.django_db
def test_a_fulfillment_step_writer_records_its_kind_with_the_fulfillment_order(xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=1)
    order = place_order([(tee, 1)], location=xuhui)

    event = events.order_event_accepted(order=order, fulfillment_order=7, location=xuhui)

    event.refresh_from_db()
    assert (event.kind, event.location, event.message) == (
        "accepted",
        xuhui,
        "Accepted at SH-XUHUI",
    )
    assert event.data == {"fulfillment_order": 7}


@pytest.mark.django_db
def test_checkout_writes_its_events_in_one_insert(xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=1)
    with CaptureQueriesContext(connection) as captured:
        order = place_order([(tee, 1)], location=xuhui)

    # On PostgreSQL with the reservations, in one statement of several INSERTs.
    inserts = [q["sql"] for q in captured.captured_queries if
               'INSERT INTO "orders_orderevent"' in q["sql"]]  # fmt: skip
    assert len(inserts) == 1
    assert inserts[0].count('INSERT INTO "orders_orderevent"') == 1
    assert list(order.events.values_list("kind", flat=True)) == ["placed", "routed", "reserved"]


def test_only_the_timeline_writers_build_events():
    """Every app writes the timeline through orders/events.py, never `OrderEvent(...)`."""
    builders = set()
    for path in (p for app in APPS for p in (ROOT / app).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            called = getattr(node, "func", None)
            if isinstance(node, ast.Call) and getattr(called, "id", None) == "OrderEvent":
                builders.add(str(path.relative_to(ROOT)))
    assert builders == {"orders/events.py"}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Placed on web for ship",
        "x" * events.MESSAGE_LENGTH,
        "x" * (events.MESSAGE_LENGTH + 1),
        "e\u0301" * events.MESSAGE_LENGTH,  # decomposed: one character each once composed
        "\u0915\u093c" * (events.MESSAGE_LENGTH // 2 + 1),  # a combining mark NFC keeps
        "\u0958" * events.MESSAGE_LENGTH,  # NFC makes each two characters, one combining
        "Sold and handed over at the till " * 20,
    ],
)
def test_an_event_message_is_what_django_s_truncator_makes_of_it_and_fits_its_column(text):
    message = events.event_message(text)
    assert len(message) <= events.MESSAGE_LENGTH  # Truncator counts no combining mark
    assert message == Truncator(text).chars(events.MESSAGE_LENGTH)[: events.MESSAGE_LENGTH]
