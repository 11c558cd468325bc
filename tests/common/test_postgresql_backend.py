"""The PostgreSQL backend: JSON values written by orjson, stored as the standard library's;
timestamps read by psycopg's own parser, in Django's time zone."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DataError, connection
from psycopg import pq

from common.bulk import insert_rows
from common.models import OutboxEvent
from common.postgresql.base import (
    TIMESTAMPTZ_OID,
    TIMESTAMPTZ_PARSER,
    DatabaseOperations,
    TimestamptzLoader,
    json_dumps,
)

pytestmark = pytest.mark.django_db

PAYLOAD = {
    "number": "OMTEST0001",
    "address": {"line1": "1 Rue de l'Église", "city": "Zürich", "note": "門の前 \u2028"},
    "km": 12.345678901234,
    "lines": [{"sku": "SKU-00001", "quantity": 3}, {"sku": "SKU-00002", "quantity": 1}],
    "nearest_only": True,
    "transfer_to": None,
    "empty": {},
}


def _stored(event_id: int) -> tuple[dict, bool]:
    """The payload as PostgreSQL holds it, and whether it equals `json.dumps`'s text."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT payload::text, payload = %s::jsonb FROM common_outboxevent WHERE id = %s",
            [json.dumps(PAYLOAD), event_id],
        )
        text, same = cursor.fetchone()
    return json.loads(text), same


def test_the_app_runs_on_this_backend():
    assert isinstance(connection.ops, DatabaseOperations)
    assert connection.vendor == "postgresql"


def test_a_json_value_is_stored_as_the_standard_library_writes_it():
    saved = OutboxEvent.objects.create(topic="test.json", payload=PAYLOAD)
    batched = OutboxEvent(topic="test.json", payload=PAYLOAD)
    insert_rows([batched])  # the checkout's path: one statement, its values bound apart

    for event_id in (saved.pk, batched.pk):
        stored, same = _stored(event_id)
        assert same
        assert stored == PAYLOAD
    assert OutboxEvent.objects.get(pk=batched.pk).payload == PAYLOAD


def test_keys_that_are_not_strings_are_written_as_json_dumps_writes_them():
    # orjson refuses such keys; the standard library turns them into strings.
    value = {1: "one", 2.5: "two and a half", None: "nothing"}

    event = OutboxEvent.objects.create(topic="test.json", payload=value)

    assert json_dumps(value) == json.dumps(value).encode()
    assert OutboxEvent.objects.get(pk=event.pk).payload == {
        "1": "one",
        "2.5": "two and a half",
        "null": "nothing",
    }


def test_an_integer_beyond_64_bits_is_written_whole():
    value = {"big": 2**70}

    event = OutboxEvent.objects.create(topic="test.json", payload=value)

    assert OutboxEvent.objects.get(pk=event.pk).payload == value


def test_a_value_json_cannot_write_is_refused_as_before():
    with pytest.raises(TypeError):
        json_dumps({"price": Decimal("9.99")})


def test_a_field_with_an_encoder_of_its_own_keeps_it():
    adapted = connection.ops.adapt_json_value({"price": Decimal("9.99")}, DjangoJSONEncoder)

    assert json.loads(adapted.dumps(adapted.obj)) == {"price": "9.99"}


def _loader(adapted) -> type:
    return adapted.adapters.get_loader(TIMESTAMPTZ_OID, pq.Format.TEXT)


def test_timestamps_are_parsed_by_psycopgs_registered_loader_and_django_keeps_ours():
    connection.ensure_connection()
    with connection.cursor() as cursor:
        # Django registers its own on a cursor whose connection's loader is in another zone.
        on_cursor = _loader(cursor.cursor)
    assert issubclass(on_cursor, TimestamptzLoader)
    assert on_cursor is _loader(connection.connection)
    assert on_cursor.timezone is dt.UTC
    # The compiled one (psycopg[binary]), not the pure-Python one Django's derives from.
    assert TIMESTAMPTZ_PARSER.__module__ != "psycopg.types.datetime"


def test_a_timestamp_reads_back_as_the_same_moment_in_utc():
    moments = [
        dt.datetime(2026, 3, 29, 1, 30, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        dt.datetime(1969, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
        dt.datetime(1, 1, 1, 0, 0, tzinfo=dt.UTC),
        dt.datetime(9999, 12, 31, 12, 0, 0, 999999, tzinfo=dt.timezone(dt.timedelta(hours=-7))),
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT unnest(%s::timestamptz[])", [moments])
        read = [row[0] for row in cursor.fetchall()]
    saved = OutboxEvent.objects.create(topic="test.time")

    assert read == moments
    assert {value.tzinfo for value in read} == {dt.UTC}
    assert OutboxEvent.objects.get(pk=saved.pk).created_at == saved.created_at


def test_a_timestamp_python_cannot_hold_is_refused_as_before():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'infinity'::timestamptz")
        with pytest.raises(DataError):
            cursor.fetchone()
