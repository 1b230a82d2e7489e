"""The audit trail: who changed what, when and how, in the admin and the API; never editable."""

# The billing fixtures (activate, bill, issued_invoice, milestone_project) are imported below,
# which pyflakes reads as redefinitions where tests take them as arguments.
# ruff: noqa: F811

from datetime import date
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from djmoney.money import Money
from simple_history.utils import get_history_model_for_model

from billing.credit_notes import credit_note_create
from billing.models import CreditNote, Invoice, Payment, PaymentApplication
from billing.payments import payment_record
from contracts.models import ChangeOrder, Contract, ContractLine, Customer, Milestone
from revenue.models import RevenuePeriod
from rms import audit
from rms.audit import history_record_bulk
from tests.admin_urls import admin_url
from tests.billing.conftest import activate, bill, issued_invoice, milestone_project  # noqa: F401

pytestmark = pytest.mark.django_db

AUDITED = [
    Customer,
    Contract,
    ContractLine,
    Milestone,
    ChangeOrder,
    Invoice,
    Payment,
    PaymentApplication,
    CreditNote,
    RevenuePeriod,
]


def trail(obj) -> list:
    """The object's records, newest first."""
    return list(type(obj).history.filter(id=obj.pk).order_by("-history_date", "-history_id"))


def changed(record) -> dict[str, tuple]:
    """What ``record`` changed since the record before it: {field: (old, new)}."""
    before = audit.previous_records([record])[record.history_id]
    return {c.field: (c.old, c.new) for c in audit.record_changes(record, before)}


# --- Who, how and what -----------------------------------------------------------------------


def test_an_admin_change_records_the_user_the_admin_and_the_fields(staff_client, customer_factory):
    customer = customer_factory()

    response = staff_client.post(
        admin_url(Customer, "changelist"),
        {"action": "place_billing_hold", "_selected_action": [customer.pk]},
    )

    assert response.status_code == 302
    latest, created = trail(customer)
    assert (created.history_type, created.history_via) == ("+", "system")
    assert (latest.history_type, latest.history_user.username) == ("~", "finance")
    assert (latest.history_username, latest.history_via) == ("finance", "admin")
    assert changed(latest) == {
        "billing_hold": (False, True),
        "hold_reason": ("", "Placed by finance from the admin"),
    }


def test_an_api_change_records_the_token_and_the_bulk_moves_after_it(
    token_client, milestone_project, django_capture_on_commit_callbacks
):
    design = milestone_project(number="K-PSA")[0]
    psa = token_client("psa", "view_milestone", "achieve_milestone", "view_contract")

    with django_capture_on_commit_callbacks(execute=True):
        response = psa.post(
            f"/api/v1/milestones/{design.pk}/achieve/",
            {"achieved_on": "2026-03-10", "reference": "PSA-1"},
            format="json",
        )

    assert response.status_code == 200, response.json()
    invoiced, achieved, _created = trail(design)
    via = "api token psa's test token ("
    # Achieved by save(), then invoiced by the bill run's bulk update: both by the token's user.
    assert [(r.history_username, r.history_via.startswith(via)) for r in (invoiced, achieved)] == [
        ("psa", True),
        ("psa", True),
    ]
    assert achieved.history_via.endswith("…)")  # the key's prefix, never the key
    assert changed(achieved)["status"] == ("planned", "achieved")
    assert changed(achieved)["achieved_on"] == (None, date(2026, 3, 10))
    assert changed(invoiced) == {"status": ("achieved", "invoiced")}
    [invoice] = Invoice.objects.all()
    assert [(r.history_type, r.history_username) for r in trail(invoice)] == [
        ("~", "psa"),  # issued
        ("+", "psa"),  # created
    ]


def test_a_bill_run_records_each_invoice_created_and_issued_in_two_statements(
    contract_line_factory, activate, bill
):
    lines = [contract_line_factory() for _ in range(12)]
    activate(*(line.contract for line in lines))

    with CaptureQueriesContext(connection) as queries:
        run = bill(date(2026, 1, 1))

    assert run.invoices_created == run.invoices_issued == 12
    history_table = Invoice.history.model._meta.db_table
    writes = [q["sql"] for q in queries if history_table in q["sql"]]
    # One INSERT ... SELECT for the 12 creations, one for the 12 issues: not one per invoice.
    assert len(writes) == 2
    for invoice in Invoice.objects.all():
        issued, created = trail(invoice)
        assert (created.history_type, issued.history_type) == ("+", "~")
        assert created.status == "draft"
        assert created.history_user is None
        assert created.history_via.startswith("task ") or created.history_via == "system"
        assert changed(issued)["status"] == ("draft", "issued")
        assert changed(issued)["number"] == ("", invoice.number)
        assert changed(created)["total"] == (None, invoice.total)


