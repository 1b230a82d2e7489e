"""Each role against each endpoint: what it may read and do over the API, and what it may not.

The expectations are written out by hand from what each role is for, not derived from the role
definitions, so a permission slipping into or out of a role fails here.
"""

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient
from rest_framework.throttling import UserRateThrottle

from integrations.models import ApiToken
from integrations.roles import (
    AUDITOR,
    BILLING_CLERK,
    FINANCE_ADMIN,
    INTEGRATION_CLIENT,
    PROJECT_MANAGER,
)

pytestmark = pytest.mark.django_db

ROLES = [FINANCE_ADMIN, BILLING_CLERK, PROJECT_MANAGER, AUDITOR, INTEGRATION_CLIENT]
LISTS = [
    "customers",
    "products",
    "contracts",
    "milestones",
    "milestone-templates",
    "usage-records",
    "shipments",
    "invoices",
    "credit-notes",
    "payments",
    "bill-runs",
    "revenue-schedules",
    "obligations",
    "journal-entries",
    "positions",
]
# The lists each role may read; every other list is a 403 for it.
READS = {
    FINANCE_ADMIN: set(LISTS),
    BILLING_CLERK: set(LISTS),
    PROJECT_MANAGER: {"milestones"},
    AUDITOR: set(LISTS),
    INTEGRATION_CLIENT: {
        "customers",
        "products",
        "contracts",
        "milestones",
        "usage-records",
        "shipments",
        "invoices",
        "payments",
        "revenue-schedules",
        "obligations",
    },
}
CREATES = ["customers", "contracts", "payments", "shipments", "credit-notes", "bill-runs"]
# The creates each role may send, with a body that is not valid: 400 when allowed, 403 when not.
# (An empty body would start a bill run through today.)
INVALID = {"bill-runs": {"as_of": "someday"}}
WRITES = {
    FINANCE_ADMIN: set(CREATES),
    BILLING_CLERK: set(CREATES),
    PROJECT_MANAGER: set(),
    AUDITOR: set(),
    INTEGRATION_CLIENT: {"customers", "contracts", "payments", "shipments"},
}


@pytest.fixture
def as_role(django_user_model):
    def client_for(role: str) -> APIClient:
        user = django_user_model.objects.create_user(role.split()[0].lower())
        user.groups.add(Group.objects.get(name=role))
        token = ApiToken(name=role, user=user)
        key = token.key_issue()
        token.save()
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return client

    return client_for


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reads_what_it_is_for(as_role, role):
    client = as_role(role)
    params = {"as_of": "2026-03-31"}

    answers = {name: client.get(f"/api/v1/{name}/", params).status_code for name in LISTS}

    assert answers == {name: 200 if name in READS[role] else 403 for name in LISTS}


@pytest.mark.parametrize("role", ROLES)
def test_each_role_creates_what_it_is_for(as_role, role):
    client = as_role(role)

    answers = {
        name: client.post(f"/api/v1/{name}/", INVALID.get(name, {}), format="json")
        for name in CREATES
    }

    assert {name: r.status_code for name, r in answers.items()} == {
        name: 400 if name in WRITES[role] else 403 for name in CREATES
    }
    refused = [r.json() for name, r in answers.items() if name not in WRITES[role]]
    assert all(body["type"] == "permission_denied" for body in refused)


def test_a_caller_over_its_rate_gets_429_with_retry_after(as_role, monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/minute", "anon": None})
    client = as_role(AUDITOR)

    answers = [client.get("/api/v1/invoices/") for _ in range(4)]

    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["type"] == "throttled"
    assert int(answers[-1].headers["Retry-After"]) > 0
