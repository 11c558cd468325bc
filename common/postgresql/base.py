"""Django's PostgreSQL backend, with JSON values written by orjson and timestamps read by
psycopg's compiled parser (`ENGINE` for a `postgres://` DATABASE_URL).

Every JSON column (an order's routing and address, its events, the outbox payloads, the
answer an Idempotency-Key recorded) is encoded on its way in; a checkout writes a dozen.
orjson encodes them several times faster than the standard library, in the same JSON (save
NaN and infinities, which it writes as null where json.dumps wrote what PostgreSQL refuses).
A value orjson refuses (a key that is not a string, an integer beyond 64 bits) is written as
`json.dumps` writes it, so what is stored never depends on which encoder took it; a field
with an encoder of its own keeps that encoder.

Django reads every `timestamptz` through a loader of its own that puts the connection's
time zone on the value; it derives from psycopg's pure-Python parser, so with psycopg's
compiled one installed each value still took the slow path (an order and its worker read
a few dozen). Ours puts the same time zone on what psycopg's registered parser reads (the
compiled one when installed), and names it as Django's does, so Django keeps it.
"""

import json
from functools import cache

import orjson
from django.conf import settings
from django.db.backends.postgresql import base, operations
from psycopg import adapt, adapters, pq
from psycopg.postgres import types
from psycopg.types.json import Jsonb

TIMESTAMPTZ_OID = types["timestamptz"].oid
# psycopg's own timestamptz parser: the compiled one when psycopg[binary] is installed.
TIMESTAMPTZ_PARSER = adapters.get_loader(TIMESTAMPTZ_OID, pq.Format.TEXT)


def json_dumps(value) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(value).encode()


class DatabaseOperations(operations.DatabaseOperations):
    def adapt_json_value(self, value, encoder):
        if encoder is not None:
            return super().adapt_json_value(value, encoder)
        return Jsonb(value, dumps=json_dumps)


class TimestamptzLoader(adapt.Loader):
    """A `timestamptz` as psycopg's own parser reads it, in `timezone` (None: naive), as
    Django's loader gives it."""

    timezone = None  # create_cursor compares it with the connection's

    def __init__(self, oid: int, context=None) -> None:
        super().__init__(oid, context)
        self._parse = TIMESTAMPTZ_PARSER(oid, context).load

    def load(self, data):
        return self._parse(data).replace(tzinfo=self.timezone)


@cache
def adapters_template(use_tz: bool, timezone) -> adapt.AdaptersMap:
    """Django's adapters for new connections, with our timestamptz loader in `timezone`."""
    context = adapt.AdaptersMap(base.get_adapters_template(use_tz, timezone))
    loader = type(
        "TimestamptzLoader", (TimestamptzLoader,), {"timezone": timezone, "__module__": __name__}
    )
    context.register_loader(TIMESTAMPTZ_OID, loader)
    return context


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

    def get_connection_params(self) -> dict:
        params = super().get_connection_params()
        params["context"] = adapters_template(settings.USE_TZ, self.timezone)
        return params