def test_a_payment_records_its_applications_and_what_it_settled(issued_invoice):
    invoice = issued_invoice("100.00")
    before = len(trail(invoice))

    payment = payment_record(
        customer=invoice.customer,
        amount=Money("100.00", "USD"),
        received_on=date(2026, 2, 1),
        method=Payment.Method.BANK_TRANSFER,
        reference="BANK-1",
        recorded_by="clerk",
    )

    [application] = payment.applications.all()
    [created] = trail(application)
    assert created.history_type == "+"
    assert changed(created)["amount"] == (None, Money("100.00", "USD"))
    paid = trail(invoice)[0]
    assert len(trail(invoice)) == before + 1
    assert changed(paid) == {
        "amount_paid": (Decimal("0"), Decimal("100")),
        "payment_status": ("unpaid", "paid"),
    }
    assert [r.history_type for r in trail(payment)] == ["~", "+"]  # recorded, then applied


def test_a_management_command_is_named_as_the_door(customer_factory, monkeypatch):
    monkeypatch.setattr("sys.argv", ["manage.py", "seed_demo", "--flush"])

    customer = customer_factory()

    [created] = trail(customer)
    assert (created.history_user, created.history_via) == (None, "command seed_demo")


def test_bulk_records_are_written_in_batches(customer_factory, monkeypatch):
    customers = [customer_factory() for _ in range(5)]
    monkeypatch.setattr(audit, "BULK_BATCH_SIZE", 2)

    with CaptureQueriesContext(connection) as queries:
        written = history_record_bulk(Customer, [c.pk for c in customers])

    assert (written, len(queries)) == (5, 3)
    assert all(trail(c)[0].history_type == "~" for c in customers)


# --- The API -------------------------------------------------------------------------------


def test_the_api_lists_the_trail_newest_first_with_changes_as_text(token_client, issued_invoice):
    invoice = issued_invoice("100.00")
    auditor = token_client("auditor", "view_invoice")

    response = auditor.get(f"/api/v1/audit/invoice/{invoice.pk}/")

    assert response.status_code == 200, response.json()
    issued, created = response.json()["results"]
    assert (issued["type"], created["type"]) == ("changed", "created")
    assert issued["user"] is None
    assert {"field": "status", "old": "draft", "new": "issued", "currency": None} in issued[
        "changes"
    ]
    assert {"field": "total", "old": None, "new": "100.00", "currency": "USD"} in created["changes"]
    assert {"field": "delivery_held", "old": None, "new": "false", "currency": None} in created[
        "changes"
    ]


def test_the_api_needs_the_models_view_permission_and_hides_what_it_may_not_see(
    token_client, customer_factory, milestone_project, django_user_model
):
    customer = customer_factory()
    design = milestone_project()[0]
    clerk = token_client("clerk", "view_invoice")
    sales = token_client("sales", "view_customer")
    # A project manager may view milestones, but only those of contracts naming them.
    pm = token_client("pm", "view_milestone")

    assert clerk.get(f"/api/v1/audit/customer/{customer.pk}/").status_code == 403
    assert sales.get(f"/api/v1/audit/customer/{customer.pk}/").status_code == 200
    assert sales.get(f"/api/v1/audit/customer/{customer.pk + 999}/").json()["type"] == "not_found"
    assert sales.get(f"/api/v1/audit/widget/{customer.pk}/").status_code == 404
    assert pm.get(f"/api/v1/audit/milestone/{design.pk}/").status_code == 404
    Contract.objects.filter(pk=design.line.contract_id).update(
        project_manager=django_user_model.objects.get(username="pm")
    )
    assert pm.get(f"/api/v1/audit/milestone/{design.pk}/").status_code == 200


def test_a_deleted_objects_trail_ends_with_its_deletion(token_client, contract_factory):
    contract = contract_factory()
    order = ChangeOrder.objects.create(
        contract=contract,
        reference="CO-1",
        reason="More scope",
        not_to_exceed_increase=Money("10.00", contract.currency),
        requested_by="alice",
    )
    pk = order.pk
    order.delete()
    finance = token_client("finance-reader", "view_changeorder", "view_contract")

    response = finance.get(f"/api/v1/audit/change-order/{pk}/")

    assert response.status_code == 200
    assert [r["type"] for r in response.json()["results"]] == ["deleted", "created"]


