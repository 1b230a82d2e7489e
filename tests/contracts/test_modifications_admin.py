"""The modification screens: entered on their own page, previewed, applied by finance roles."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from djmoney.money import Money

from contracts.models import Contract, Modification, ModificationChange
from contracts.modifications import modification_apply
from integrations.roles import AUDITOR, BILLING_CLERK, FINANCE_ADMIN
from tests.admin_urls import admin_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def seats(contract_factory, contract_line_factory):
    """10 seats x 100.00 USD a month, in advance, April 2026 to March 2027, active."""
    contract = contract_factory(
        start_date=date(2026, 4, 1), end_date=date(2027, 3, 31), status=Contract.Status.ACTIVE
    )
    return contract_line_factory(
        contract=contract, sequence=1, quantity=Decimal(10), unit_price=Money("100", "USD")
    )


def form_data(contract, **change) -> dict:
    data = {
        "contract": contract.pk,
        "reference": "A-1",
        "effective_date": "2026-04-16",
        "description": "Five more seats",
        "treatment": "",
        "treatment_reason": "",
        "changes-TOTAL_FORMS": "1",
        "changes-INITIAL_FORMS": "0",
        "changes-MIN_NUM_FORMS": "0",
        "changes-MAX_NUM_FORMS": "1000",
    }
    data.update({f"changes-0-{key}": value for key, value in change.items()})
    return data


@pytest.mark.parametrize("role", [FINANCE_ADMIN, BILLING_CLERK])
def test_finance_roles_enter_preview_and_apply_a_modification(seats, role_client, role):
    client = role_client(role)
    contract_page = client.get(admin_url(Contract, "change", seats.contract_id))
    assert "Modify…" in contract_page.text and "As of date…" in contract_page.text

    response = client.post(
        admin_url(Modification, "add") + f"?contract={seats.contract_id}",
        form_data(seats.contract, kind="change_quantity", line=seats.pk, quantity="15"),
    )
    modification = Modification.objects.get()
    preview_url = reverse("admin:contracts_modification_preview", args=[modification.pk])
    assert response.status_code == 302 and response.url == preview_url

    preview = client.get(preview_url)
    assert preview.status_code == 200
    assert "now ends 2026-04-15" in preview.text
    assert "Charges from the effective date" in preview.text and "Apply from" in preview.text
    assert seats.contract.lines.count() == 1  # the preview changed nothing

    applied = client.post(preview_url)
    assert applied.status_code == 302
    modification.refresh_from_db()
    assert modification.status == "applied" and modification.created_by
    assert seats.contract.lines.count() == 2
    # An applied modification is history: its page is read-only.
    page = client.get(admin_url(Modification, "change", modification.pk))
    assert page.status_code == 200 and 'name="_save"' not in page.text
    # Its History page shows who entered and applied it, and its changes' history beside it.
    history = client.get(admin_url(Modification, "history", modification.pk))
    assert history.status_code == 200 and "Change quantity" in history.text


def test_an_auditor_sees_the_preview_but_cannot_apply(seats, role_client):
    modification = Modification.objects.create(
        contract=seats.contract, reference="A-1", effective_date=date(2026, 5, 1), description="x"
    )
    ModificationChange.objects.create(
        modification=modification, kind="change_quantity", line=seats, quantity=Decimal(12)
    )
    client = role_client(AUDITOR)
    url = reverse("admin:contracts_modification_preview", args=[modification.pk])
    assert client.get(url).status_code == 200
    assert client.post(url).status_code == 403
    modification.refresh_from_db()
    assert modification.status == "draft"


def test_a_change_in_error_is_shown_on_its_field_and_nothing_is_saved(seats, staff_client):
    response = staff_client.post(
        admin_url(Modification, "add"),
        form_data(seats.contract, kind="change_price", line=seats.pk),
    )
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert formset.errors[0]["unit_price"] == ["Give the new unit price."]
    assert not Modification.objects.exists()


def test_preview_lists_why_a_modification_cannot_apply(seats, staff_client):
    modification = Modification.objects.create(
        contract=seats.contract, reference="A-1", effective_date=date(2027, 5, 1), description="x"
    )
    ModificationChange.objects.create(
        modification=modification, kind="change_quantity", line=seats, quantity=Decimal(12)
    )
    page = staff_client.get(reverse("admin:contracts_modification_preview", args=[modification.pk]))
    assert "effective_date: The effective date must fall within the contract" in page.text
    assert "Apply from" not in page.text


def test_as_of_view_shows_the_lines_in_effect_on_the_date(seats, staff_client):
    modification = Modification.objects.create(
        contract=seats.contract, reference="A-1", effective_date=date(2026, 4, 16), description="x"
    )
    ModificationChange.objects.create(
        modification=modification, kind="change_quantity", line=seats, quantity=Decimal(15)
    )
    modification_apply(modification=modification)
    url = reverse("admin:contracts_contract_as_of", args=[seats.contract_id])

    before = staff_client.get(url, {"on": "2026-04-15"})
    after = staff_client.get(url, {"on": "2026-04-16"})

    assert [line.quantity for line in before.context["as_of"].lines] == [Decimal(10)]
    assert [line.quantity for line in after.context["as_of"].lines] == [Decimal(15)]
    assert "A-1" in after.text and "line 1" in after.text  # line 2 continues line 1
    assert staff_client.get(url, {"on": "16/04/2026"}).context["error"]


def test_changelist_and_as_of_cost_the_same_queries_for_many_rows(
    staff_client, contract_factory, contract_line_factory
):
    def book(rows: int) -> tuple[int, int]:
        contract = contract_factory(
            start_date=date(2026, 1, 1), end_date=date(2026, 12, 31), status="active"
        )
        lines = [
            contract_line_factory(contract=contract, service_start=date(2026, 1, 1), sequence=n)
            for n in range(1, rows + 1)
        ]
        for day, line in enumerate(lines, start=1):
            modification = Modification.objects.create(
                contract=contract,
                reference=f"A-{day}",
                effective_date=date(2026, 2, day),
                description="x",
            )
            ModificationChange.objects.create(
                modification=modification, kind="change_quantity", line=line, quantity=Decimal(2)
            )
            modification_apply(modification=modification)
        with CaptureQueriesContext(connection) as listing:
            assert staff_client.get(admin_url(Modification, "changelist")).status_code == 200
        as_of = reverse("admin:contracts_contract_as_of", args=[contract.pk])
        with CaptureQueriesContext(connection) as as_of_page:
            assert staff_client.get(as_of, {"on": "2026-03-01"}).status_code == 200
        return len(listing), len(as_of_page)

    assert book(2) == book(8)
