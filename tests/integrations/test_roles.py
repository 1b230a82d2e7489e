"""The five role groups: made by migrate, holding what each role needs and nothing more."""

import pytest
from django.contrib.auth.models import Group, Permission

from integrations.roles import (
    AUDITOR,
    BILLING_CLERK,
    FINANCE_ADMIN,
    INTEGRATION_CLIENT,
    PROJECT_MANAGER,
    roles_sync,
)

pytestmark = pytest.mark.django_db


def perms_of(name: str) -> set[str]:
    permissions = Group.objects.get(name=name).permissions.select_related("content_type")
    return {f"{p.content_type.app_label}.{p.codename}" for p in permissions}


def test_migrate_made_the_roles():
    assert set(Group.objects.values_list("name", flat=True)) >= {
        FINANCE_ADMIN,
        BILLING_CLERK,
        PROJECT_MANAGER,
        AUDITOR,
        INTEGRATION_CLIENT,
    }


def test_a_finance_admin_may_do_everything_in_the_finance_apps():
    finance = Permission.objects.filter(
        content_type__app_label__in=[
            "contracts",
            "billing",
            "revenue",
            "webhooks",
            "integrations",
            "imports",
            "reports",
            "workspace",
        ]
    )
    assert perms_of(FINANCE_ADMIN) == {
        f"{p.content_type.app_label}.{p.codename}" for p in finance.select_related("content_type")
    }
    assert "revenue.change_revenueperiod" in perms_of(FINANCE_ADMIN)


def test_a_billing_clerk_bills_but_does_not_close_periods_or_manage_integrations():
    clerk = perms_of(BILLING_CLERK)

    assert {"contracts.add_contract", "billing.add_invoice", "billing.add_payment"} <= clerk
    assert "imports.view_importjob" in clerk  # follows the jobs of the files they import
    assert "revenue.view_revenueperiod" in clerk
    assert "reports.view_report" in clerk  # the finance reports
    assert "workspace.view_workspace" in clerk  # dashboard, contract 360, worklists
    assert not {p for p in clerk if p.startswith("revenue.") and ".view_" not in p}
    assert not {p for p in clerk if p.startswith(("integrations.", "webhooks."))}


def test_a_project_manager_only_sees_and_achieves_milestones():
    assert perms_of(PROJECT_MANAGER) == {"contracts.view_milestone", "contracts.achieve_milestone"}


def test_an_auditor_only_reads():
    auditor = perms_of(AUDITOR)

    assert "revenue.view_journalentry" in auditor and "billing.view_invoice" in auditor
    assert "imports.view_importjob" in auditor
    assert "reports.view_report" in auditor
    assert all(".view_" in perm for perm in auditor)


def test_an_integration_client_cannot_issue_money_out_of_thin_air():
    client = perms_of(INTEGRATION_CLIENT)

    assert {"billing.add_usagerecord", "contracts.achieve_milestone"} <= client
    money_out = {"billing.add_invoice", "billing.add_creditnote", "revenue.add_journalentry"}
    assert not money_out & client


def test_syncing_again_resets_an_edited_role():
    clerk = Group.objects.get(name=BILLING_CLERK)
    clerk.permissions.add(Permission.objects.get(codename="change_revenueperiod"))

    roles_sync()
    roles_sync()

    assert "revenue.change_revenueperiod" not in perms_of(BILLING_CLERK)
    assert Group.objects.filter(name=BILLING_CLERK).count() == 1
