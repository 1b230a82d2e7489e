"""Fixtures shared by every test folder, and the hypothesis profiles."""

import os

import pytest
from hypothesis import settings as hypothesis_settings
from pytest_factoryboy import register

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


@pytest.fixture
def staff_client(client, django_user_model):
    """A client logged in as a superuser, as finance admins use the back office."""
    user = django_user_model.objects.create_superuser("finance", "finance@example.com", "pw")
    client.force_login(user)
    return client
