"""Browser tests of the integration pages: making an API token in the admin and using its key,
and reading a customer's audit trail after changing it."""

import json
import re
import urllib.request
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import Page, expect

from contracts.models import Customer

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def api_get(url: str, key: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Token {key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def test_a_token_made_in_the_admin_shows_its_key_once_and_opens_the_api(
    admin_page: Page, live_server, screenshots: Path, django_user_model, customer_factory
):
    bot = django_user_model.objects.create_user("psa-bot")
    bot.user_permissions.set(Permission.objects.filter(codename="view_customer"))
    customer_factory(legal_name="Fabrikam Industries Ltd.")
    page = admin_page

    page.goto(f"{live_server.url}/admin/integrations/apitoken/add/")
    page.get_by_label("Name").fill("PSA milestones")
    page.get_by_label("User").select_option(label="psa-bot")
    page.get_by_role("button", name="Save", exact=True).click()

    message = page.locator(".messagelist .warning")
    expect(message).to_contain_text("copy it now")
    key = re.search(r"rms_\S+", message.inner_text()).group(0)
    page.locator("#toggle-nav-sidebar").click()
    page.screenshot(path=screenshots / "api-token.png", full_page=True)
    status, body = api_get(f"{live_server.url}/api/v1/customers/", key)
    assert status == 200
    assert [row["legal_name"] for row in body["results"]] == ["Fabrikam Industries Ltd."]
    page.get_by_role("link", name="PSA milestones", exact=True).click()
    expect(page.locator("#content")).not_to_contain_text(key)


def test_a_change_in_the_admin_shows_in_the_objects_history(
    admin_page: Page, live_server, screenshots: Path, customer_factory, billing_contact_factory
):
    customer = customer_factory(legal_name="Fabrikam Ltd.")
    billing_contact_factory(customer=customer)
    page = admin_page

    page.goto(f"{live_server.url}/admin/contracts/customer/{customer.pk}/change/")
    page.get_by_label("Legal name").fill("Fabrikam Industries Ltd.")
    page.get_by_label("Billing hold").check()
    page.get_by_label("Hold reason").fill("Disputed invoice INV-2026-000114")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist .success")).to_be_visible()
    page.goto(f"{live_server.url}/admin/contracts/customer/{customer.pk}/history/")

    latest = page.locator("table.audit-history tbody tr").first
    expect(latest).to_contain_text("finance")
    expect(latest).to_contain_text("admin")
    expect(latest).to_contain_text("Fabrikam Ltd. → Fabrikam Industries Ltd.")
    expect(latest).to_contain_text("Disputed invoice INV-2026-000114")
    page.locator("#toggle-nav-sidebar").click()
    page.screenshot(path=screenshots / "audit-history.png", full_page=True)
    assert Customer.history.filter(id=customer.pk).count() == 2
