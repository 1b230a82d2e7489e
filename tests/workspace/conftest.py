"""Books the dashboard tests read, built through the engine as the report tests build theirs."""

import pytest
from django.contrib.auth.models import Group

from tests.billing.conftest import activate, bill  # noqa: F401  (fixtures shared with billing)
from tests.reports.conftest import annual_deal  # noqa: F401
from tests.revenue.conftest import close, recognize  # noqa: F401


@pytest.fixture
def role_client(client, django_user_model):
    """Return a client logged in as a staff user holding one role (or none)."""

    def role_client(role: str | None):
        user = django_user_model.objects.create_user(f"user-{role}", is_staff=True)
        if role:
            user.groups.add(Group.objects.get(name=role))
        client.force_login(user)
        return client

    return role_client
