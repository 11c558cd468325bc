"""Rows of several tables written in one statement, and an insert that yields to a holder."""

import datetime

import psycopg
import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery
from django.db.models.sql.compiler import SQLInsertCompiler
from django.test.utils import CaptureQueriesContext
from psycopg.types.json import Jsonb

from common.bulk import (
    Rows,
    _compiled,
    _model_insert_fields,
    _sent_as_is,
    _shaped_statement,
    insert_or_read,
    insert_rows,
    numbered,
)
from common.models import IdempotencyRecord, OutboxEvent
from customers.models import Customer
from inventory.models import Reservation, StockMovement
from orders.models import Order, OrderEvent, OrderLine

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


def _compiled_by_django(model, count: int, *, skip: bool) -> str:
    """The multi-row INSERT of `count` new rows as Django's InsertQuery writes it in VALUES
    (its generic compiler: PostgreSQL's own writes several rows as UNNEST of arrays)."""
    query = InsertQuery(model, on_conflict=OnConflict.IGNORE if skip else None)
    query.insert_values(_model_insert_fields(model)[0], [model() for _ in range(count)])
    compiler = SQLInsertCompiler(query, connection, connection.alias)
    compiler.returning_fields = None if skip else [model._meta.pk]  # insert_rows reads pks
    [(sql, _)] = compiler.as_sql()
    return sql


@pytest.mark.parametrize(
    "shapes",
    [
        ((Order, 1, False),),
        ((OrderLine, 3, False), (OrderEvent, 1, False)),
        ((OrderEvent, 4, False), (OutboxEvent, 2, False), (IdempotencyRecord, 1, True)),
        ((Reservation, 5, False), (StockMovement, 5, False), (IdempotencyRecord, 2, False)),
        ((IdempotencyRecord, 1, True),),
    ],
)
def test_the_statement_made_once_per_shape_is_django_s_inserts_in_ctes(shapes):
    texts = [_compiled_by_django(model, count, skip=skip) for model, count, skip in shapes]
    selects = [
        f'SELECT {n}, "{model._meta.pk.column}" FROM rows_{n}'  # noqa: S608 - names
        for n, (model, _, skip) in enumerate(shapes)
        if not skip
    ]
    expected = "WITH " + ", ".join(f"rows_{n} AS ({sql})" for n, sql in enumerate(texts))
    expected += " " + (" UNION ALL ".join(selects) or "SELECT 1")

    as_written, as_numbered = _shaped_statement(tuple(shapes))

    assert as_written == expected
    assert as_numbered == numbered(expected)
    assert as_numbered.count("$") == expected.count("%s")


def test_numbered_placeholders_read_as_the_percent_ones_do():
    text = "SELECT " + ", ".join(f"%s::text AS c{n}" for n in range(60))
    values = [f"v{n}" for n in range(60)]

    assert numbered("a = %s AND b IN (%s, %s)") == "a = $1 AND b IN ($2, $3)"
    with connection.cursor() as cursor:
        cursor.execute(text, values)
        by_percent = cursor.fetchall()
    raw = connection.make_cursor(psycopg.RawCursor(connection.connection))
    with raw:
        raw.execute(numbered(text), values)
        by_number = raw.fetchall()
    assert by_number == by_percent == [tuple(values)]


def test_the_numbered_text_goes_unless_queries_are_logged_and_both_write_the_same_rows():
    user = get_user_model().objects.create_user(username="storefront")
    sent: list[str] = []

    def seen(execute, sql, params, many, context):
        sent.append(sql)
        return execute(sql, params, many, context)

    def write(tag: str) -> list[OutboxEvent]:
        events = [OutboxEvent(topic=f"{tag}.{n}", payload={"n": n}) for n in range(30)]
        insert_rows(events, [IdempotencyRecord(user=user, key=tag, request_hash="h")])
        return events

    with connection.execute_wrapper(seen):
        quiet = write("quiet")
        with CaptureQueriesContext(connection) as logged:
            loud = write("loud")

    assert "$1" in sent[0]
    assert "%s" not in sent[0]
    assert "%s" in sent[1]
    assert "$1" not in sent[1]
    assert logged.captured_queries[0]["sql"].count("'loud.") == 30  # the log renders values
    stored = dict(OutboxEvent.objects.values_list("pk", "topic"))
    assert [stored[e.pk] for e in quiet] == [f"quiet.{n}" for n in range(30)]
    assert [stored[e.pk] for e in loud] == [f"loud.{n}" for n in range(30)]
    assert IdempotencyRecord.objects.filter(key__in=["quiet", "loud"]).count() == 2


def _comparable(value):
    """A value sent, with every timestamp one alike (each pre_save of auto_now takes now)."""
    if isinstance(value, datetime.datetime):
        return "a timestamp"
    if isinstance(value, Jsonb):
        return ("jsonb", value.obj)
    return (type(value), value)


SAMPLES = {str: "SKU-00001", int: 7, bool: True, type(None): None}


def test_a_value_sent_as_it_is_is_what_the_field_would_have_sent():
    """The values insert_rows does not prepare are those each field's get_db_prep_save
    returns unchanged, for every field of every model of the project."""
    skipped = 0
    for model in apps.get_models():
        for field in _model_insert_fields(model)[0]:
            as_is = _sent_as_is(field)
            skipped += bool(as_is)
            for kind in as_is:
                sent = field.get_db_prep_save(SAMPLES[kind], connection)
                assert type(sent) is kind, (model, field.name, kind)
                assert sent == SAMPLES[kind], (model, field.name, kind)
    assert skipped > 50  # texts, booleans and foreign keys of every model


def test_values_sent_are_the_ones_django_s_compiler_sends():
    user = get_user_model().objects.create_user(username="storefront")
    batches = [
        [OutboxEvent(topic="t.one", payload={"n": 1}), OutboxEvent(topic="t.two")],
        [IdempotencyRecord(user=user, key="k", request_hash="h", response_body={"a": [1]})],
        [Customer(email="ada@example.com", name="Ada")],
        [
            Reservation(
                reference="OM1-1",
                demand="OM1",
                location_id=3,
                sku_id=4,
                quantity=2,
                status="active",
            ),
            Reservation(reference="OM1-2", demand="OM1", location_id=3, sku_id=5, quantity=1),
        ],
        [OrderEvent(order_id=7, kind="placed", message="", data={"lines": 2}, actor_id=None)],
    ]
    for objs in batches:
        model = type(objs[0])
        query = InsertQuery(model)
        query.insert_values(_model_insert_fields(model)[0], objs)
        [(_, by_django)] = SQLInsertCompiler(query, connection, connection.alias).as_sql()

        _, ours, plain = _compiled(Rows(objs), connection, returning=True)

        assert plain
        assert [_comparable(v) for v in ours] == [_comparable(v) for v in by_django]
        # auto_now_add fields are set on the objects, as bulk_create sets them
        assert all(getattr(obj, "created_at", True) is not None for obj in objs)
