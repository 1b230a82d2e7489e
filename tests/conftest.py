"""Fixtures shared by every test folder, and the hypothesis profiles."""

import os
from collections.abc import Sequence

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from hypothesis import settings as hypothesis_settings
from pytest_factoryboy import register
from rest_framework.test import APIClient

from integrations.models import ApiToken
from rms.celery import app as celery_app
from tests.contracts import factories

# CI machines are slower and shared: no per-example deadline, more examples.
hypothesis_settings.register_profile("ci", deadline=None, max_examples=300)
hypothesis_settings.register_profile("dev", deadline=None, max_examples=100)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")

register(factories.PaymentTermsFactory)
register(factories.CustomerFactory)
register(factories.BillingContactFactory)
register(factories.ProductFactory)
register(factories.ContractFactory)
register(factories.ContractLineFactory)


@pytest.fixture(autouse=True)
def eager_celery(request):
    """Run tasks inline in every test but the integration ones, whatever the broker.

    With ``CELERY_BROKER_URL`` set (the PostgreSQL + Redis run) tasks would otherwise go to a
    queue with no worker; the tests marked ``integration`` start real workers instead.
    """
    if request.node.get_closest_marker("integration"):
        yield
        return
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Keep the PDFs that issuing renders out of the project's media folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def fresh_cache():
    """Start every test with empty rate-limit counters (test users reuse the same ids)."""
    cache.clear()


@pytest.fixture
def staff_client(client, django_user_model):
    """A client logged in as a superuser, as finance admins use the back office."""
    user = django_user_model.objects.create_superuser("finance", "finance@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def role_client(client, django_user_model):
    """Return a client logged in as a staff user holding one role (or none)."""

    def role_client(role: str | None, username: str = ""):
        user = django_user_model.objects.create_user(username or f"user-{role}", is_staff=True)
        if role:
            user.groups.add(Group.objects.get(name=role))
        client.force_login(user)
        return client

    return role_client


@pytest.fixture
def staff_with(client, django_user_model):
    """Return a client logged in as a staff user holding ``roles`` and exactly ``perms``
    (``app.codename``)."""

    def staff_with(*perms: str, roles: Sequence[str] = ()):
        user = django_user_model.objects.create_user("someone", is_staff=True)
        user.groups.set(Group.objects.filter(name__in=roles))
        for perm in perms:
            app, codename = perm.split(".")
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label=app, codename=codename)
            )
        client.force_login(user)
        return client

    return staff_with


@pytest.fixture
def token_client(django_user_model):
    """Return a client authenticated by token as ``username``, holding exactly ``codenames``."""

    def token_client(username: str, *codenames: str) -> APIClient:
        user = django_user_model.objects.create_user(username)
        user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
        token = ApiToken(name=f"{username}'s test token", user=user)
        key = token.key_issue()
        token.save()
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return client

    return token_client
