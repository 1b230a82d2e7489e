"""The customers API: reads with filters, creates and changes with contacts, holds, permissions."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from contracts.models import BillingContact, Contract, Customer
from contracts.signals import billing_hold_released

pytestmark = pytest.mark.django_db

CUSTOMERS = "/api/v1/customers/"
VIEW = "view_customer"


def url(customer: Customer, step: str = "") -> str:
    return f"{CUSTOMERS}{customer.pk}/{step + '/' if step else ''}"


@pytest.fixture
def clerk(token_client) -> APIClient:
    """A billing clerk: reads, creates and changes customers."""
    return token_client("clerk", VIEW, "add_customer", "change_customer")


@pytest.fixture
def new_customer(payment_terms) -> dict:
    return {
        "number": "C-100",
        "legal_name": "Globex Corporation",
        "currency": "EUR",
        "payment_terms": payment_terms.name,
        "country": "de",
        "tax_rate": "19",
        "contacts": [
            {"name": "Accounts Payable", "email": "ap@globex.example"},
            {"email": "cfo@globex.example"},
        ],
    }


def fields(response) -> dict:
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["type"] == "validation_error"
    return body["fields"]


class TestRead:
    def test_a_customer_with_its_contacts_and_holds(self, clerk, customer, billing_contact_factory):
        billing_contact_factory(customer=customer, name="AP", email="ap@example.com")

        response = clerk.get(url(customer))

        assert response.status_code == 200
        body = response.json()
        assert body["number"] == customer.number
        assert body["payment_terms"] == "Net 30"
        assert body["tax_rate"] == "0.0000"
        assert body["contacts"] == [
            {"id": customer.contacts.get().pk, "name": "AP", "email": "ap@example.com"}
        ]
        assert (body["billing_hold"], body["delivery_hold"], body["on_hold"]) == (
            False,
            False,
            False,
        )

    def test_filters(self, clerk, customer_factory, contract_factory):
        acme = customer_factory(legal_name="Acme Corp", number="A-1", tax_id="DE123")
        customer_factory(legal_name="Initech", number="I-1", currency="EUR", delivery_hold=True)
        contract_factory(customer=acme, status=Contract.Status.ACTIVE)

        def numbers(query: str) -> list[str]:
            response = clerk.get(f"{CUSTOMERS}?{query}")
            assert response.status_code == 200, response.json()
            return [row["number"] for row in response.json()["results"]]

        assert numbers("name=acme") == ["A-1"]
        assert numbers("search=de12") == ["A-1"]
        assert numbers("currency=EUR") == ["I-1"]
        assert numbers("on_hold=true") == ["I-1"]
        assert numbers("on_hold=false") == ["A-1"]
        assert numbers("has_active_contracts=true") == ["A-1"]
        assert numbers("number=I-1") == ["I-1"]
        assert numbers("ordering=-number") == ["I-1", "A-1"]

    def test_a_page_costs_the_same_queries_for_one_row_or_thirty(
        self, clerk, customer_factory, billing_contact_factory
    ):
        def queries() -> int:
            with CaptureQueriesContext(connection) as captured:
                assert clerk.get(CUSTOMERS).status_code == 200
            return len(captured)

        billing_contact_factory(customer=customer_factory())
        queries()  # The token's first use of the day records it: one write, once.
        one = queries()
        for customer in customer_factory.create_batch(29):
            billing_contact_factory.create_batch(2, customer=customer)

        assert queries() == one

    def test_unknown_customer_is_a_404_in_the_error_shape(self, clerk):
        response = clerk.get(f"{CUSTOMERS}999999/")

        assert response.status_code == 404
        assert response.json()["type"] == "not_found"


class TestCreate:
    def test_with_contacts(self, clerk, new_customer):
        response = clerk.post(CUSTOMERS, new_customer, format="json")

        assert response.status_code == 201, response.json()
        customer = Customer.objects.get(number="C-100")
        assert customer.country == "DE"  # the model's clean
        assert sorted(customer.contacts.values_list("email", flat=True)) == [
            "ap@globex.example",
            "cfo@globex.example",
        ]
        assert response.json()["id"] == customer.pk
        assert response.json()["currency"] == "EUR"
        assert len(response.json()["contacts"]) == 2

    def test_email_delivery_needs_a_contact(self, clerk, new_customer):
        response = clerk.post(CUSTOMERS, {**new_customer, "contacts": []}, format="json")

        assert "billing contact" in fields(response)["contacts"][0]
        assert not Customer.objects.exists()

    def test_without_email_delivery_no_contact_is_needed(self, clerk, new_customer):
        body = {**new_customer, "contacts": [], "delivery_method": "none"}

        assert clerk.post(CUSTOMERS, body, format="json").status_code == 201

    def test_contacts_are_checked_with_the_customer_and_nothing_is_saved(self, clerk, new_customer):
        body = {
            **new_customer,
            "contacts": [{"email": "ap@globex.example"}, {"email": "ap@globex.example"}],
        }

        found = fields(clerk.post(CUSTOMERS, body, format="json"))

        assert set(found) == {"contacts[1].email"}
        assert not Customer.objects.exists()
        assert not BillingContact.objects.exists()

    def test_type_errors_name_the_field(self, clerk, new_customer):
        body = {
            **new_customer,
            "currency": "EURO",
            "payment_terms": "Net 999",
            "country": "Germany",
            "locale": "xx_NOPE",
            "contacts": [{"email": "not an email"}],
        }

        found = fields(clerk.post(CUSTOMERS, body, format="json"))

        assert set(found) == {"currency", "payment_terms", "country", "locale", "contacts[0].email"}

    def test_a_retry_after_success_does_not_create_a_second_customer(self, clerk, new_customer):
        assert clerk.post(CUSTOMERS, new_customer, format="json").status_code == 201

        assert "number" in fields(clerk.post(CUSTOMERS, new_customer, format="json"))
        assert Customer.objects.count() == 1


class TestChange:
    def test_fields_sent_change_and_holds_stay(self, clerk, customer):
        response = clerk.patch(
            url(customer), {"legal_name": "Renamed Ltd", "billing_hold": True}, format="json"
        )

        assert response.status_code == 200, response.json()
        customer.refresh_from_db()
        assert customer.legal_name == "Renamed Ltd"
        assert not customer.billing_hold  # read-only: holds change through the hold action

    def test_contacts_sent_replace_the_contacts_matched_by_email(
        self, clerk, customer, billing_contact_factory
    ):
        kept = billing_contact_factory(customer=customer, email="kept@example.com")
        billing_contact_factory(customer=customer, email="gone@example.com")
        body = {
            "contacts": [
                {"name": "Kept, renamed", "email": "kept@example.com"},
                {"email": "new@example.com"},
            ]
        }

        response = clerk.patch(url(customer), body, format="json")

        assert response.status_code == 200, response.json()
        contacts = {c.email: c for c in customer.contacts.all()}
        assert set(contacts) == {"kept@example.com", "new@example.com"}
        assert contacts["kept@example.com"].pk == kept.pk
        assert contacts["kept@example.com"].name == "Kept, renamed"

    def test_switching_to_email_delivery_needs_a_contact(self, clerk, customer_factory):
        customer = customer_factory(delivery_method=Customer.DeliveryMethod.NONE)

        response = clerk.patch(url(customer), {"delivery_method": "email"}, format="json")

        assert "delivery_method" in fields(response)

    def test_put_and_delete_are_not_offered(self, token_client, customer):
        admin = token_client("admin", VIEW, "change_customer", "delete_customer")

        assert admin.put(url(customer), {}, format="json").status_code == 405
        assert admin.delete(url(customer)).status_code == 405


class TestHold:
    def test_place_and_release_through_the_hold_service(
        self, clerk, customer, django_capture_on_commit_callbacks
    ):
        released = []

        def receiver(sender, **kwargs):
            released.append(kwargs)

        billing_hold_released.connect(receiver)
        try:
            placed = clerk.post(
                url(customer, "hold"), {"billing": True, "reason": "Dispute"}, format="json"
            )
            with django_capture_on_commit_callbacks(execute=True):
                lifted = clerk.post(url(customer, "hold"), {"billing": False}, format="json")
        finally:
            billing_hold_released.disconnect(receiver)

        assert placed.status_code == 200, placed.json()
        assert (placed.json()["billing_hold"], placed.json()["hold_reason"]) == (True, "Dispute")
        assert (lifted.json()["billing_hold"], lifted.json()["hold_reason"]) == (False, "")
        assert released == [
            {"signal": billing_hold_released, "customer_id": customer.pk, "contract_id": None}
        ]

    def test_a_hold_must_be_named(self, clerk, customer):
        response = clerk.post(url(customer, "hold"), {"reason": "?"}, format="json")

        assert "non_field_errors" in fields(response)


class TestPermissions:
    @pytest.mark.parametrize(
        ("codenames", "method", "path", "allowed"),
        [
            ((), "get", "list", False),
            ((VIEW,), "get", "list", True),
            ((VIEW,), "get", "detail", True),
            ((VIEW,), "post", "list", False),
            ((VIEW, "add_customer"), "post", "list", True),
            ((VIEW, "add_customer"), "patch", "detail", False),
            ((VIEW, "change_customer"), "patch", "detail", True),
            ((VIEW, "add_customer"), "post", "hold", False),
            ((VIEW, "change_customer"), "post", "hold", True),
        ],
    )
    def test_each_operation_needs_its_permission(
        self, token_client, customer, new_customer, codenames, method, path, allowed
    ):
        client = token_client("caller", *codenames)
        target = {"list": CUSTOMERS, "detail": url(customer), "hold": url(customer, "hold")}[path]
        body = {"list": new_customer, "detail": {"title": "x"}, "hold": {"delivery": True}}[path]

        response = getattr(client, method)(target, body, format="json")

        if allowed:
            assert response.status_code in (200, 201), response.json()
        else:
            assert response.status_code == 403
            assert response.json()["type"] == "permission_denied"

    def test_anonymous_callers_are_refused(self, customer):
        response = APIClient().get(CUSTOMERS)

        assert response.status_code == 401