def test_a_page_of_the_trail_costs_the_same_queries_whatever_its_length(
    token_client, customer_factory
):
    short, long = customer_factory(), customer_factory()
    for n in range(30):
        long.legal_name = f"Renamed {n}"
        long.save()
    reader = token_client("reader", "view_customer")

    def queries_for(customer) -> int:
        with CaptureQueriesContext(connection) as queries:
            response = reader.get(f"/api/v1/audit/customer/{customer.pk}/")
        assert response.status_code == 200
        return len(queries)

    queries_for(short)  # the first request of a test also loads what later ones have cached
    assert queries_for(long) == queries_for(short)
    results = reader.get(f"/api/v1/audit/customer/{long.pk}/").json()["results"]
    assert len(results) == 31
    assert results[0]["changes"] == [
        {"field": "legal_name", "old": "Renamed 28", "new": "Renamed 29", "currency": None}
    ]


# --- The admin -----------------------------------------------------------------------------


def test_the_history_page_shows_who_how_and_what_changed(staff_client, customer_factory):
    customer = customer_factory()
    staff_client.post(
        admin_url(Customer, "changelist"),
        {"action": "place_billing_hold", "_selected_action": [customer.pk]},
    )

    page = staff_client.get(admin_url(Customer, "history", customer.pk))

    assert page.status_code == 200
    text = page.content.decode()
    assert "finance" in text and "admin" in text
    assert "Billing hold:</strong> no &rarr; yes" in text
    assert "Revert" not in text


def test_a_contracts_history_page_shows_its_lines(staff_client, contract_line_factory):
    line = contract_line_factory(description="Support")
    line.description = "Premium support"
    line.save()

    page = staff_client.get(admin_url(Contract, "history", line.contract_id))

    assert page.status_code == 200
    text = page.content.decode()
    assert f"Line {line.sequence}" in text
    assert "Support &rarr; Premium support" in text


def test_history_can_be_read_but_never_changed_through_the_admin(staff_client, customer_factory):
    customer = customer_factory(legal_name="Before Ltd")
    customer.legal_name = "After Ltd"
    customer.save()
    first = trail(customer)[-1]
    version = admin_url(Customer, "simple_history", customer.pk, first.pk)

    assert staff_client.get(version).status_code == 200
    refused = staff_client.post(version, {"legal_name": "Before Ltd", "_save": "Revert"})

    assert refused.status_code == 403
    customer.refresh_from_db()
    assert customer.legal_name == "After Ltd"
    assert len(trail(customer)) == 2
    # No admin screen lists, edits or deletes historical records.
    for model in AUDITED:
        assert not admin.site.is_registered(get_history_model_for_model(model))


def test_a_scoped_admin_hides_the_history_of_what_it_hides(
    client, django_user_model, milestone_project
):
    design = milestone_project()[0]
    pm = django_user_model.objects.create_user("pm", is_staff=True)
    pm.user_permissions.set(Permission.objects.filter(codename="view_milestone"))
    client.force_login(pm)
    record = trail(design)[0]
    history = admin_url(Milestone, "history", design.pk)
    version = admin_url(Milestone, "simple_history", design.pk, record.pk)

    assert (client.get(history).status_code, client.get(version).status_code) == (404, 404)
    Contract.objects.filter(pk=design.line.contract_id).update(project_manager=pm)
    assert (client.get(history).status_code, client.get(version).status_code) == (200, 200)


@pytest.fixture
def audited_objects(issued_invoice, milestone_project, django_capture_on_commit_callbacks):
    design = milestone_project()[0]
    invoice = issued_invoice("100.00")
    payment = payment_record(
        customer=invoice.customer,
        amount=Money("150.00", "USD"),
        received_on=date(2026, 2, 1),
        method=Payment.Method.BANK_TRANSFER,
    )
    return {
        "customer": invoice.customer,
        "contract": design.line.contract,
        "milestone": design,
        "invoice": invoice,
        "payment": payment,
        "period": RevenuePeriod.objects.create(start=date(2026, 1, 1)),
        "credit note": credit_note_create(invoice=invoice, reason="Goodwill"),
        "change order": ChangeOrder.objects.create(
            contract=design.line.contract,
            reference="CO-1",
            reason="More scope",
            not_to_exceed_increase=Money("10.00", "USD"),
            requested_by="alice",
        ),
    }


@pytest.mark.parametrize(
    "name",
    [
        "customer",
        "contract",
        "milestone",
        "invoice",
        "payment",
        "period",
        "credit note",
        "change order",
    ],
)
def test_every_history_page_and_version_renders(staff_client, audited_objects, name):
    obj = audited_objects[name]
    record = trail(obj)[0]

    history = staff_client.get(admin_url(type(obj), "history", obj.pk))
    version = staff_client.get(admin_url(type(obj), "simple_history", obj.pk, record.pk))

    assert (history.status_code, version.status_code) == (200, 200)
    assert "Revert" not in version.content.decode()
