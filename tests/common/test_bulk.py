"""Rows of several tables written in one statement, and an insert that yields to a holder."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from common.bulk import Rows, insert_or_read, insert_rows
from common.models import IdempotencyRecord, OutboxEvent
from customers.models import Customer

pytestmark = pytest.mark.django_db


def test_several_batches_are_one_statement_and_every_object_gets_its_own_pk():
    user = get_user_model().objects.create_user(username="storefront")
    events = [OutboxEvent(topic=f"t.{n}", payload={"n": n}) for n in range(3)]
    records = [IdempotencyRecord(user=user, key=f"k-{n}", request_hash="h") for n in range(2)]

    with CaptureQueriesContext(connection) as captured:
        insert_rows(events, [], records)

    assert len(captured.captured_queries) == 1
    stored = dict(OutboxEvent.objects.values_list("pk", "payload"))
    assert [stored[e.pk] for e in events] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert [IdempotencyRecord.objects.get(pk=r.pk).key for r in records] == ["k-0", "k-1"]
    assert all(r.created_at is not None and not r._state.adding for r in records)


def test_rows_that_clash_on_a_unique_key_are_left_out_when_asked():
    user = get_user_model().objects.create_user(username="storefront")
    IdempotencyRecord.objects.create(user=user, key="taken", request_hash="first")

    insert_rows(
        Rows([IdempotencyRecord(user=user, key="taken", request_hash="second")], True),
        [OutboxEvent(topic="t.after")],
    )

    assert IdempotencyRecord.objects.get(key="taken").request_hash == "first"
    assert OutboxEvent.objects.filter(topic="t.after").exists()


def test_insert_or_read_creates_when_nobody_holds_the_key_and_reads_as_before():
    ada = Customer(email="ada@example.com", name="Ada")

    with CaptureQueriesContext(connection) as captured:
        read = insert_or_read(ada, Customer.objects.filter(email="ada@example.com"))

    assert len(captured.captured_queries) == 1
    assert read == []
    assert Customer.objects.get(pk=ada.pk).name == "Ada"


def test_insert_or_read_yields_to_the_holder_and_gives_it_back():
    held = Customer.objects.create(email="ada@example.com", name="Ada")
    again = Customer(email="ada@example.com", name="Someone else")

    read = insert_or_read(again, Customer.objects.filter(email="ada@example.com"))

    assert again.pk is None
    assert [(c.pk, c.name, c.created_at) for c in read] == [(held.pk, "Ada", held.created_at)]
    assert Customer.objects.count() == 1
