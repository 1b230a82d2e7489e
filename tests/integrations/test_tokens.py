"""API tokens: made in the admin with the key shown once, scoped, expiring, revocable."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from integrations.models import ApiToken, key_digest
from tests.admin_urls import admin_url

USAGE = "/api/v1/usage-records/"
MILESTONES = "/api/v1/milestones/"


@pytest.fixture
def integration_user(django_user_model):
    user = django_user_model.objects.create_user("psa-bot")
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_usagerecord", "view_milestone"])
    )
    return user


def make_token(user, *scopes: str, **fields) -> str:
    token = ApiToken(user=user, **{"name": "PSA", **fields})
    key = token.key_issue()
    token.save()
    token.scopes.set(Permission.objects.filter(codename__in=scopes))
    return key


def client_with(key: str, scheme: str = "Token") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {key}")
    return client


def test_only_the_digest_of_a_key_is_stored(integration_user):
    key = make_token(integration_user)
    token = ApiToken.objects.get()

    assert key.startswith("rms_") and len(key) > 40
    assert token.digest == key_digest(key) and key not in token.digest
    assert token.prefix == key[:12]


@pytest.mark.parametrize("scheme", ["Token", "Bearer"])
def test_a_token_acts_as_its_user(integration_user, scheme):
    key = make_token(integration_user)

    assert client_with(key, scheme).get(USAGE).status_code == 200
    assert ApiToken.objects.get().last_used_at is not None


def test_scopes_narrow_the_user_permissions(integration_user):
    scoped = client_with(make_token(integration_user, "view_usagerecord"))

    assert scoped.get(USAGE).status_code == 200
    # The user may read milestones, but this token was not given that.
    assert scoped.get(MILESTONES).status_code == 403


def test_scopes_never_widen_the_user_permissions(integration_user):
    scoped = client_with(make_token(integration_user, "add_usagerecord"))

    response = scoped.post(USAGE, {"subscription_key": "x"}, format="json")

    assert response.status_code == 403
    assert response.json()["type"] == "permission_denied"


@pytest.mark.parametrize(
    "fields",
    [
        {"revoked_at": timezone.now()},
        {"expires_at": timezone.now() - timedelta(seconds=1)},
    ],
    ids=["revoked", "expired"],
)
def test_revoked_and_expired_tokens_are_refused(integration_user, fields):
    response = client_with(make_token(integration_user, **fields)).get(USAGE)

    assert response.status_code == 401
    assert response.json() == {
        "type": "authentication_failed",
        "detail": "Invalid, expired or revoked token.",
        "fields": {},
    }


def test_a_deactivated_user_token_stops_working(integration_user):
    key = make_token(integration_user)
    integration_user.is_active = False
    integration_user.save()

    assert client_with(key).get(USAGE).status_code == 401


def test_no_credentials_is_a_401_in_the_error_shape(client):
    response = client.get(USAGE)

    assert response.status_code in (401, 403)
    assert response.json()["type"] == "not_authenticated"


class TestAdmin:
    def test_the_key_is_shown_once_when_the_token_is_made(self, staff_client, integration_user):
        scope = Permission.objects.get(codename="view_usagerecord")
        response = staff_client.post(
            admin_url(ApiToken, "add"),
            {"name": "Metering", "user": integration_user.pk, "scopes": [scope.pk]},
            follow=True,
        )

        [message] = [str(m) for m in response.context["messages"] if "copy it now" in str(m)]
        key = message.split(" is ")[1].split(" ")[0]
        token = ApiToken.objects.get(name="Metering")
        assert token.digest == key_digest(key) and token.created_by == "finance"
        assert client_with(key).get(USAGE).status_code == 200
        assert client_with(key).get(MILESTONES).status_code == 403
        # The token's page never shows the key again.
        assert key not in staff_client.get(admin_url(ApiToken, "change", token.pk)).content.decode()

    def test_a_superuser_token_cannot_be_scoped(self, staff_client, django_user_model):
        boss = django_user_model.objects.get(username="finance")
        scope = Permission.objects.get(codename="view_usagerecord")
        response = staff_client.post(
            admin_url(ApiToken, "add"), {"name": "X", "user": boss.pk, "scopes": [scope.pk]}
        )

        assert response.status_code == 200
        assert "cannot be scoped" in response.context["adminform"].form.errors["scopes"][0]
        assert not ApiToken.objects.exists()

    def test_revoking_stops_the_token_at_once(self, staff_client, integration_user):
        key = make_token(integration_user)
        token = ApiToken.objects.get()

        staff_client.post(
            admin_url(ApiToken, "changelist"),
            {"action": "revoke", "_selected_action": [token.pk]},
        )

        token.refresh_from_db()
        assert token.revoked
        assert client_with(key).get(USAGE).status_code == 401


def test_the_token_list_filters_by_state(staff_client, integration_user):
    make_token(integration_user, name="live")
    make_token(integration_user, name="gone", revoked_at=timezone.now())
    make_token(integration_user, name="old", expires_at=timezone.now() - timedelta(days=1))

    def listed(state: str) -> list[str]:
        response = staff_client.get(admin_url(ApiToken, "changelist"), {"state": state})
        return [token.name for token in response.context["cl"].result_list]

    assert (listed("active"), listed("revoked"), listed("expired")) == (["live"], ["gone"], ["old"])


@pytest.mark.django_db
def test_the_new_token_page_costs_the_same_queries_for_more_permissions(staff_client):
    """The scopes picker lists every permission with its content type: not a query each."""

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert staff_client.get(admin_url(ApiToken, "add")).status_code == 200
        return len(captured)

    queries()  # warm-up
    before = queries()
    thing = ContentType.objects.create(app_label="elsewhere", model="thing")
    Permission.objects.bulk_create(
        Permission(content_type=thing, codename=f"do_{n}", name=f"Can do {n}") for n in range(20)
    )
    assert queries() == before
