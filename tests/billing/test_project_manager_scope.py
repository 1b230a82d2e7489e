"""A project manager achieves milestones on the contracts they manage, and sees no others."""

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from billing.models import Invoice
from contracts.models import Milestone
from integrations.models import ApiToken
from integrations.roles import PROJECT_MANAGER
from tests.admin_urls import admin_url

MILESTONES = "/api/v1/milestones/"


@pytest.fixture
def manager(django_user_model):
    user = django_user_model.objects.create_user("pm", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=PROJECT_MANAGER))
    return user


@pytest.fixture
def projects(milestone_project, manager):
    """Two projects: the first managed by ``manager``, the second by someone else."""
    return milestone_project(project_manager=manager), milestone_project()


@pytest.fixture
def api(manager) -> APIClient:
    token = ApiToken(name="PSA for pm", user=manager)
    key = token.key_issue()
    token.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def achieve(client, milestone: Milestone):
    return client.post(
        f"{MILESTONES}{milestone.pk}/achieve/", {"achieved_on": "2026-03-10"}, format="json"
    )


def test_the_list_holds_only_their_contracts_milestones(api, projects):
    mine, _ = projects

    ids = {row["id"] for row in api.get(MILESTONES).json()["results"]}

    assert ids == {milestone.pk for milestone in mine}


def test_they_achieve_their_own_milestone_and_it_is_invoiced(api, projects):
    mine, _ = projects

    response = achieve(api, mine[0])

    assert response.status_code == 200
    assert response.json()["status"] == "invoiced"
    assert Invoice.objects.filter(customer=mine[0].line.contract.customer).count() == 1


def test_another_contracts_milestone_is_a_404_and_stays_planned(api, projects):
    _, theirs = projects

    assert api.get(f"{MILESTONES}{theirs[0].pk}/").status_code == 404
    response = achieve(api, theirs[0])

    assert response.status_code == 404
    assert response.json()["type"] == "not_found"
    theirs[0].refresh_from_db()
    assert theirs[0].status == Milestone.Status.PLANNED


def test_they_cannot_approve_or_cancel_even_their_own(api, projects):
    mine, _ = projects

    for action in ("approve", "cancel"):
        response = api.post(f"{MILESTONES}{mine[0].pk}/{action}/", {}, format="json")
        assert response.status_code == 403, action


def test_the_admin_list_and_one_click_achieve_are_scoped_too(client, manager, projects):
    mine, theirs = projects
    client.force_login(manager)

    listed = client.get(admin_url(Milestone, "changelist"))
    shown = {row.pk for row in listed.context["cl"].result_list}
    refused = client.post(admin_url(Milestone, "achieve", theirs[0].pk))

    assert shown == {milestone.pk for milestone in mine}
    assert refused.status_code == 404
    theirs[0].refresh_from_db()
    assert theirs[0].status == Milestone.Status.PLANNED
