"""Django's PostgreSQL backend, with JSON values written by orjson (`ENGINE` for a
`postgres://` DATABASE_URL).

Every JSON column (an order's routing and address, its events, the outbox payloads, the
answer an Idempotency-Key recorded) is encoded on its way in; a checkout writes a dozen.
orjson encodes them several times faster than the standard library, in the same JSON (save
NaN and infinities, which it writes as null where json.dumps wrote what PostgreSQL refuses).
A value orjson refuses (a key that is not a string, an integer beyond 64 bits) is written as
`json.dumps` writes it, so what is stored never depends on which encoder took it; a field
with an encoder of its own keeps that encoder.
"""

import json

import orjson
from django.db.backends.postgresql import base, operations
from psycopg.types.json import Jsonb


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


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
