"""The OpenAPI schema: generated without warnings, and never served to strangers."""

import pytest
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db


def test_schema_generates_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"
    # --fail-on-warn turns every drf-spectacular warning into a failure.
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(target))
    assert "openapi: 3" in target.read_text()


def test_schema_and_docs_need_a_login(staff_client):
    for url in ("/api/schema/", "/api/docs/"):
        assert Client().get(url).status_code in (401, 403)
        assert staff_client.get(url).status_code == 200


def test_docs_load_their_assets_locally(staff_client):
    page = staff_client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn" not in page.lower()
