"""The five roles RMS ships, as Django groups kept in step with this definition by ``migrate``.

A role is a group: give a person or an integration's user the group, and its permissions
follow. The definitions below are the product's; a team wanting a variation makes its own group
(these five are reset to this list on every migrate, so edits to them would not last).
"""

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

# The apps whose data finance works on.
FINANCE_APPS = [
    "contracts",
    "billing",
    "revenue",
    "webhooks",
    "integrations",
    "imports",
    "reports",
    "workspace",
]
# What a PSA, a metering product or a CRM typically does; each token narrows it further.
INTEGRATION_PERMISSIONS = [
    "contracts.view_customer",
    "contracts.add_customer",
    "contracts.change_customer",
    "contracts.view_product",
    "contracts.view_contract",
    "contracts.add_contract",
    "contracts.change_contract",
    "contracts.view_contractline",
    "contracts.view_milestone",
    "contracts.achieve_milestone",
    "billing.view_usagerecord",
    "billing.add_usagerecord",
    "billing.view_shipment",
    "billing.add_shipment",
    "billing.view_invoice",
    "billing.view_payment",
    "billing.add_payment",
    "revenue.view_revenuescheduleentry",
    "revenue.view_performanceobligation",
]

FINANCE_ADMIN = "Finance admin"
BILLING_CLERK = "Billing clerk"
PROJECT_MANAGER = "Project manager"
AUDITOR = "Auditor (read-only)"
INTEGRATION_CLIENT = "Integration client"


def _codenames(perms: list[str]) -> Q:
    query = Q(pk__in=[])
    for perm in perms:
        app, codename = perm.split(".")
        query |= Q(content_type__app_label=app, codename=codename)
    return query


def role_permissions() -> dict[str, Q]:
    """Return each role's permissions as a filter on ``Permission``."""
    finance = Q(content_type__app_label__in=FINANCE_APPS)
    views = finance & Q(codename__startswith="view_")
    return {
        FINANCE_ADMIN: finance,
        # Clerks import payments and usage, and follow their import jobs.
        BILLING_CLERK: Q(content_type__app_label__in=["contracts", "billing", "imports"])
        | (
            Q(content_type__app_label__in=["revenue", "reports", "workspace"])
            & Q(codename__startswith="view_")
        ),
        PROJECT_MANAGER: _codenames(["contracts.view_milestone", "contracts.achieve_milestone"]),
        AUDITOR: views,
        INTEGRATION_CLIENT: _codenames(INTEGRATION_PERMISSIONS),
    }


def roles_sync(**kwargs) -> None:
    """Create the role groups and set their permissions to the definition (idempotent)."""
    for name, query in role_permissions().items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(Permission.objects.filter(query))
