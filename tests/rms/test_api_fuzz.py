"""Schemathesis against the API's own OpenAPI schema: no request, however odd, is a server error.

Every operation gets ``FUZZ_EXAMPLES`` generated requests (valid and invalid ones) as a
superuser, through the real WSGI application and database. Responses must not be 5xx, must have
a status and content type the schema documents, and must match the documented shape.
"""

import json
import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from integrations.models import ApiToken

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
APP = get_wsgi_application()
SCHEMA = schemathesis.openapi.from_dict(
    json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(public=True)))
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def keep_connection():
    """Keep the test's transaction open across requests, as Django's test client does.

    The WSGI handler closes the database connection at the start and end of each request when it
    is not in autocommit, which inside a test's transaction it never is.
    """
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def api_key(django_user_model, keep_connection) -> str:
    admin = django_user_model.objects.create_superuser("fuzzer", "fuzz@example.com", "pw")
    token = ApiToken(name="schemathesis", user=admin)
    key = token.key_issue()
    token.save()
    return key


@pytest.mark.django_db
@SCHEMA.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_answers_every_request_as_documented(case, api_key):
    case.call_and_validate(app=APP, headers={"Authorization": f"Token {api_key}"}, checks=CHECKS)
