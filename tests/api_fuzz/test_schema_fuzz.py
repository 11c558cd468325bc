"""Every operation of the API's own OpenAPI schema, fuzzed by schemathesis with each role's
token, in process against the test database: no 5xx, and every answer is one the schema
documents (its status code, content type and body).

A bounded, seeded run here; `make fuzz` runs more examples (FUZZ_EXAMPLES)."""

import json
import os

import schemathesis
from django.core.serializers.json import DjangoJSONEncoder
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, seed, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api_fuzz.conftest import ROLES

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def api_schema() -> dict:
    """The schema /api/schema/ serves, generated in process."""
    generated = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(json.dumps(generated, cls=DjangoJSONEncoder))


schema = schemathesis.openapi.from_dict(api_schema())


@schema.parametrize()
@schema.given(role=st.sampled_from(ROLES))
@seed(15)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_it_answers_every_operation_as_documented(case, role, role_headers, in_process_app):
    case.call_and_validate(headers=role_headers[role], checks=CHECKS, app=in_process_app)
